"""TimeTracker over real HTTP against the fake forge: stopwatch, tracked times, 409s and 403s."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import build_forges
from bot.feedback.time_tracking import ADD_TIMES, STOP_STOPWATCH, TimeTracker
from bot.forge.protocol import ForgeUnavailable
from bot.services import Services
from bot.store import open_database
from bot.store.runs import Run, RunState
from tests.fake_forge import FakeForge
from tests.harness import BOT_LOGIN, TOKEN, make_settings

HOW = {"stopwatch": "on the issue's stopwatch", "times": "to the issue's tracked time"}


class Clock:
    """One settable clock for the fake forge's stopwatches and the tracker."""

    now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    services: Services
    tracker: TimeTracker
    fake: FakeForge
    clock: Clock
    forge: str

    async def start(self, number: int, repo: str = "o/r", forge: str | None = None) -> Run:
        run = await self.services.runs.create(
            forge=forge or self.forge,
            repo=repo,
            number=number,
            agent="codex",
            trigger="comment",
            actor="alice",
            state=RunState.RUNNING,
            started_at=self.clock.now,
        )
        return await self.tracker.run_started(run)

    async def end(self, run: Run, **options: Any) -> str:
        run = await self.services.runs.update(
            run.id, state=RunState.COMPLETED, finished_at=self.clock.now
        )
        return await self.tracker.run_ended(run, **options)

    async def stored(self, run: Run) -> Run:
        stored = await self.services.runs.get(run.id)
        assert stored is not None
        return stored

    def time_calls(self) -> list[str]:
        return [
            f"{call.method} {call.path}"
            for call in self.fake.calls
            if "/stopwatch" in call.path or call.path.endswith("/times")
        ]


MakeWorld = Callable[..., Awaitable[World]]


@pytest.fixture
async def make_world(tmp_path: Path, fake_forge: FakeForge) -> AsyncIterator[MakeWorld]:
    """Build a World for a forge name (forgejo | gitea | github) and a time_tracking mode."""
    fake_forge.add_token(TOKEN, BOT_LOGIN)
    clock = Clock()
    fake_forge.clock = clock
    for family in ("gitea", "github"):
        name = "o/r" if family == "gitea" else "gh/r"
        fake_forge.add_repo(name, family=family)
        for number in (1, 2, 3):
            fake_forge.add_issue(name, number, f"Issue {number}")
    fake_forge.add_repo("o/other", family="gitea")
    fake_forge.add_issue("o/other", 1, "Elsewhere")
    fake_forge.add_repo("o/untracked", family="gitea", time_tracking=False)
    fake_forge.add_issue("o/untracked", 1, "No tracking")
    async with contextlib.AsyncExitStack() as stack:
        session = await stack.enter_async_context(aiohttp.ClientSession())

        async def make(forge: str, mode: str = "auto") -> World:
            settings = make_settings(tmp_path, fake_forge.url, time_tracking=mode)
            database = await open_database(settings.database.path)
            stack.push_async_callback(database.close)
            services = Services.from_database(settings, database)
            build_forges(services, session)
            return World(services, TimeTracker(services, clock), fake_forge, clock, forge)

        yield make


KINDS = pytest.mark.parametrize("kind", ["gitea", "forgejo"])


@KINDS
async def test_auto_single_run_uses_the_stopwatch(make_world: MakeWorld, kind: str) -> None:
    world = await make_world(kind)
    run = await world.start(1)
    assert run.timing == "stopwatch"
    assert (await world.stored(run)).timing == "stopwatch"
    assert (await world.tracker.run_started(run)).timing == "stopwatch"  # decided once
    assert world.time_calls() == ["POST /api/v1/repos/o/r/issues/1/stopwatch/start"]
    assert world.fake.stopwatches[BOT_LOGIN][:2] == ("o/r", 1)
    world.clock.now += 65
    assert await world.end(run) == "1m 05s recorded on the issue's stopwatch"
    assert world.fake.stopwatches == {}
    assert world.fake.times_on("o/r", 1) == [65]


