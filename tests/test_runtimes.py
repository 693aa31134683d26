"""Tests for the native and container runtimes with real processes and a fake `docker` CLI."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from bot.engine.agents import agent_command
from bot.engine.container import container_command
from bot.engine.outcome import detect_final_status, set_aside_blocked_file
from bot.engine.runtime_container import ContainerRuntime
from bot.engine.runtime_native import NativeRuntime
from bot.engine.runtimes import LaunchSpec, RunHandle, RunResult, Runtime, read_output_tail
from tests.fakes.world import HAVE_PROC, World, eventually, gone, log_has, world_fixture

world = pytest.fixture(name="world")(world_fixture)


def native_spec(world: World, run_id: int = 1, **environment: str) -> LaunchSpec:
    return LaunchSpec(
        run_id=run_id,
        argv=agent_command("claude:opus", "Fix it").argv,
        cwd=world.repo,
        log_path=world.meta / "agent-claude.log",
        env={**world.env, **environment},
    )


async def start(runtime: Runtime, world: World, spec: LaunchSpec) -> RunHandle:
    handle = await runtime.start(spec)
    world.handles.append(handle)
    return handle


async def test_native_run_records_argv_cwd_env_log_and_exit_code(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOT_SECRET_TOKEN", "must-not-leak")
    (world.meta / "agent-claude.log").write_text("earlier run\n")
    runtime = NativeRuntime()
    handle = await start(runtime, world, native_spec(world, FAKE_AGENT_EXIT="3"))
    assert handle.kind == "native" and handle.pid and handle.container_name is None
    result = await runtime.wait(handle, 10)
    assert (result.exit_code, result.killed, result.timed_out) == (3, False, False)
    log = (world.meta / "agent-claude.log").read_text()
    assert log.startswith("earlier run\n")
    assert "claude started" in log and "hello on stderr" in log and "claude done" in log
    assert result.output_tail == log
    record = world.record()
    assert record["argv"] == agent_command("claude:opus", "Fix it").argv[1:]
    assert record["cwd"] == str(world.repo)
    assert "BOT_SECRET_TOKEN" not in record["env"]


async def test_the_log_is_never_opened_through_a_planted_link(world: World) -> None:
    secret = world.root / "host-file"
    secret.write_text("host data\n")
    (world.meta / "agent-claude.log").symlink_to(secret)
    with pytest.raises(OSError):
        await NativeRuntime().start(native_spec(world))
    assert secret.read_text() == "host data\n"
    assert not (world.root / "record.json").exists()  # the agent never started


async def test_native_timeout_kills_the_whole_process_group(world: World) -> None:
    child_file = world.root / "agent.child"
    runtime = NativeRuntime(timeout_grace_seconds=0.3, poll_interval_seconds=0.02)
    spec = native_spec(
        world,
        FAKE_AGENT_SLEEP="30",
        FAKE_AGENT_IGNORE_TERM="1",
        FAKE_AGENT_CHILD_PIDFILE=str(child_file),
    )
    handle = await start(runtime, world, spec)
    begun = time.monotonic()
    result = await runtime.wait(handle, 1.0)
    assert 1.0 <= time.monotonic() - begun < 4
    assert result == RunResult(-signal.SIGKILL, True, True, result.output_tail)
    assert "claude started" in result.output_tail
    child = int(child_file.read_text())
    await eventually(lambda: gone(child) and gone(handle.pid), 2)


@pytest.mark.parametrize(
    ("ignore_term", "exit_code"), [("", -signal.SIGTERM), ("1", -signal.SIGKILL)]
)
async def test_native_cancel_uses_the_grace(world: World, ignore_term: str, exit_code: int) -> None:
    runtime = NativeRuntime(poll_interval_seconds=0.02)
    spec = native_spec(world, FAKE_AGENT_SLEEP="30", FAKE_AGENT_IGNORE_TERM=ignore_term)
    handle = await start(runtime, world, spec)
    await eventually(log_has(spec.log_path, "claude started"))
    begun = time.monotonic()
    await runtime.cancel(handle, grace_seconds=0.4 if ignore_term else 5)
    took = time.monotonic() - begun
    assert took >= 0.4 if ignore_term else took < 2
    result = await runtime.wait(handle, 5)
    assert (result.exit_code, result.killed, result.timed_out) == (exit_code, True, False)
    assert not await runtime.is_alive(handle)


async def test_native_handle_is_found_again_after_a_restart(world: World) -> None:
    first = NativeRuntime(poll_interval_seconds=0.02)
    handle = await start(first, world, native_spec(world, FAKE_AGENT_SLEEP="30"))
    await eventually(log_has(world.meta / "agent-claude.log", "claude started"))
    again = RunHandle.from_json(json.dumps(json.loads(handle.to_json())))
    assert again == handle
    later = NativeRuntime(poll_interval_seconds=0.02)
    assert await later.is_alive(again)
    await later.cancel(again, grace_seconds=5)
    assert not await later.is_alive(again)
    result = await later.wait(again, 5)
    assert (result.exit_code, result.killed) == (None, True)
    assert "claude started" in result.output_tail
    assert (await first.wait(handle, 5)).exit_code == -signal.SIGTERM


async def test_native_adopted_run_that_ends_by_itself(world: World) -> None:
    handle = await start(NativeRuntime(), world, native_spec(world, FAKE_AGENT_SLEEP="0.3"))
    later = NativeRuntime(poll_interval_seconds=0.02)
    result = await later.wait(RunHandle.from_dict(handle.to_dict()), 5)
    assert (result.exit_code, result.killed, result.timed_out) == (None, False, False)
    assert "claude done" in result.output_tail


@pytest.mark.skipif(not HAVE_PROC, reason="process identity needs /proc")
async def test_a_reused_pid_is_not_ours(world: World) -> None:
    runtime = NativeRuntime(poll_interval_seconds=0.02)
    handle = await start(runtime, world, native_spec(world, FAKE_AGENT_SLEEP="30"))
    assert handle.process_identity
    stranger = RunHandle(run_id=99, kind="native", pid=handle.pid, process_identity="1")
    other = NativeRuntime()
    assert not await other.is_alive(stranger)
    await other.cancel(stranger, grace_seconds=0)
    assert await runtime.is_alive(handle)
    await runtime.cancel(handle, grace_seconds=5)


def test_run_handle_round_trip_and_validation() -> None:
    handle = RunHandle(7, "container", 123, "agent-run-7", "docker", "/l.log", "55", {"ns": "a"})
    assert RunHandle.from_dict(json.loads(handle.to_json())) == handle
    assert RunHandle.from_dict({"run_id": 1, "kind": "kubernetes"}).pid is None
    for bad in (
        {"kind": "native"},
        {"run_id": True, "kind": "native"},
        {"run_id": 1},
        {"run_id": 1, "kind": "native", "pid": "12"},
        {"run_id": 1, "kind": "native", "details": {"a": 1}},
    ):
        with pytest.raises(ValueError):
            RunHandle.from_dict(bad)


def test_output_tail(tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    log.write_text("x" * 10_000 + "é" * 10 + "the end")
    tail = read_output_tail(log)
    assert len(tail) == 4000 and tail.endswith("é" * 10 + "the end")
    assert read_output_tail(tmp_path / "missing.log") == "" and read_output_tail(None) == ""


def container_spec(
    world: World,
    run_id: int,
    runtime: str = "docker",
    spec: str = "codex:gpt-5.4-mini",
    **environment: str,
) -> LaunchSpec:
    name = f"agent-run-{run_id}"
    argv = container_command(
        runtime,
        image="core-dev",
        gpu=False,
        agent_argv=agent_command(spec, "Fix it").argv,
        workspace_dir=world.workspace,
        meta_dir=world.meta,
        container_name=name,
        home_dir=world.env["HOME"],
        git_identity=("Agent Bot", "bot@example.org"),
        pass_env=["OPENAI_API_KEY", "FAKE_AGENT_RECORD", *environment],
        credential_dirs=(".codex",),
    )
    return LaunchSpec(
        run_id,
        argv,
        world.workspace,
        world.meta / "agent-codex.run.log",
        {**world.env, "OPENAI_API_KEY": "sk-test", **environment},
        name,
        argv[0],
    )


@pytest.mark.parametrize("exit_code", [0, 5])
async def test_container_runs_end_to_end_and_keeps_the_agent_status(
    world: World, exit_code: int
) -> None:
    runtime = ContainerRuntime(environ=world.env, poll_interval_seconds=0.02)
    spec = container_spec(world, 1, FAKE_AGENT_EXIT=str(exit_code))
    handle = await start(runtime, world, spec)
    assert (handle.kind, handle.container_name, handle.runtime_binary) == (
        "container",
        "agent-run-1",
        "docker",
    )
    result = await runtime.wait(handle, 10)
    assert (result.exit_code, result.killed, result.timed_out) == (exit_code, False, False)
    assert "codex started" in result.output_tail and "codex done" in result.output_tail
    assert world.calls() == [list(spec.argv[1:])]
    record = world.record()
    assert record["argv"] == agent_command("codex:gpt-5.4-mini", "Fix it").argv[1:]
    assert record["cwd"] == str(world.repo)
    inside = record["env"]
    assert inside["OPENAI_API_KEY"] == "sk-test" and inside["TERM"] == "dumb"
    assert inside["GIT_AUTHOR_NAME"] == "Agent Bot"
    assert inside["GIT_COMMITTER_EMAIL"] == "bot@example.org"
    assert "FAKE_DOCKER_STATE" not in inside


async def test_container_timeout_stops_then_kills_it(world: World) -> None:
    child_file = world.root / "container.child"
    runtime = ContainerRuntime(
        environ=world.env, timeout_grace_seconds=0.3, poll_interval_seconds=0.02
    )
    spec = container_spec(world, 3, FAKE_AGENT_SLEEP="30", FAKE_AGENT_CHILD_PIDFILE=str(child_file))
    handle = await start(runtime, world, spec)
    result = await runtime.wait(handle, 1.5)
    assert (result.killed, result.timed_out) == (True, True)
    assert result.exit_code == 128 + signal.SIGKILL
    calls = world.calls()
    assert ["kill", "--signal", "TERM", "agent-run-3"] in calls
    assert ["kill", "agent-run-3"] in calls
    await eventually(lambda: gone(int(child_file.read_text())), 2)
    assert not await runtime.is_alive(handle)


async def test_container_is_found_again_and_cancelled_after_a_restart(world: World) -> None:
    first = ContainerRuntime(environ=world.env, poll_interval_seconds=0.02)
    handle = await start(first, world, container_spec(world, 4, FAKE_AGENT_SLEEP="30"))
    await eventually(log_has(world.meta / "agent-codex.run.log", "codex started"))
    later = ContainerRuntime(environ=world.env, poll_interval_seconds=0.02)
    again = RunHandle.from_json(handle.to_json())
    assert await later.is_alive(again) and await later.container_running(again)
    await later.cancel(again, grace_seconds=0.3)
    assert not await later.is_alive(again)
    result = await later.wait(again, 5)
    assert (result.exit_code, result.killed) == (None, True)
    assert (await first.wait(handle, 5)).exit_code == 128 + signal.SIGKILL


async def test_adopted_container_exit_code_comes_from_docker_wait(world: World) -> None:
    first = ContainerRuntime(environ=world.env)
    spec = container_spec(world, 5, FAKE_AGENT_SLEEP="0.5", FAKE_AGENT_EXIT="7")
    handle = await start(first, world, spec)
    later = ContainerRuntime(environ=world.env, poll_interval_seconds=0.02)
    result = await later.wait(RunHandle.from_dict(handle.to_dict()), 10)
    assert (result.exit_code, result.killed, result.timed_out) == (7, False, False)
    assert ["wait", "agent-run-5"] in world.calls()


@pytest.mark.parametrize(
    ("runtime_name", "polite"),
    [
        ("docker", ["kill", "--signal", "TERM", "agent-run-6"]),
        ("apple", ["stop", "agent-run-6"]),
    ],
)
async def test_container_outlives_its_cli_and_is_found_by_inspect(
    world: World, runtime_name: str, polite: list[str]
) -> None:
    first = ContainerRuntime(environ=world.env, poll_interval_seconds=0.02)
    spec = container_spec(world, 6, runtime_name, FAKE_AGENT_SLEEP="30")
    handle = await start(first, world, spec)
    await eventually(lambda: (world.state / "agent-run-6.pid").exists())
    await eventually(log_has(spec.log_path, "codex started"))
    os.killpg(handle.pid, signal.SIGKILL)
    await first.wait(handle, 5)
    later = ContainerRuntime(environ=world.env, poll_interval_seconds=0.02)
    assert await later.is_alive(handle)
    assert any(call[0] == "inspect" for call in world.calls())
    await later.cancel(handle, grace_seconds=0.3)
    assert polite in world.calls()
    assert not await later.is_alive(handle)
    assert (await later.wait(handle, 5)).exit_code is None


@pytest.mark.parametrize(
    ("result", "options", "expected"),
    [
        (RunResult(0), {}, ("completed", "")),
        (RunResult(2), {}, ("failed", "agent exited with code 2")),
        (RunResult(-9, killed=True, timed_out=True), {}, ("failed", "timed out after 60 min")),
        (
            RunResult(None, True, True),
            {"timeout_minutes": 7.5},
            ("failed", "timed out after 7.5 min"),
        ),
        (RunResult(-15, killed=True), {}, ("failed", "killed")),
        (RunResult(-15, killed=True), {"cancelled": True}, ("cancelled", "cancelled")),
        (RunResult(None), {"has_new_commits": True}, ("completed", "")),
        (
            RunResult(None),
            {"has_new_commits": False},
            ("failed", "the agent's exit status is unknown (bot restarted) and it made no commits"),
        ),
        (RunResult(None), {}, ("failed", "the agent's exit status is unknown (bot restarted)")),
    ],
)
def test_final_status(tmp_path: Path, result: RunResult, options: dict, expected: tuple) -> None:
    options = {"timeout_minutes": 60, **options}
    assert detect_final_status(tmp_path, result, **options) == expected


@pytest.mark.parametrize("result", [RunResult(0), RunResult(1), RunResult(None, True, True)])
def test_blocked_wins_and_is_read_safely(tmp_path: Path, result: RunResult) -> None:
    (tmp_path / "secret").write_text("host secret")
    (tmp_path / "BLOCKED.md").symlink_to(tmp_path / "secret")
    assert detect_final_status(tmp_path, result, timeout_minutes=1).state != "blocked"
    (tmp_path / "BLOCKED.md").unlink()
    (tmp_path / "BLOCKED.md").write_text("  \n")
    assert detect_final_status(tmp_path, result, timeout_minutes=1).state != "blocked"
    (tmp_path / "BLOCKED.md").write_text("\n Which database should I use?\n\n")
    final = detect_final_status(tmp_path, result, timeout_minutes=1, cancelled=True)
    assert final == ("blocked", "Which database should I use?")
    (tmp_path / "set-aside").mkdir()
    assert set_aside_blocked_file(tmp_path, tmp_path / "set-aside") is not None
    assert set_aside_blocked_file(tmp_path, tmp_path / "set-aside") is None  # nothing left
    assert not (tmp_path / "BLOCKED.md").exists()
