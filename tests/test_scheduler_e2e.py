"""Scheduling behaviour end to end: limits, queue order, on_busy, freeze, backoff, timeout,
cancel and restart recovery — with real processes, real git and the fake forge."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from bot.store.runs import Run, RunState
from tests.engine_world import REPO, EngineWorld, make_world, send_comment
from tests.fake_forge import FakeForge
from tests.harness import Bot, make_settings, running_bot


@pytest.fixture
def world(tmp_path: Path, fake_forge: FakeForge, monkeypatch: pytest.MonkeyPatch) -> EngineWorld:
    created = make_world(tmp_path, fake_forge, monkeypatch)
    for number in (4, 5, 6):
        fake_forge.add_issue(REPO, number, f"Issue {number}", "body", author="alice")
    return created


async def comment(bot: Bot, world: EngineWorld, body: str, number: int = 3) -> None:
    await send_comment(bot, world, body, number=number, settle=False)


async def until(condition, timeout: float = 15.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def runs_by_id(bot: Bot) -> list[Run]:
    return sorted(await bot.services.runs.list(), key=lambda run: run.id)


def settings(world: EngineWorld, **sections):
    return make_settings(world.root, world.forge.url, **sections)


async def test_global_limit_runs_fifo_one_at_a_time(world: EngineWorld) -> None:
    world.act("sleep:0.4")
    async with running_bot(settings(world, concurrency={"total": 1}), world.forge) as bot:
        for number in (3, 4, 5):
            await comment(bot, world, "/dispatch claude go", number)
        await bot.services.scheduler.idle()
        runs = await runs_by_id(bot)
    assert [run.state for run in runs] == [RunState.COMPLETED] * 3
    starts = [run.started_at for run in runs]
    finishes = [run.finished_at for run in runs]
    assert starts == sorted(starts)  # FIFO
    assert starts[1] >= finishes[0] and starts[2] >= finishes[1]  # never two at once


async def test_pool_limit_does_not_hold_up_another_pool(world: EngineWorld) -> None:
    world.act("sleep:0.6")
    async with running_bot(
        settings(world, concurrency={"total": 4, "claude": 1}), world.forge
    ) as bot:
        await comment(bot, world, "/dispatch claude one", 3)
        await comment(bot, world, "/dispatch claude two", 4)
        await comment(bot, world, "/dispatch gemini three", 5)
        await bot.services.scheduler.idle()
        first, second, third = await runs_by_id(bot)
    assert second.started_at >= first.finished_at  # claude: one at a time
    assert third.started_at < first.finished_at  # gemini went ahead meanwhile


async def test_on_busy_queue_runs_the_second_after_the_first(world: EngineWorld) -> None:
    world.act("sleep:0.3")
    async with running_bot(settings(world, dispatch={"on_busy": "queue"}), world.forge) as bot:
        await comment(bot, world, "/dispatch claude one")
        await comment(bot, world, "/dispatch claude two")
        await bot.services.scheduler.idle()
        first, second = await runs_by_id(bot)
    assert (first.state, second.state) == (RunState.COMPLETED, RunState.COMPLETED)
    assert second.started_at >= first.finished_at


async def test_on_busy_supersede_cancels_the_running_one(world: EngineWorld) -> None:
    world.act("sleep:30")
    async with running_bot(settings(world, dispatch={"on_busy": "supersede"}), world.forge) as bot:
        await comment(bot, world, "/dispatch claude one")
        await until(lambda: _has_agent_runs(world, 1))
        world.act("")
        await comment(bot, world, "/dispatch claude two")
        await bot.services.scheduler.idle()
        first, second = await runs_by_id(bot)
    assert first.state is RunState.CANCELLED and first.reason == "superseded by @alice"
    assert second.state is RunState.COMPLETED
    assert _gone(world.agent_runs()[0]["pid"])


async def test_freeze_keeps_runs_queued_until_unfrozen(world: EngineWorld) -> None:
    async with running_bot(settings(world), world.forge, frozen=True) as bot:
        await comment(bot, world, "/dispatch claude go")
        await bot.services.scheduler.schedule_pass()
        [run] = await runs_by_id(bot)
        assert run.state is RunState.QUEUED and world.agent_runs() == []
        assert bot.services.scheduler.last_selection.waiting[0].reason == "dispatch is frozen"
        await bot.services.flags.set_frozen(False)
        await bot.services.scheduler.idle()
        [run] = await runs_by_id(bot)
    assert run.state is RunState.COMPLETED


async def test_three_quick_failures_pause_the_pool_and_survive_a_restart(
    world: EngineWorld,
) -> None:
    world.act("exit:1")
    config = settings(world, backoff={"failures": 3, "window_seconds": 60, "pause_minutes": 30})
    async with running_bot(config, world.forge) as bot:
        for number in (3, 4, 5):
            await comment(bot, world, "/dispatch claude go", number)
            await bot.services.scheduler.idle()
        backoff = await bot.services.flags.backoff("claude")
        assert backoff.paused_until and backoff.paused_until > time.time() + 29 * 60
        await comment(bot, world, "/dispatch claude again", 6)
        await bot.services.scheduler.schedule_pass()
        assert [run.state for run in await runs_by_id(bot)][-1] is RunState.QUEUED
    async with running_bot(config, world.forge) as bot:  # the pause is persisted
        await bot.services.scheduler.schedule_pass()
        waiting = bot.services.scheduler.last_selection.waiting
        assert [w.reason for w in waiting] == [
            "pool claude is paused after repeated quick failures"
        ]
    assert len(world.agent_runs()) == 3


async def test_a_success_resets_the_failure_count(world: EngineWorld) -> None:
    async with running_bot(settings(world), world.forge) as bot:
        world.act("exit:1")
        await comment(bot, world, "/dispatch claude go", 3)
        await bot.services.scheduler.idle()
        assert (await bot.services.flags.backoff("claude")).failure_count == 1
        world.act("")
        await comment(bot, world, "/dispatch claude go", 4)
        await bot.services.scheduler.idle()
        assert (await bot.services.flags.backoff("claude")).failure_count == 0


async def test_timeout_kills_the_agent_and_fails_the_run(world: EngineWorld) -> None:
    world.act("sleep:60")
    config = settings(world, dispatch={"timeout_minutes": 0.02, "cancel_grace_seconds": 0.5})
    async with running_bot(config, world.forge) as bot:
        await comment(bot, world, "/dispatch claude go")
        await bot.services.scheduler.idle()
        [run] = await runs_by_id(bot)
    assert (run.state, run.reason) == (RunState.FAILED, "timed out after 0.02 min")
    assert _gone(world.agent_runs()[0]["pid"])


async def test_cancel_command_kills_a_running_agent(world: EngineWorld) -> None:
    world.act("sleep:60")
    async with running_bot(
        settings(world, dispatch={"cancel_grace_seconds": 0.5}), world.forge
    ) as bot:
        await comment(bot, world, "/dispatch claude go")
        await until(lambda: _has_agent_runs(world, 1))
        await comment(bot, world, "/cancel")
        await bot.services.scheduler.idle()
        [run] = await runs_by_id(bot)
    assert (run.state, run.reason) == (RunState.CANCELLED, "cancelled by @alice")
    assert _gone(world.agent_runs()[0]["pid"])


async def test_restart_reattaches_a_running_agent_and_runs_nothing_twice(
    world: EngineWorld,
) -> None:
    world.act("sleep:2,commit")
    config = settings(world)
    async with running_bot(config, world.forge) as bot:
        await comment(bot, world, "/dispatch claude go", 3)
        await until(lambda: _has_agent_runs(world, 1))
        [run] = await runs_by_id(bot)
        assert run.state is RunState.RUNNING
    # The bot stopped; the agent goes on. A new process on the same database takes over.
    assert not _gone(world.agent_runs()[0]["pid"])
    async with running_bot(config, world.forge) as bot:
        await bot.services.scheduler.idle()
        [run] = await runs_by_id(bot)
    assert run.state is RunState.COMPLETED  # its exit code was lost, but it committed
    assert len(world.agent_runs()) == 1


async def test_restart_finalises_a_run_whose_agent_ended_while_down(world: EngineWorld) -> None:
    world.act("sleep:1,blocked:Which file?")
    config = settings(world)
    async with running_bot(config, world.forge) as bot:
        await comment(bot, world, "/dispatch claude go", 3)
        await until(lambda: _has_agent_runs(world, 1))
    await until(lambda: _async(_gone(world.agent_runs()[0]["pid"])))
    async with running_bot(config, world.forge) as bot:
        await bot.services.scheduler.idle()
        [run] = await runs_by_id(bot)
    assert (run.state, run.question) == (RunState.BLOCKED, "Which file?")
    assert len(world.agent_runs()) == 1


async def test_queued_runs_resume_after_a_restart(world: EngineWorld) -> None:
    config = settings(world)
    async with running_bot(config, world.forge, frozen=True) as bot:
        await comment(bot, world, "/dispatch claude go", 3)
    async with running_bot(config, world.forge) as bot:
        await bot.services.flags.set_frozen(False)
        await bot.services.scheduler.idle()
        [run] = await runs_by_id(bot)
    assert run.state is RunState.COMPLETED and len(world.agent_runs()) == 1


async def _async(value: bool) -> bool:
    return value


def _has_agent_runs(world: EngineWorld, count: int):  # noqa: ANN202
    return _async(len(world.agent_runs()) >= count)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except OSError:
        return True
