"""Tracks each run's time on the issue (DESIGN §10): its stopwatch, or an added tracked time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.events import ForgeKind
from bot.forge.protocol import (
    Forge,
    ForgeConflict,
    ForgeError,
    ForgeForbidden,
    ForgeUnavailable,
)
from bot.logs import get_logger, log_event
from bot.replies import format_duration
from bot.services import Services
from bot.store.runs import ACTIVE_STATES, Run

logger = get_logger("feedback.time")

# The values of Run.timing.
STOPWATCH = "stopwatch"  # the issue's stopwatch runs while the agent runs
TIMES = "times"  # the run's duration is added to the issue's tracked time at the end
NONE = "none"  # not tracked (GitHub, `time_tracking: off`, tracking disabled on the repo)

# What must be done on the forge when a run ends: (name, arguments), plain data an outbox can
# store and replay with `TimeTracker.perform`. Arguments: forge, repo, number, run, seconds.
STOP_STOPWATCH = "stopwatch.stop"
ADD_TIMES = "times.add"
Operation = tuple[str, dict[str, Any]]
Defer = Callable[[str, dict[str, Any]], Awaitable[None]]


class TimeTracker:
    """Starts and stops the time tracking of runs on Forgejo/Gitea.

    Forgejo/Gitea keep one running stopwatch per user, and starting a second silently stops the
    first, so in `auto` a run uses the stopwatch only while no other run of the bot account on
    that forge holds it, and otherwise adds its duration at the end. The choice is made under a
    lock per forge; build ONE tracker per application, as the locks belong to the instance.
    """

    def __init__(self, services: Services, clock: Callable[[], float] = time.time) -> None:
        self.services = services
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        # Runs whose stopwatch this process started and has not stopped yet, per forge: a run
        # holds the stopwatch from its start until its stop, even after its state is final.
        self._holders: dict[str, set[int]] = {}

    async def run_started(self, run: Run) -> Run:
        """Decide how `run` is timed, start its stopwatch if so, and store `run.timing`.

        Never raises for a forge error. A run whose timing is already decided is left as is.
        """
        run = await self.services.runs.get(run.id) or run
        if run.timing is not None:
            return run
        mode = self.services.settings.time_tracking
        forge = self.services.forges.get(run.forge)
        if forge is None or forge.kind is ForgeKind.GITHUB or mode == "off":
            return await self._store(run, NONE)
        if mode == TIMES:
            return await self._store(run, TIMES)
        async with self._locks.setdefault(run.forge, asyncio.Lock()):
            if mode == "auto" and await self._stopwatch_taken(run):
                self._log(logging.INFO, "stopwatch taken by another run, adding time at end", run)
                return await self._store(run, TIMES)
            timing = await self._start(forge, run)
            if timing == STOPWATCH:
                self._holders.setdefault(run.forge, set()).add(run.id)
            return await self._store(run, timing)

    def finish_operations(self, run: Run) -> list[Operation]:
        """What must be done on the forge now that `run` has ended (no I/O)."""
        seconds = self.duration(run)
        arguments = {
            "forge": run.forge,
            "repo": run.repo,
            "number": run.number,
            "run": run.id,
            "seconds": seconds,
            "started_at": run.started_at,
        }
        if run.timing == STOPWATCH:
            return [(STOP_STOPWATCH, arguments)]
        if run.timing == TIMES and seconds >= 1:
            return [(ADD_TIMES, arguments)]
        return []

    async def run_ended(self, run: Run, *, defer: Defer | None = None) -> str:
        """Stop the run's stopwatch or add its time; a short note for the status comment.

        Forge errors are logged, never raised, except ForgeUnavailable (the forge did not
        answer, so the time may still be recorded later): it is raised, or, when `defer` is
        given, the operation is handed to `defer(name, arguments)` (e.g. to an outbox, which
        replays it with `perform(name, arguments)`) and the note says the time is pending.
        """
        run = await self.services.runs.get(run.id) or run  # the stored timing, not a stale one
        notes = []
        for name, arguments in self.finish_operations(run):
            try:
                notes.append(await self.perform(name, arguments))
            except ForgeUnavailable as error:
                if defer is None:
                    raise
                self._log(logging.WARNING, "time tracking deferred", run, error=str(error))
                await defer(name, arguments)
                duration = format_duration(arguments["seconds"])
                notes.append(f"{duration} to be recorded on the issue once the forge answers")
        return "; ".join(note for note in notes if note)

    async def perform(self, name: str, arguments: dict[str, Any]) -> str:
        """Do one operation of `finish_operations`; its note. Raises only ForgeUnavailable."""
        forge = self.services.forges.get(arguments["forge"])
        if name not in (STOP_STOPWATCH, ADD_TIMES):
            raise ValueError(f"unknown time tracking operation {name!r}")
        if forge is None:
            self._log(logging.WARNING, "time not recorded: forge API disabled", arguments)
            return ""
        if name == ADD_TIMES:
            return await self._add_time(forge, arguments)
        note = await self._stop(forge, arguments)  # ForgeUnavailable: the run keeps holding it
        self._holders.get(arguments["forge"], set()).discard(arguments["run"])
        return note

    def duration(self, run: Run) -> int:
        """The run's duration in whole seconds (0 when it never started)."""
        if run.started_at is None:
            return 0
        ended = run.finished_at if run.finished_at is not None else self.clock()
        return max(0, round(ended - run.started_at))

    async def _stopwatch_taken(self, run: Run) -> bool:
        """Whether another run of this forge holds the bot account's one stopwatch."""
        if self._holders.get(run.forge, set()) - {run.id}:
            return True
        return any(
            other.forge == run.forge and other.id != run.id and other.timing == STOPWATCH
            for other in await self.services.runs.in_states(*ACTIVE_STATES)
        )

    async def _start(self, forge: Forge, run: Run) -> str:
        """Start the issue's stopwatch; the timing that results."""
        try:
            await forge.start_stopwatch(run.repo, run.number)
        except ForgeConflict:
            self._log(logging.INFO, "stopwatch already running", run)
            return STOPWATCH
        except ForgeForbidden as error:
            self._log(logging.WARNING, "time tracking disabled on repo", run, error=str(error))
            return NONE
        except ForgeUnavailable as error:
            # The start may have taken effect; the stop at the end settles it either way (it
            # stops it, or answers 409 and the duration is added instead).
            self._log(logging.WARNING, "stopwatch start unanswered", run, error=str(error))
            return STOPWATCH
        except ForgeError as error:
            self._log(
                logging.WARNING, "stopwatch not started, adding time at end", run, error=str(error)
            )
            return TIMES
        self._log(logging.INFO, "stopwatch started", run)
        return STOPWATCH

    async def _stop(self, forge: Forge, arguments: dict[str, Any]) -> str:
        repo, number, seconds = arguments["repo"], arguments["number"], arguments["seconds"]
        try:
            await forge.stop_stopwatch(repo, number)
        except ForgeConflict:
            # Not running: someone (maybe a person with the bot account) started another
            # stopwatch, which silently stopped this one and recorded its time so far, or
            # stopped or deleted it. Add what the forge has not recorded: never lose the time,
            # never count it twice.
            recorded = await self._recorded_since_start(forge, arguments)
            self._log(
                logging.WARNING, "stopwatch not running, adding time", arguments, recorded=recorded
            )
            missing = {**arguments, "seconds": seconds - recorded}
            if missing["seconds"] < 1:
                return f"{format_duration(seconds)} recorded on the issue's tracked time"
            return await self._add_time(forge, missing)
        except ForgeUnavailable:
            raise
        except ForgeError as error:
            self._log(logging.WARNING, "stopwatch not stopped", arguments, error=str(error))
            return ""
        self._log(logging.INFO, "stopwatch stopped", arguments)
        return f"{format_duration(seconds)} recorded on the issue's stopwatch"

    async def _recorded_since_start(self, forge: Forge, arguments: dict[str, Any]) -> int:
        """Seconds the bot account has on the issue since the run started (0 if unknown)."""
        forge_config = self.services.settings.forge(arguments["forge"])
        started_at, login = arguments.get("started_at"), forge_config and forge_config.bot_login
        if started_at is None or not login:
            return 0
        try:
            return await forge.tracked_seconds(
                arguments["repo"], arguments["number"], login, started_at
            )
        except ForgeUnavailable:
            raise
        except ForgeError as error:
            self._log(logging.WARNING, "tracked time not readable", arguments, error=str(error))
            return 0

    async def _add_time(self, forge: Forge, arguments: dict[str, Any]) -> str:
        repo, number, seconds = arguments["repo"], arguments["number"], arguments["seconds"]
        if seconds < 1:
            return ""
        try:
            await forge.add_tracked_time(repo, number, seconds)
        except ForgeUnavailable:
            raise
        except ForgeError as error:
            self._log(logging.WARNING, "time not recorded", arguments, error=str(error))
            return ""
        self._log(logging.INFO, "tracked time added", arguments)
        return f"{format_duration(seconds)} added to the issue's tracked time"

    async def _store(self, run: Run, timing: str) -> Run:
        return await self.services.runs.update(run.id, timing=timing)

    @staticmethod
    def _log(level: int, event: str, where: Run | dict[str, Any], **fields: Any) -> None:
        """One structured line about a run (`where`: the run, or an operation's arguments)."""
        if isinstance(where, Run):
            where = {
                "forge": where.forge,
                "repo": where.repo,
                "number": where.number,
                "run": where.id,
            }
        log_event(
            logger,
            level,
            event,
            forge=where["forge"],
            run=where["run"],
            repo=where["repo"],
            issue=where["number"],
            seconds=where.get("seconds"),
            **fields,
        )
