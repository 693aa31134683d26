"""Queued runs say why they wait: a frozen bot, or a paused pool with when it expects to start."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.engine_world import REPO, EngineWorld, make_world, send_comment
from tests.fake_forge import FakeForge
from tests.harness import Bot, make_settings, running_bot


@pytest.fixture
def world(tmp_path: Path, fake_forge: FakeForge, monkeypatch: pytest.MonkeyPatch) -> EngineWorld:
    return make_world(tmp_path, fake_forge, monkeypatch)


async def dispatch(bot: Bot, world: EngineWorld, body: str = "/dispatch claude go") -> None:
    await send_comment(bot, world, body, settle=False)
    await bot.services.scheduler.schedule_pass()
    await bot.services.outbox.deliver_due()


def status_body(world: EngineWorld) -> str:
    [body] = [c.body for c in world.forge.comments_on(REPO, 3) if c.author == "agent-bot"]
    return body


async def test_a_frozen_bot_says_so_in_the_status_comment(world: EngineWorld) -> None:
    async with running_bot(
        make_settings(world.root, world.forge.url), world.forge, frozen=True
    ) as bot:
        await dispatch(bot, world)
        body = status_body(world)
        assert "**queued**" in body and "frozen" in body
        await bot.services.flags.set_frozen(False)
        await bot.services.scheduler.idle()
        await bot.services.outbox.deliver_due()
    assert "**completed**" in status_body(world)  # the same comment, edited in place


async def test_a_paused_pool_says_when_the_run_expects_to_start(world: EngineWorld) -> None:
    async with running_bot(make_settings(world.root, world.forge.url), world.forge) as bot:
        until = time.time() + 25 * 60
        await bot.services.flags.set_backoff("claude", 0, until)
        await dispatch(bot, world)
        body = status_body(world)
    assert "**queued**" in body
    assert "paused" in body and "claude" in body
    assert time.strftime("%H:%M", time.gmtime(until)) in body
    assert "in 25 min" in body or "in 24 min" in body