@KINDS
@pytest.mark.parametrize("first_to_end", [0, 1])
async def test_auto_concurrent_runs_record_both_times(
    make_world: MakeWorld, kind: str, first_to_end: int
) -> None:
    world = await make_world(kind)
    runs = list(await asyncio.gather(world.start(1), world.start(1, repo="o/other")))
    assert sorted(run.timing or "" for run in runs) == ["stopwatch", "times"]
    assert len(world.fake.stopwatches) == 1
    world.clock.now += 30
    first = await world.end(runs[first_to_end])
    world.clock.now += 45
    second = await world.end(runs[1 - first_to_end])
    durations = {first_to_end: 30, 1 - first_to_end: 75}
    assert world.fake.times_on("o/r", 1) == [durations[0]]
    assert world.fake.times_on("o/other", 1) == [durations[1]]
    assert world.fake.stopwatches == {}
    notes = {runs[first_to_end].id: first, runs[1 - first_to_end].id: second}
    for run in runs:
        assert notes[run.id].endswith(HOW[run.timing or ""])


async def test_auto_holder_keeps_the_stopwatch_until_it_is_stopped(
    make_world: MakeWorld,
) -> None:
    world = await make_world("forgejo")
    holder = await world.start(1)
    await world.services.runs.update(holder.id, state=RunState.COMPLETED)  # ended, not stopped
    assert (await world.start(2)).timing == "times"
    world.clock.now += 10
    await world.end(holder)
    assert (await world.start(3)).timing == "stopwatch"  # free again
    assert world.fake.times_on("o/r", 1) == [10]


async def test_auto_other_forges_do_not_share_the_stopwatch(make_world: MakeWorld) -> None:
    world = await make_world("forgejo")
    await world.start(1)
    assert (await world.start(2, forge="gitea")).timing == "stopwatch"


async def test_stopwatch_mode_falls_back_to_times_when_stopped_meanwhile(
    make_world: MakeWorld,
) -> None:
    world = await make_world("forgejo", "stopwatch")
    run = await world.start(1)
    world.clock.now += 20
    # A person starts a stopwatch with the bot account: ours stops silently (20 s recorded).
    await world.services.forges["forgejo"].start_stopwatch("o/r", 2)
    world.clock.now += 45
    note = await world.end(run)
    assert note == "45s added to the issue's tracked time"
    assert world.fake.times_on("o/r", 1) == [20, 45]  # never lost, never counted twice
    assert world.fake.stopwatches[BOT_LOGIN][:2] == ("o/r", 2)


async def test_a_stopwatch_deleted_meanwhile_has_the_whole_run_added(
    make_world: MakeWorld,
) -> None:
    world = await make_world("forgejo", "stopwatch")
    run = await world.start(1)
    world.clock.now += 20
    # Someone discards the bot account's stopwatch: the forge records nothing.
    await world.services.forges["forgejo"].client.call(
        "DELETE", "/repos/o/r/issues/1/stopwatch/delete"
    )
    world.clock.now += 10
    assert await world.end(run) == "30s added to the issue's tracked time"
    assert world.fake.times_on("o/r", 1) == [30]


async def test_a_stopwatch_stopped_meanwhile_is_not_counted_again(make_world: MakeWorld) -> None:
    world = await make_world("gitea", "stopwatch")
    run = await world.start(1)
    world.clock.now += 30
    await world.services.forges["gitea"].stop_stopwatch("o/r", 1)  # someone stops it at 30 s
    assert await world.end(run) == "30s recorded on the issue's tracked time"
    assert world.fake.times_on("o/r", 1) == [30]


async def test_stopwatch_mode_forces_the_stopwatch(make_world: MakeWorld) -> None:
    world = await make_world("gitea", "stopwatch")
    await world.start(1)
    assert (await world.start(2)).timing == "stopwatch"


async def test_start_conflict_means_already_running(make_world: MakeWorld) -> None:
    world = await make_world("forgejo")
    await world.services.forges["forgejo"].start_stopwatch("o/r", 1)
    run = await world.start(1)
    assert run.timing == "stopwatch"
    world.clock.now += 5
    assert await world.end(run) == "5s recorded on the issue's stopwatch"
    assert world.fake.times_on("o/r", 1) == [5]


@KINDS
async def test_times_mode_adds_the_duration_at_the_end(make_world: MakeWorld, kind: str) -> None:
    world = await make_world(kind, "times")
    run = await world.start(1)
    assert run.timing == "times" and world.time_calls() == []
    world.clock.now += 3725.4
    assert await world.end(run) == "1h 02m added to the issue's tracked time"
    assert world.fake.times_on("o/r", 1) == [3725]
    assert world.time_calls() == ["POST /api/v1/repos/o/r/issues/1/times"]


