"""Tests for the native and container runtimes with real processes and a fake `docker` CLI."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.engine.agents import agent_command
from bot.engine.container import container_command
from bot.engine.runtime_container import ContainerRuntime
from bot.engine.runtime_native import NativeRuntime
from bot.engine.runtime_processes import leader_state
from bot.engine.runtimes import LaunchSpec, RunHandle, RunResult, Runtime, read_output_tail

FAKES = Path(__file__).parent / "fakes"
HAVE_PROC = Path("/proc/self/stat").exists()


@dataclass
class World:
    root: Path
    bin_dir: Path
    state: Path
    workspace: Path
    env: dict[str, str]
    handles: list[RunHandle] = field(default_factory=list)

    @property
    def repo(self) -> Path:
        return self.workspace / "repo"

    @property
    def meta(self) -> Path:
        return self.workspace / ".meta"

    def calls(self) -> list[list[str]]:
        path = self.state / "calls.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [json.loads(line)["argv"] for line in lines]

    def record(self) -> dict:
        return json.loads((self.root / "record.json").read_text())


def wrapper(path: Path, script: Path, name: str) -> None:
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" {name} "$@"\n')
    path.chmod(0o755)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    for folder in (bin_dir, state, tmp_path / "ws" / "repo", tmp_path / "ws" / ".meta",
                   tmp_path / "home" / ".codex"):
        folder.mkdir(parents=True)
    for program in ("docker", "podman", "container"):
        wrapper(bin_dir / program, FAKES / "fake_docker.py", program)
    for agent in ("codex", "claude", "gemini"):
        wrapper(bin_dir / agent, FAKES / "fake_agent.py", agent)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path / "home"),
        "FAKE_DOCKER_STATE": str(state),
        "FAKE_AGENT_RECORD": str(tmp_path / "record.json"),
    }
    created = World(tmp_path, bin_dir, state, tmp_path / "ws", env)
    yield created
    pids = [handle.pid for handle in created.handles if handle.pid]
    pids += [int(path.read_text()) for path in state.glob("*.pid")]
    pids += [int(path.read_text()) for path in tmp_path.glob("*.child")]
    for pid in pids:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def gone(pid: int) -> bool:
    return leader_state(pid, None) == "gone"


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def log_has(path: Path, text: str) -> Callable[[], bool]:
    return lambda: path.exists() and text in path.read_text(errors="replace")


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
    assert os.getpgid(handle.pid) if not gone(handle.pid) else True


async def test_native_timeout_kills_the_whole_process_group(world: World) -> None:
    child_file = world.root / "agent.child"
    runtime = NativeRuntime(timeout_grace_seconds=0.3, poll_interval_seconds=0.02)
    spec = native_spec(world, FAKE_AGENT_SLEEP="30", FAKE_AGENT_IGNORE_TERM="1",
                       FAKE_AGENT_CHILD_PIDFILE=str(child_file))
    handle = await start(runtime, world, spec)
    begun = time.monotonic()
    result = await runtime.wait(handle, 1.0)
    assert 1.0 <= time.monotonic() - begun < 4
    assert result == RunResult(-signal.SIGKILL, True, True, result.output_tail)
    assert "claude started" in result.output_tail
    child = int(child_file.read_text())
    await eventually(lambda: gone(child) and gone(handle.pid), 2)


@pytest.mark.parametrize(("ignore_term", "exit_code"), [("", -signal.SIGTERM),
                                                        ("1", -signal.SIGKILL)])
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
    for bad in ({"kind": "native"}, {"run_id": True, "kind": "native"}, {"run_id": 1},
                {"run_id": 1, "kind": "native", "pid": "12"},
                {"run_id": 1, "kind": "native", "details": {"a": 1}}):
        with pytest.raises(ValueError):
            RunHandle.from_dict(bad)


def test_output_tail(tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    log.write_text("x" * 10_000 + "é" * 10 + "the end")
    tail = read_output_tail(log)
    assert len(tail) == 4000 and tail.endswith("é" * 10 + "the end")
    assert read_output_tail(tmp_path / "missing.log") == "" and read_output_tail(None) == ""


def container_spec(world: World, run_id: int, runtime: str = "docker", spec: str = "codex:gpt-5.4-mini",
                   **environment: str) -> LaunchSpec:
    name = f"agent-run-{run_id}"
    argv = container_command(
        runtime, image="core-dev", gpu=False, agent_argv=agent_command(spec, "Fix it").argv,
        workspace_dir=world.workspace, meta_dir=world.meta, container_name=name,
        home_dir=world.env["HOME"], git_identity=("Agent Bot", "bot@example.org"),
        pass_env=["OPENAI_API_KEY", "FAKE_AGENT_RECORD", *environment],
        credential_dirs=(".codex",),
    )
    return LaunchSpec(run_id, argv, world.workspace, world.meta / "agent-codex.run.log",
                      {**world.env, "OPENAI_API_KEY": "sk-test", **environment}, name, argv[0])
