"""The outbox: forge writes survive outages and restarts, land once, in order, never duplicated."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.feedback.outbox import Outbox
from bot.feedback.status_comment import status_dedupe_key, update_status_comment
from bot.forge.gitea import GiteaForge
from bot.forge.http import RetryPolicy
from bot.replies import run_marker
from bot.services import Services
from bot.store import open_database
from bot.store.database import Database
from bot.store.runs import Run
from tests.fake_forge import FakeForge
from tests.harness import BOT_LOGIN, TOKEN, make_settings

# One HTTP request per forge call, so each injected failure costs exactly one attempt.
ONE_TRY = RetryPolicy(attempts=1, base_delay=0.0, max_delay=0.0, timeout=5.0)
COMMENTS = re.compile(r"/issues/\d+/comments$")
FORGE = "forgejo"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class World:
    fake: FakeForge
    services: Services
    clock: Clock
    path: Path

    @property
    def database(self) -> Database:
        return self.services.database

    def outbox(self, **options: Any) -> Outbox:
        options = {"clock": self.clock, "base_delay": 0.0, "max_delay": 0.0, **options}
        outbox = Outbox(self.database, self.services.forges, **options)
        self.services.outbox = outbox  # type: ignore[attr-defined]
        return outbox

    async def restart(self) -> None:
        """Close the database and open it again, as a new process would."""
        await self.database.close()
        forges = self.services.forges
        database = await open_database(self.path)
        self.services = Services.from_database(self.services.settings, database)
        self.services.forges.update(forges)

    async def run(self, number: int = 1, **fields: Any) -> Run:
        return await self.services.runs.create(
            forge=FORGE, repo="o/r", number=number, agent="codex", trigger="cli", actor="alice",
            **fields,
        )  # fmt: skip

    async def comment_id_of(self, run: Run) -> int | None:
        stored = await self.services.runs.get(run.id)
        assert stored is not None
        return stored.status_comment_id

    def posts(self, path: re.Pattern[str] = COMMENTS) -> list[int]:
        return [call.status for call in self.fake.calls_to("POST", path)]


@pytest.fixture
async def world(tmp_path: Path, fake_forge: FakeForge) -> AsyncIterator[World]:
    fake_forge.add_token(TOKEN, BOT_LOGIN)
    fake_forge.add_repo("o/r", family="gitea")
    fake_forge.add_issue("o/r", 1, "Fix it")
    fake_forge.add_issue("o/r", 2, "Time it")
    settings = make_settings(tmp_path, fake_forge.url)
    database = await open_database(tmp_path / "bot.sqlite3")
    async with aiohttp.ClientSession() as session:
        services = Services.from_database(settings, database)
        services.forges[FORGE] = GiteaForge(
            FORGE, "forgejo", session, fake_forge.gitea_api_url, TOKEN, BOT_LOGIN, policy=ONE_TRY
        )
        world = World(fake_forge, services, Clock(), tmp_path / "bot.sqlite3")
        yield world
        await world.database.close()


async def test_a_status_comment_posted_while_the_forge_is_down_appears_once(world: World) -> None:
    world.fake.fail("POST", COMMENTS.pattern, 503, times=2)
    outbox = world.outbox(base_delay=2.0, max_delay=60.0)
    run = await world.run()
    await update_status_comment(world.services, run, "queued")
    assert world.fake.comments_on("o/r", 1) == [] and len(await outbox.pending()) == 1
    assert await outbox.deliver_due() == 0 and world.posts() == [503]  # backing off: no call
    world.clock.advance(2.0)
    assert await outbox.deliver_due() == 0 and world.posts() == [503, 503]
    world.clock.advance(4.0)
    assert await outbox.deliver_due() == 1 and world.posts() == [503, 503, 201]
    [comment] = world.fake.comments_on("o/r", 1)
    assert comment.body == f"{run_marker(run.id)}\nqueued"
    assert await world.comment_id_of(run) == comment.id
    assert await outbox.pending() == [] and await outbox.deliver_due() == 0


async def test_an_edit_made_while_the_forge_is_down_lands_once_it_answers(world: World) -> None:
    comment_id = world.fake.add_comment("o/r", 1, "queued", BOT_LOGIN)
    run = await world.run(status_comment_id=comment_id)
    world.fake.fail("PATCH", r"/issues/comments/\d+$", 503, times=2)
    outbox = world.outbox()
    await update_status_comment(world.services, run, "completed")
    assert await outbox.deliver_due() == 0
    assert world.fake.comments[comment_id].body == "queued"
    assert await outbox.deliver_due() == 1
    assert world.fake.comments[comment_id].body == f"{run_marker(run.id)}\ncompleted"
    assert len(world.fake.comments_on("o/r", 1)) == 1 and world.posts() == []


async def test_a_pending_entry_survives_a_restart(world: World) -> None:
    world.fake.fail("POST", COMMENTS.pattern, 503, times=1)
    world.outbox()
    run = await world.run()
    await update_status_comment(world.services, run, "failed: the bot stopped")
    await world.restart()
    restarted = world.outbox(interval=0.01)
    assert [entry.operation for entry in await restarted.pending()] == ["comment.upsert"]
    await restarted.start()
    try:
        async with asyncio.timeout(5):
            while await restarted.pending():
                await asyncio.sleep(0.01)
    finally:
        await restarted.stop()
    [comment] = world.fake.comments_on("o/r", 1)
    assert comment.body.endswith("failed: the bot stopped")
    assert await world.comment_id_of(run) == comment.id


async def test_a_comment_whose_answer_was_lost_is_found_by_its_marker(world: World) -> None:
    run = await world.run()
    world.fake.add_comment("o/r", 1, f"quoting {run_marker(run.id)}", "mallory")
    posted = world.fake.add_comment("o/r", 1, f"{run_marker(run.id)}\nqueued", BOT_LOGIN)
    outbox = world.outbox()
    await update_status_comment(world.services, run, "running")
    assert world.posts() == [] and len(world.fake.comments_on("o/r", 1)) == 2
    assert world.fake.comments[posted].body == f"{run_marker(run.id)}\nrunning"
    assert await world.comment_id_of(run) == posted
    assert await outbox.pending() == []


async def test_a_status_comment_deleted_on_the_forge_is_posted_again(world: World) -> None:
    run = await world.run(status_comment_id=987654)
    world.outbox()
    await update_status_comment(world.services, run, "running")
    [comment] = world.fake.comments_on("o/r", 1)
    assert await world.comment_id_of(run) == comment.id


async def test_status_updates_while_down_collapse_into_the_last(world: World) -> None:
    world.fake.fail("POST", COMMENTS.pattern, 503, times=1)
    outbox = world.outbox(base_delay=2.0, max_delay=60.0)
    run = await world.run()
    for state in ("queued", "running", "failed"):
        await update_status_comment(world.services, run, state)
        [entry] = await outbox.pending()
        assert entry.dedupe_key == status_dedupe_key(run.id)
    assert world.posts() == [503]  # the forge is paused: the later updates did not call it
    world.clock.advance(60.0)
    assert await outbox.deliver_due() == 1 and world.posts() == [503, 201]
    [comment] = world.fake.comments_on("o/r", 1)
    assert comment.body == f"{run_marker(run.id)}\nfailed"


async def test_permanent_errors_are_dropped_and_the_pass_goes_on(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = world.outbox()
    world.fake.fail("POST", r"/issues/2/comments$", 422, times=1)
    for number, body in ((404, "no such issue"), (2, "refused")):
        await outbox.store.put(
            FORGE, "comment.create", {"repo": "o/r", "number": number, "body": body},
            run_id=None, dedupe_key=None, now=0.0,
        )  # fmt: skip
    broken = {"repo": "o/r", "comment_id": 1, "comment_kind": "bogus", "reaction": "eyes"}
    await outbox.store.put(FORGE, "reaction.add", broken, run_id=None, dedupe_key=None, now=0.0)
    good = {"repo": "o/r", "number": 1, "body": "hello"}
    await outbox.store.put(FORGE, "comment.create", good, run_id=None, dedupe_key=None, now=0.0)
    with caplog.at_level(logging.WARNING, logger="bot"):
        assert await outbox.deliver_due() == 1
    assert [comment.body for comment in world.fake.comments_on("o/r", 1)] == ["hello"]
    assert world.fake.comments_on("o/r", 2) == []
    dropped = [record for record in caplog.records if "dropped" in record.getMessage()]
    assert [record.fields["issue"] for record in dropped] == [404, 2]  # type: ignore[attr-defined]
    [kept] = await outbox.pending()  # a bug in one entry: kept for a retry, not lost
    assert kept.operation == "reaction.add" and kept.attempts == 1
    assert kept.last_error is not None and "bogus" in kept.last_error


async def test_stopwatch_and_times_are_recorded_after_an_outage(world: World) -> None:
    forge = world.services.forges[FORGE]
    await forge.start_stopwatch("o/r", 1)
    world.fake.fail("POST", r"/stopwatch/stop$", 503, times=1)
    world.fake.fail("POST", r"/issues/2/times$", 503, times=1)
    outbox = world.outbox()
    run = await world.run()
    stop = {"repo": "o/r", "number": 1}
    assert not await outbox.submit(FORGE, "stopwatch.stop", stop, run_id=run.id)
    times = {"repo": "o/r", "number": 2, "seconds": 90}
    assert not await outbox.submit(FORGE, "times.add", times)
    assert world.fake.stopwatches and world.fake.times_on("o/r", 2) == []
    assert await outbox.deliver_due() == 2
    assert world.fake.stopwatches == {} and world.fake.times_on("o/r", 2) == [90]
    assert await outbox.submit(FORGE, "stopwatch.stop", stop, run_id=run.id)  # 409: nothing runs


async def test_entries_of_a_run_are_applied_in_order(world: World) -> None:
    world.fake.add_label("o/r", "agent/running")
    world.fake.fail("POST", r"/issues/1/labels$", 503, times=1)
    outbox = world.outbox()
    run = await world.run()
    add = {"repo": "o/r", "number": 1, "names": ["agent/running"]}
    assert not await outbox.submit(FORGE, "labels.add", add, run_id=run.id)
    remove = {"repo": "o/r", "number": 1, "name": "agent/running"}
    assert await outbox.submit(FORGE, "labels.remove", remove, run_id=run.id)
    assert world.fake.labels_on("o/r", 1) == []
    calls = [call.method for call in world.fake.calls_to("*", re.compile(r"/issues/1/labels"))]
    assert calls == ["POST", "POST", "DELETE"]  # the failed add, the add, then the remove


async def test_an_entry_is_given_up_after_max_attempts(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.fake.fail("POST", COMMENTS.pattern, 503, times=2)
    outbox = world.outbox(max_attempts=2)
    reply = {"repo": "o/r", "number": 1, "body": "hello"}
    with caplog.at_level(logging.ERROR, logger="bot"):
        assert not await outbox.submit(FORGE, "comment.create", reply)
        assert await outbox.deliver_due() == 0
    assert await outbox.pending() == [] and world.posts() == [503, 503]
    assert any("out of attempts" in record.getMessage() for record in caplog.records)


async def test_malformed_submissions_are_refused(world: World) -> None:
    outbox = world.outbox()
    with pytest.raises(ValueError, match="unknown outbox operation"):
        await outbox.submit(FORGE, "comment.delete", {"repo": "o/r"})
    with pytest.raises(ValueError, match="lacks"):
        await outbox.submit(FORGE, "times.add", {"repo": "o/r", "number": 1})
    assert not await outbox.submit("elsewhere", "stopwatch.stop", {"repo": "o/r", "number": 1})
    assert await outbox.pending() == []
