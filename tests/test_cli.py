"""The command line, run as real subprocesses: serve, dispatch (dry run and real), runs,
cancel, freeze/unfreeze, replay."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sys
from pathlib import Path

import aiohttp
import pytest
import yaml

from bot.store.runs import RunState
from tests.deliveries import FIXTURES
from tests.engine_world import REPO, EngineWorld, make_world, send_comment
from tests.fake_forge import FakeForge
from tests.harness import SECRETS, TOKEN, make_settings, running_bot

REPO_ROOT = Path(__file__).resolve().parents[1]


async def bot_command(
    *arguments: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *arguments,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode or 0, stdout.decode(), stderr.decode()


def write_config(world: EngineWorld, **sections) -> tuple[Path, dict[str, str]]:
    """A config file for the CLI with the same content as the in-process test settings."""
    settings = make_settings(world.root, world.forge.url, **sections)
    data = json.loads(settings.model_dump_json())
    path = world.root / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    env = {f"{kind.upper()}_SECRET": secret for kind, secret in SECRETS.items()}
    env["FORGE_TOKEN"] = TOKEN
    return path, env


async def cli_dispatch(
    world: EngineWorld, config: Path, env: dict[str, str], *options: str, forge: str = "forgejo"
) -> tuple[int, str, str]:
    """`python -m bot dispatch` for issue 3 of the test repository, with more `options`."""
    return await bot_command(
        "dispatch", "--config", str(config), "--forge", forge, "--repo", REPO, "--issue", "3",
        *options, cwd=world.root, env=env,
    )  # fmt: skip


@pytest.fixture
def world(tmp_path: Path, fake_forge: FakeForge, monkeypatch: pytest.MonkeyPatch) -> EngineWorld:
    return make_world(tmp_path, fake_forge, monkeypatch)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_serve_starts_on_the_example_config_and_answers_healthz(tmp_path: Path) -> None:
    shutil.copy(REPO_ROOT / "config.example.yaml", tmp_path / "config.example.yaml")
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "FORGEJO_WEBHOOK_SECRET": "x",
        "GITHUB_WEBHOOK_SECRET": "y",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                        assert response.status == 200
                        assert await response.json() == {"status": "ok"}
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("the bot never answered /healthz")
    finally:
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert (tmp_path / "data" / "bot.sqlite3").exists()
    assert b"config.yaml not found; using config.example.yaml" in stderr
    assert b"Traceback" not in stderr


async def test_dispatch_dry_run_prints_the_prompt_and_command(world: EngineWorld) -> None:
    config, env = write_config(world)
    code, stdout, stderr = await cli_dispatch(world, config, env, "--agent", "claude", "--dry-run")
    assert code == 0, stderr
    assert "branch: agent/issue-3-fix-the-readme (from main)" in stdout
    assert "runtime: native" in stdout
    assert "command: claude -p" in stdout and "--dangerously-skip-permissions" in stdout
    assert "Fix the README" in stdout and "BLOCKED.md" in stdout
    assert world.agent_runs() == []  # nothing ran
    code, stdout, _ = await bot_command("runs", "--config", str(config), cwd=world.root, env=env)
    assert stdout == ""  # and no run row was made


async def test_dispatch_runs_an_agent_in_the_foreground_then_runs_lists_it(
    world: EngineWorld,
) -> None:
    config, env = write_config(world)
    code, stdout, stderr = await cli_dispatch(world, config, env, "--agent", "claude")
    assert code == 0, stderr
    assert "run 1 completed" in stdout
    assert len(world.agent_runs()) == 1
    # The same pipeline as the server: status comment, branch pushed, pull request opened.
    assert world.origin.git("log", "--format=%s", "-1", "agent/issue-3-fix-the-readme") == (
        "Fix the README"
    )
    assert [c for c in world.forge.calls if c.method == "POST" and c.path.endswith("/pulls")]
    [status] = [c.body for c in world.forge.comments_on(REPO, 3) if c.author == "agent-bot"]
    assert "**completed**" in status
    code, stdout, _ = await bot_command(
        "runs", "--config", str(config), "--state", "completed", cwd=world.root, env=env
    )
    assert stdout.startswith("1\tcompleted\tforgejo\tkostekIV/test#3\tclaude\tcli:agent-bot")


async def test_bad_agent_and_unknown_forge_are_clear_errors(world: EngineWorld) -> None:
    config, env = write_config(world)
    code, _, stderr = await cli_dispatch(world, config, env, "--agent", "hal")
    assert code == 2 and "bad --agent" in stderr and "Traceback" not in stderr
    code, _, stderr = await cli_dispatch(world, config, env, forge="nope")
    assert code == 2 and "unknown forge 'nope'" in stderr


async def test_cli_cancel_stops_an_agent_that_the_server_runs(world: EngineWorld) -> None:
    world.act("sleep:60")
    config, env = write_config(world, dispatch={"cancel_grace_seconds": 0.5})
    settings = make_settings(world.root, world.forge.url, dispatch={"cancel_grace_seconds": 0.5})
    async with running_bot(settings, world.forge) as bot:
        await bot.services.dispatcher.submit(
            __import__("bot.dispatcher", fromlist=["RunRequest"]).RunRequest(
                forge="forgejo", repo=REPO, number=3, agent="claude", trigger="cli", actor="x"
            )
        )
        for _ in range(200):
            if world.agent_runs():
                break
            await asyncio.sleep(0.05)
        code, stdout, stderr = await bot_command(
            "cancel", "--config", str(config), "1", cwd=world.root, env=env
        )
        assert code == 0, stderr
        assert "run 1 cancelled" in stdout
        await bot.services.scheduler.idle()
        [run] = await bot.services.runs.list()
    assert run.state is RunState.CANCELLED and run.reason == "cancelled from the CLI"


async def test_freeze_and_unfreeze(world: EngineWorld) -> None:
    config, env = write_config(world)
    code, stdout, _ = await bot_command("freeze", "--config", str(config), cwd=world.root, env=env)
    assert code == 0 and "frozen" in stdout
    settings = make_settings(world.root, world.forge.url)
    async with running_bot(settings, world.forge) as bot:
        assert await bot.services.flags.is_frozen()
    code, stdout, _ = await bot_command(
        "unfreeze", "--config", str(config), cwd=world.root, env=env
    )
    assert code == 0 and "unfrozen" in stdout
    async with running_bot(settings, world.forge) as bot:
        assert not await bot.services.flags.is_frozen()


async def test_replay_feeds_a_stored_payload_through_intake(world: EngineWorld) -> None:
    config, env = write_config(world)
    fixture = FIXTURES / "forgejo" / "pull_request.label_updated.json"
    code, stdout, stderr = await bot_command(
        "replay",
        str(fixture),
        "--config",
        str(config),
        "--forge",
        "forgejo",
        "--event",
        "pull_request",
        "--event-type",
        "pull_request_label",
        cwd=world.root,
        env=env,
    )
    assert code == 0, stderr
    assert stdout.strip().endswith("no-trigger")


async def test_cli_cancel_of_a_queued_run_updates_its_status_comment(world: EngineWorld) -> None:
    config, env = write_config(world)
    settings = make_settings(world.root, world.forge.url)
    async with running_bot(settings, world.forge) as bot:
        bot.services.scheduler.tick_seconds = 0.1
        await bot.services.flags.set_frozen(True)  # the run stays queued
        await send_comment(bot, world, "/dispatch claude fix it", settle=False)
        await bot.idle()
        await bot.services.scheduler.schedule_pass()
        await bot.services.outbox.deliver_due()
        [run] = await bot.services.runs.list()
        assert run.state is RunState.QUEUED
        [status] = [c for c in world.forge.comments_on(REPO, 3) if f"run={run.id} -->" in c.body]
        assert "queued" in status.body.lower()

        code, stdout, stderr = await bot_command(
            "cancel", "--config", str(config), str(run.id), cwd=world.root, env=env
        )
        assert code == 0, stderr
        for _ in range(100):
            await bot.services.outbox.deliver_due()
            [status] = [c for c in world.forge.comments_on(REPO, 3) if c.id == status.id]
            if "cancelled" in status.body.lower():
                break
            await asyncio.sleep(0.05)
        assert "cancelled from the CLI" in status.body
        assert not world.agent_runs()
