"""`python -m bot dispatch` under the scheduler's rules (DESIGN §6, §11), run as real
subprocesses on a real database: when dispatch is frozen, the run's pool is paused or a
concurrency limit is full, the run is left queued (exit 3) for the server, which starts it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.cli_dispatch import EXIT_QUEUED, after_refused_claim
from bot.dispatcher import RunRequest
from bot.engine.limits import claim_limits
from bot.feedback.lifecycle import RunFeedback
from bot.feedback.outbox import Outbox
from bot.services import Services
from bot.store import open_database
from bot.store.database import Database, now
from bot.store.flags import Flags
from bot.store.runs import Run, Runs, RunState
from tests.engine_world import REPO, EngineWorld, make_world
from tests.fake_forge import FakeForge
from tests.harness import make_settings, running_bot
from tests.test_cli import bot_command, cli_dispatch, write_config

LEAVE_QUEUED_HINT = "`python -m bot serve` starts it when it may"


@pytest.fixture
def world(tmp_path: Path, fake_forge: FakeForge, monkeypatch: pytest.MonkeyPatch) -> EngineWorld:
    return make_world(tmp_path, fake_forge, monkeypatch)


@asynccontextmanager
async def world_database(world: EngineWorld) -> AsyncIterator[Database]:
    """The database the CLI uses (the path `make_settings` gives it), opened in the test."""
    database = await open_database(make_settings(world.root, world.forge.url).database.path)
    try:
        yield database
    finally:
        await database.close()


async def stored_runs(world: EngineWorld) -> list[Run]:
    async with world_database(world) as database:
        return sorted(await Runs(database).list(), key=lambda run: run.id)


async def add_running_run(world: EngineWorld, agent: str, number: int = 4) -> Run:
    """A run that another process (a server) is running, as the database shows it."""
    async with world_database(world) as database:
        return await Runs(database).create(
            forge="forgejo",
            repo=REPO,
            number=number,
            agent=agent,
            trigger="label",
            actor="alice",
            state=RunState.RUNNING,
            started_at=now(),
        )


def assert_left_queued(code: int, stdout: str, stderr: str, run_id: int, reason: str) -> None:
    assert code == EXIT_QUEUED == 3, stderr
    [line] = stdout.strip().splitlines()
    assert line.startswith(f"run {run_id} queued, not started: {reason};"), line
    assert LEAVE_QUEUED_HINT in line
    assert "Traceback" not in stderr


async def wait_for_final_state(bot_runs: Runs, run_id: int, seconds: float = 60) -> Run:
    """Poll the row until the run has ended: nothing in the test starts it, the server must."""
    for _ in range(int(seconds / 0.1)):
        run = await bot_runs.get(run_id)
        if run is not None and not run.state.is_active:
            return run
        await asyncio.sleep(0.1)
    pytest.fail(f"run {run_id} never ended")


async def test_frozen_dispatch_leaves_the_run_queued_and_a_server_starts_it_later(
    world: EngineWorld,
) -> None:
    config, env = write_config(world)
    code, _, _ = await bot_command("freeze", "--config", str(config), cwd=world.root, env=env)
    assert code == 0

    code, stdout, stderr = await cli_dispatch(world, config, env, "--agent", "claude")

    assert_left_queued(code, stdout, stderr, 1, "dispatch is frozen")
    assert world.agent_runs() == []
    [run] = await stored_runs(world)
    assert run.state is RunState.QUEUED and run.started_at is None and run.trigger == "cli"
    body = world.status_comment(1, 3)
    assert "queued" in body.lower() and "frozen" in body
    # Unfrozen, a server on the same database starts the run the CLI queued, on its own.
    code, _, _ = await bot_command("unfreeze", "--config", str(config), cwd=world.root, env=env)
    assert code == 0
    async with running_bot(make_settings(world.root, world.forge.url), world.forge) as bot:
        finished = await wait_for_final_state(bot.services.runs, 1)
    assert finished.state is RunState.COMPLETED, finished.reason
    assert len(world.agent_runs()) == 1


async def test_dry_run_while_frozen_still_prints_the_prompt(world: EngineWorld) -> None:
    config, env = write_config(world)
    await bot_command("freeze", "--config", str(config), cwd=world.root, env=env)
    code, stdout, stderr = await cli_dispatch(world, config, env, "--agent", "claude", "--dry-run")
    assert code == 0, stderr
    assert "command: claude -p" in stdout and "Fix the README" in stdout
    assert await stored_runs(world) == [] and world.agent_runs() == []


async def test_a_paused_pool_leaves_the_run_queued(world: EngineWorld) -> None:
    config, env = write_config(world)
    async with world_database(world) as database:
        await Flags(database).set_backoff("claude", 0, now() + 600)

    code, stdout, stderr = await cli_dispatch(world, config, env, "--agent", "claude")

    reason = "pool claude is paused after repeated quick failures"
    assert_left_queued(code, stdout, stderr, 1, reason)
    assert world.agent_runs() == []
    [run] = await stored_runs(world)
    assert run.state is RunState.QUEUED and run.started_at is None
    assert "queued" in world.status_comment(1, 3).lower()


async def test_a_full_pool_limit_leaves_the_run_queued(world: EngineWorld) -> None:
    config, env = write_config(world, concurrency={"claude": 1})
    busy = await add_running_run(world, "claude")

    code, stdout, stderr = await cli_dispatch(world, config, env, "--agent", "claude")

    assert_left_queued(code, stdout, stderr, 2, "pool claude is at its limit of 1")
    assert world.agent_runs() == []
    running, queued = await stored_runs(world)
    assert running.id == busy.id and running.state is RunState.RUNNING
    assert queued.state is RunState.QUEUED and queued.started_at is None


async def test_a_free_pool_runs_as_before_whatever_other_pools_run(world: EngineWorld) -> None:
    config, env = write_config(world, concurrency={"claude": 1})
    await add_running_run(world, "codex")  # another pool's run does not count for claude

    code, stdout, stderr = await cli_dispatch(world, config, env, "--agent", "claude")

    assert code == 0, stderr
    assert "run 2 started" in stdout and "run 2 completed" in stdout
    assert len(world.agent_runs()) == 1
    _, finished = await stored_runs(world)
    assert finished.state is RunState.COMPLETED


async def test_a_run_the_server_runs_fills_the_limit_and_the_server_then_starts_ours(
    world: EngineWorld,
) -> None:
    world.forge.add_issue(REPO, 4, "Another issue", "Elsewhere.", author="alice")
    sections = {"concurrency": {"claude": 1}, "dispatch": {"cancel_grace_seconds": 0.5}}
    config, env = write_config(world, **sections)
    settings = make_settings(world.root, world.forge.url, **sections)
    world.act("sleep:60")
    async with running_bot(settings, world.forge) as bot:
        bot.services.scheduler.tick_seconds = 0.1
        submitted = await bot.services.dispatcher.submit(
            RunRequest(
                forge="forgejo", repo=REPO, number=4, agent="claude", trigger="cli", actor="x"
            )
        )
        assert submitted.run is not None
        for _ in range(200):
            if world.agent_runs():
                break
            await asyncio.sleep(0.05)
        assert world.agent_runs(), "the server never started its run"
        world.act("commit")  # what the next agent does

        code, stdout, stderr = await cli_dispatch(world, config, env, "--agent", "claude")

        assert_left_queued(code, stdout, stderr, 2, "pool claude is at its limit of 1")
        assert len(world.agent_runs()) == 1
        await bot.services.dispatcher.cancel(submitted.run, "make room")
        ours = await wait_for_final_state(bot.services.runs, 2)
    assert ours.state is RunState.COMPLETED, ours.reason
    assert [run["name"] for run in world.agent_runs()] == ["claude", "claude"]


async def test_dispatch_help_documents_the_exit_codes(world: EngineWorld) -> None:
    code, stdout, _ = await bot_command("dispatch", "--help", cwd=world.root)
    assert code == 0
    text = " ".join(stdout.split())
    assert f"{EXIT_QUEUED} queued, not started" in text
    assert "0 the run completed" in text and "2 bad arguments" in text


async def test_a_claim_refused_by_a_limit_filled_after_the_decision_leaves_the_run_queued(
    world: EngineWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    # The CLI decided to start its run; before its claim, a server started another run of the
    # pool. The claim is refused (it checks the limit again) and the run is left queued.
    settings = make_settings(world.root, world.forge.url, concurrency={"claude": 1})
    async with world_database(world) as database:
        services = Services.from_database(settings, database)
        services.outbox = Outbox(database, services.forges)
        feedback = RunFeedback(services)
        ours = await services.runs.create(
            forge="forgejo", repo=REPO, number=3, agent="claude", trigger="cli", actor="alice"
        )
        await add_running_run(world, "claude")
        limits = claim_limits(ours, settings.concurrency)
        assert await services.runs.claim_for_start(ours.id, **limits) is False

        code = await after_refused_claim(services, feedback, ours)

        assert (await services.runs.get(ours.id)).state is RunState.QUEUED
    assert_left_queued(
        code, capsys.readouterr().out, "", ours.id, "pool claude is at its limit of 1"
    )