async def test_times_mode_skips_less_than_a_second(make_world: MakeWorld) -> None:
    world = await make_world("forgejo", "times")
    run = await world.start(1)
    world.clock.now += 0.4
    assert world.tracker.finish_operations(await world.stored(run)) == []
    assert await world.end(run) == ""
    assert world.time_calls() == []


UNTRACKED = [("forgejo", "off"), ("gitea", "off"), ("github", "auto"), ("github", "times")]


@pytest.mark.parametrize(("forge", "mode"), UNTRACKED)
async def test_no_time_tracking(make_world: MakeWorld, forge: str, mode: str) -> None:
    world = await make_world(forge, mode)
    run = await world.start(1, repo="gh/r" if forge == "github" else "o/r")
    assert run.timing == "none"
    world.clock.now += 65
    assert await world.end(run) == ""
    assert world.time_calls() == []
    assert world.fake.tracked_times == []


@pytest.mark.parametrize("mode", ["auto", "stopwatch", "times"])
async def test_time_tracking_disabled_on_the_repo_is_not_fatal(
    make_world: MakeWorld, mode: str
) -> None:
    world = await make_world("forgejo", mode)
    run = await world.start(1, repo="o/untracked")
    assert run.timing == ("times" if mode == "times" else "none")
    world.clock.now += 65
    assert await world.end(run) == ""  # a 403 at the end is logged, not raised
    assert world.fake.tracked_times == []


async def test_other_start_error_falls_back_to_times(make_world: MakeWorld) -> None:
    world = await make_world("forgejo")
    world.fake.fail("POST", r"/stopwatch/start$", 422, times=1)
    run = await world.start(1)
    assert run.timing == "times"
    assert (await world.start(2)).timing == "stopwatch"  # nobody holds it
    world.clock.now += 7
    assert await world.end(run) == "7s added to the issue's tracked time"


async def test_unanswered_start_is_settled_at_the_end(make_world: MakeWorld) -> None:
    world = await make_world("forgejo")
    world.fake.fail("POST", r"/stopwatch/start$", 500, times=1)
    run = await world.start(1)
    assert run.timing == "stopwatch" and world.fake.stopwatches == {}
    world.clock.now += 9
    assert await world.end(run) == "9s added to the issue's tracked time"
    assert world.fake.times_on("o/r", 1) == [9]


async def test_unavailable_forge_at_the_end_raises_or_defers(make_world: MakeWorld) -> None:
    world = await make_world("forgejo")
    run = await world.start(1)
    world.clock.now += 12
    world.fake.fail("POST", r"/stopwatch/stop$", 500, times=1)
    with pytest.raises(ForgeUnavailable):
        await world.end(run)
    assert world.fake.stopwatches != {}
    assert (await world.start(2)).timing == "times"  # still holds the stopwatch

    deferred: list[tuple[str, dict[str, Any]]] = []

    async def defer(name: str, arguments: dict[str, Any]) -> None:
        deferred.append((name, arguments))

    world.fake.fail("POST", r"/stopwatch/stop$", 500, times=1)
    note = await world.end(run, defer=defer)
    assert note == "12s to be recorded on the issue once the forge answers"
    assert [name for name, _ in deferred] == [STOP_STOPWATCH] and deferred[0][1]["seconds"] == 12
    world.clock.now += 100  # a later replay records what the stopwatch measured
    assert await world.tracker.perform(*deferred[0]) == "12s recorded on the issue's stopwatch"
    assert world.fake.times_on("o/r", 1) == [112]
    assert (await world.start(3)).timing == "stopwatch"


async def test_finish_operations_describe_the_work(make_world: MakeWorld) -> None:
    world = await make_world("gitea", "times")
    run = await world.start(2)
    world.clock.now += 61
    arguments = {"forge": "gitea", "repo": "o/r", "number": 2, "run": run.id, "seconds": 61}
    assert world.tracker.finish_operations(run) == [
        (ADD_TIMES, arguments | {"started_at": run.started_at})
    ]
    with pytest.raises(ValueError):
        await world.tracker.perform("coffee.make", {"forge": "gitea"})
