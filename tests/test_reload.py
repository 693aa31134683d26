"""Config reload: in process (`apply_reload`, `reload_from_file`) and end to end (SIGHUP and
`python -m bot reload` against a real `python -m bot serve`)."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from bot.config import ForgeConfig
from bot.reload import PID_FILE_NAME, apply_reload, reload_from_file
from bot.store.runs import RunState
from tests.deliveries import load_fixture
from tests.engine_world import REPO, EngineWorld, make_world
from tests.fake_forge import FakeForge
from tests.harness import SECRETS, TOKEN, Bot, make_settings, running_bot
from tests.test_cli import bot_command, free_port
from tests.test_metrics import scrape, value

REPO_ROOT = Path(__file__).resolve().parents[1]


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


# -- in process --------------------------------------------------------------------------------
@pytest.fixture
def world(tmp_path: Path, fake_forge: FakeForge, monkeypatch: pytest.MonkeyPatch) -> EngineWorld:
    created = make_world(tmp_path, fake_forge, monkeypatch)
    fake_forge.add_issue(REPO, 4, "Issue 4", "body", author="alice")
    return created


async def dispatch(bot: Bot, world: EngineWorld, number: int) -> None:
    payload = copy.deepcopy(load_fixture("gitea/issue_comment.created.modern.json"))
    comment_id = world.forge.add_comment(REPO, number, "/dispatch claude go", "alice")
    payload["comment"].update({"id": comment_id, "body": "/dispatch claude go"})
    payload["comment"]["user"]["login"] = payload["sender"]["login"] = "alice"
    payload["issue"]["number"] = number
    assert (await bot.deliver("forgejo", payload, "issue_comment", "issue_comment")).status == 202


async def test_a_raised_limit_starts_the_waiting_run_at_once(world: EngineWorld) -> None:
    world.act("sleep:2")
    config = make_settings(world.root, world.forge.url, concurrency={"total": 1})
    async with running_bot(config, world.forge) as bot:
        runs = bot.services.runs
        await dispatch(bot, world, 3)
        await dispatch(bot, world, 4)
        await until(lambda: _states(bot, RunState.RUNNING, RunState.QUEUED))
        await bot.services.scheduler.schedule_pass()
        [waiting] = bot.services.scheduler.last_selection.waiting
        assert waiting.run_id == 2 and "limit" in waiting.reason

        raised = make_settings(world.root, world.forge.url, concurrency={"total": 2})
        result = await apply_reload(bot.client.server.app, raised)

        assert result.applied and result.changed == ("concurrency",)
        assert result.restart_needed == ()
        await until(lambda: _states(bot, RunState.RUNNING, RunState.RUNNING))
        assert value(await scrape(bot), "bot_concurrency_limit", pool="total") == 2
        await bot.services.scheduler.idle()
        first, second = await runs.get(1), await runs.get(2)
    assert first.state is second.state is RunState.COMPLETED
    assert second.started_at < first.finished_at  # the two ran side by side


async def _states(bot: Bot, *states: RunState) -> bool:
    found = [run.state for run in sorted(await bot.services.runs.list(), key=lambda r: r.id)]
    return found == list(states)


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(data))


def config_data(tmp_path: Path, forge_url: str, **sections: Any) -> dict[str, Any]:
    """The content of a config file equal to the test settings (secrets by env name)."""
    return json.loads(make_settings(tmp_path, forge_url, **sections).model_dump_json())


NO_SECRET = {"name": "x", "kind": "gitea", "url": "http://x", "webhook_secret_env": "NOPE_UNSET"}


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        ({"concurrency": {"total": -1}}, "concurrency.total"),
        ({"dispatch": {"on_busy": "sometimes"}}, "dispatch.on_busy"),
        ({"forges": [NO_SECRET]}, "NOPE_UNSET"),
        ("concurrency: [unclosed", "line 1"),
    ],
)
async def test_a_broken_config_is_refused_and_the_old_one_stays(
    bot: Bot,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    breakage: dict[str, Any] | str,
    reason: str,
) -> None:
    before = bot.services.settings
    path = tmp_path / "config.yaml"
    if isinstance(breakage, str):
        path.write_text(breakage)
    else:
        write_yaml(path, {**config_data(tmp_path, bot.forge.url), **breakage})
    with caplog.at_level(logging.INFO, logger="bot"):
        result = await reload_from_file(bot.client.server.app, path)
    assert not result.applied and reason in (result.error or "")
    assert bot.services.settings is before
    [record] = [r for r in caplog.records if r.getMessage().startswith("config reload rejected")]
    assert record.levelno == logging.ERROR and reason in record.fields["reason"]
    samples = await scrape(bot)
    assert value(samples, "bot_config_reloads_total", outcome="rejected") == 1
    assert value(samples, "bot_config_reloads_total", outcome="applied") is None


async def test_forge_and_server_changes_wait_for_a_restart(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    old = bot.services.settings
    forgejo, gitea, github = old.forges
    new = old.model_copy(
        update={
            "forges": [
                forgejo.model_copy(update={"api_url": "http://elsewhere/api/v1"}),
                gitea.model_copy(update={"allow_users": ["carol"], "deny_users": ["mallory"]}),
                ForgeConfig(
                    name="extra", kind="gitea", url="http://x", webhook_secret_env="EXTRA_SECRET"
                ),
            ],
            "server": old.server.model_copy(update={"port": 9999}),
            "permissions": old.permissions.model_copy(update={"min_permission": "admin"}),
            "dispatch": old.dispatch.model_copy(update={"on_busy": "queue"}),
        }
    )
    with caplog.at_level(logging.INFO, logger="bot"):
        result = await apply_reload(bot.services, new)
    assert result.applied
    assert set(result.changed) == {"forges", "permissions", "dispatch"}
    assert result.restart_needed == (
        "server: changed; restart to apply",
        "forges.forgejo: api_url changed; restart to apply",
        "forges.github: removed; it stays until a restart",
        "forges.extra: added; restart to use it",
    )
    current = bot.services.settings
    assert current.server == old.server and current.database == old.database
    assert [forge.name for forge in current.forges] == ["forgejo", "gitea", "github"]
    assert current.forges[0] is forgejo and current.forges[2] is github
    assert current.forge("gitea").allow_users == ["carol"]  # user lists apply live
    checker = bot.services.permission_checkers["gitea"]
    assert checker.forge_config.deny_users == ["mallory"]
    assert checker.config.min_permission == "admin"
    assert bot.services.dispatcher.on_busy == "queue"
    warnings = [r.fields["change"] for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == list(result.restart_needed)


# -- end to end --------------------------------------------------------------------------------
SECRET_ENV = {f"{kind.upper()}_SECRET": secret for kind, secret in SECRETS.items()}
SECRET_ENV["FORGE_TOKEN"] = TOKEN


async def reload_command(config: Path) -> tuple[int, str, str]:
    return await bot_command("reload", "--config", str(config), cwd=config.parent, env=SECRET_ENV)


@asynccontextmanager
async def serving(config: Path, port: int) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m bot serve` in a subprocess, once it answers /healthz; stopped on exit."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "bot", "serve", "--config", str(config), "--host", "127.0.0.1"),
        *("--port", str(port)),
        cwd=config.parent,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **SECRET_ENV},
        stderr=asyncio.subprocess.PIPE,
    )

    async def healthy() -> bool:
        assert process.returncode is None, "the server exited"
        try:
            async with aiohttp.ClientSession() as session:
                response = await session.get(f"http://127.0.0.1:{port}/healthz")
                return response.status == 200
        except aiohttp.ClientConnectionError:
            return False

    try:
        await until(healthy, timeout=30)
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), 30)


async def test_reload_command_and_sighup_against_a_running_server(
    tmp_path: Path, fake_forge: FakeForge
) -> None:
    config = tmp_path / "config.yaml"
    data = config_data(tmp_path, fake_forge.url, logging={"format": "json"})
    write_yaml(config, data)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    pid_file = tmp_path / PID_FILE_NAME

    async def reloads(outcome: str) -> float | None:
        return value(await scrape(url), "bot_config_reloads_total", outcome=outcome)

    async def limit() -> float | None:
        return value(await scrape(url), "bot_concurrency_limit", pool="total")

    async with serving(config, port) as server:
        assert pid_file.read_text().strip() == str(server.pid)
        assert await limit() == 4

        write_yaml(config, {**data, "concurrency": {"total": 7}})
        code, stdout, stderr = await reload_command(config)
        assert code == 0, stderr
        assert f"pid {server.pid}" in stdout
        await until(lambda: _equals(limit, 7))

        # A broken file: the command refuses before signalling; a SIGHUP is refused by the server.
        write_yaml(config, {**data, "concurrency": {"total": -3}})
        code, _, stderr = await reload_command(config)
        assert code == 2 and "concurrency.total" in stderr and "not reloaded" in stderr
        os.kill(server.pid, signal.SIGHUP)
        await until(lambda: _equals(lambda: reloads("rejected"), 1))
        assert await limit() == 7 and await reloads("applied") == 1
        assert server.returncode is None
        server.terminate()
        stderr_bytes = await asyncio.wait_for(server.stderr.read(), 30)

    assert not pid_file.exists()  # removed at stop
    lines = [json.loads(line) for line in stderr_bytes.decode().splitlines()]
    [applied] = [line for line in lines if line["event"] == "config reloaded"]
    assert applied["changed"] == "concurrency"
    [rejected] = [line for line in lines if line["event"].startswith("config reload rejected")]
    assert rejected["level"] == "error" and "concurrency.total" in rejected["reason"]
    assert any(line["event"] == "stopped" for line in lines)

    write_yaml(config, data)
    code, _, stderr = await reload_command(config)
    assert code == 1 and "no running server" in stderr and str(pid_file) in stderr


async def _equals(read: Callable[[], Awaitable[float | None]], expected: float) -> bool:
    return await read() == expected


async def test_reload_refuses_a_stale_pid_file(tmp_path: Path, fake_forge: FakeForge) -> None:
    config = tmp_path / "config.yaml"
    write_yaml(config, config_data(tmp_path, fake_forge.url))
    pid_file = tmp_path / PID_FILE_NAME
    bystander = await asyncio.create_subprocess_exec("sleep", "30")
    try:
        # The pid of a live process that is not the bot: it must not get the SIGHUP.
        pid_file.write_text(f"{bystander.pid}\n")
        code, _, stderr = await reload_command(config)
        assert code == 1 and "stale pid file" in stderr
        assert bystander.returncode is None
        await asyncio.sleep(0.2)
        assert bystander.returncode is None
    finally:
        bystander.kill()
        await bystander.wait()
    # The pid of a process that has exited.
    code, _, stderr = await reload_command(config)
    assert code == 1 and "not a running bot server" in stderr
