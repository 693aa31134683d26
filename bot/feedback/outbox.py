"""Delivers forge writes through the outbox: at once when the forge answers, else with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from enum import Enum
from typing import Any

import aiohttp

from bot.events import CommentKind
from bot.feedback.status_comment import upsert_status_comment
from bot.forge.protocol import Forge, ForgeConflict, ForgeError, ForgeUnavailable
from bot.logs import get_logger, log_event
from bot.store.database import Database
from bot.store.outbox import OutboxEntry, OutboxStore, check_payload

logger = get_logger("outbox")

RETRYABLE_STATUSES = frozenset({0, 408, 429})
NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


class UnknownOperation(Exception):
    """A stored entry names an operation this version does not know."""


class ForgeNotConfigured(Exception):
    """A stored entry names a forge that is not configured (any more, or not yet)."""


class Outcome(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DROPPED = "dropped"
    GONE = "gone"  # delivered or dropped by someone else meanwhile


def is_unavailable(error: BaseException) -> bool:
    """The forge (or the way to it) is down: worth waiting for, for every entry of that forge."""
    if isinstance(error, (ForgeUnavailable, ForgeNotConfigured, *NETWORK_ERRORS)):
        return True
    return isinstance(error, ForgeError) and (
        error.status in RETRYABLE_STATUSES or error.status >= 500
    )


def is_permanent(error: BaseException) -> bool:
    """A 4xx answer (but timeouts and rate limits) or an unknown operation: retrying is futile."""
    if isinstance(error, UnknownOperation):
        return True
    return isinstance(error, ForgeError) and not is_unavailable(error) and error.status >= 400


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class Outbox:
    """Forge writes that must not be lost: stored first, tried at once, retried until they land.

    Entries of one run (or one dedupe key) go out one at a time, oldest first; a dedupe key
    replaces the pending payload in place. A forge that failed as unavailable is paused (with
    backoff) for every entry until one call to it succeeds.
    """

    def __init__(
        self,
        database: Database,
        forges: Mapping[str, Forge],
        *,
        clock: Callable[[], float] = time.time,
        base_delay: float = 2.0,
        max_delay: float = 300.0,
        max_attempts: int | None = None,
        interval: float = 1.0,
    ) -> None:
        self.store = OutboxStore(database)
        self.forges = forges  # kept by reference: forges added later are seen
        self.clock = clock
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_attempts = max_attempts
        self.interval = interval
        self._locks: dict[str, asyncio.Lock] = {}
        self._lock_users: dict[str, int] = {}
        self._forge_failures: dict[str, int] = {}
        self._forge_paused_until: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    # -- public API --------------------------------------------------------------------------
    async def submit(
        self,
        forge: str,
        operation: str,
        payload: Mapping[str, Any],
        *,
        run_id: int | None = None,
        dedupe_key: str | None = None,
    ) -> bool:
        """Store the write and try it at once (after any older entries of the same run).

        True when it was delivered; False when it waits for a retry, or was dropped (unknown
        forge, permanent 4xx error; both logged). Raises ValueError for a malformed payload.
        """
        check_payload(operation, payload)
        if forge not in self.forges:
            log_event(
                logger,
                logging.WARNING,
                "outbox entry dropped: forge not configured",
                forge=forge,
                operation=operation,
                run=run_id,
            )
            return False
        entry = await self.store.put(
            forge, operation, payload, run_id=run_id, dedupe_key=dedupe_key, now=self.clock()
        )
        if self._paused(forge):
            return False
        async with self._ordered(entry.ordering_key):
            for queued in await self.store.queue_before(entry):
                outcome = await self._attempt(queued)
                if outcome is Outcome.RETRY:
                    return False
                if queued.id == entry.id:
                    return outcome in (Outcome.DELIVERED, Outcome.GONE)
        return False

    async def deliver_due(self) -> int:
        """Attempt every due entry, oldest first, none before an older one of its run; return
        how many were delivered. One entry's failure never stops the pass."""
        delivered = 0
        held_back: set[str] = set()
        for entry in await self.store.all():
            key = entry.ordering_key
            if key in held_back:
                continue
            not_due = entry.next_attempt_at > self.clock()
            if not_due or self._paused(entry.forge) or key in self._lock_users:
                held_back.add(key)
                continue
            try:
                async with self._ordered(key):
                    outcome = await self._attempt(entry)
            except Exception:  # the store itself failed; try the others
                logger.exception("outbox entry not handled", extra={"fields": {"entry": entry.id}})
                outcome = Outcome.RETRY
            if outcome is Outcome.RETRY:
                held_back.add(key)
            elif outcome is Outcome.DELIVERED:
                delivered += 1
        return delivered

    async def pending(self) -> list[OutboxEntry]:
        """Every entry still to deliver, oldest first."""
        return await self.store.all()

    async def start(self) -> None:
        """Deliver due entries in the background (including those left by an earlier process)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="outbox")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- delivery ----------------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            try:
                await self.deliver_due()
            except Exception:  # noqa: BLE001 - the loop must outlive any one failure
                logger.exception("outbox pass failed")
            await asyncio.sleep(self.interval)

    async def _attempt(self, entry: OutboxEntry) -> Outcome:
        """One try of the entry's current payload; the caller holds its ordering lock."""
        current = await self.store.get(entry.id)
        if current is None:
            return Outcome.GONE
        try:
            forge = self.forges.get(current.forge)
            if forge is None:
                raise ForgeNotConfigured(f"forge {current.forge!r} is not configured")
            await self._apply(forge, current)
        except Exception as error:  # noqa: BLE001 - every failure is logged and classified
            if not is_permanent(error):
                return await self._retry_later(current, error)
            self._log(logging.WARNING, "outbox entry dropped: permanent error", current, error)
            await self.store.remove(current)
            return Outcome.DROPPED
        self._forge_failures.pop(current.forge, None)
        self._forge_paused_until.pop(current.forge, None)
        await self.store.remove(current)
        self._log(logging.DEBUG, "outbox entry delivered", current)
        return Outcome.DELIVERED

    async def _retry_later(self, entry: OutboxEntry, error: Exception) -> Outcome:
        attempts = entry.attempts + 1
        if self.max_attempts is not None and attempts >= self.max_attempts:
            self._log(logging.ERROR, "outbox entry dropped: out of attempts", entry, error)
            await self.store.remove(entry)
            return Outcome.DROPPED
        now = self.clock()
        await self.store.postpone(
            entry.id, next_attempt_at=now + self._backoff(attempts), error=describe(error)
        )
        if is_unavailable(error):
            failures = self._forge_failures.get(entry.forge, 0) + 1
            self._forge_failures[entry.forge] = failures
            self._forge_paused_until[entry.forge] = now + self._backoff(failures)
            self._log(logging.WARNING, "outbox entry postponed", entry, error)
        else:  # not the forge's fault: a bug or an odd answer; keep it, with its traceback
            logger.warning(
                "outbox entry postponed after an unexpected error",
                exc_info=error,
                extra={"fields": {"entry": entry.id, "operation": entry.operation}},
            )
        return Outcome.RETRY

    async def _apply(self, forge: Forge, entry: OutboxEntry) -> None:
        payload = entry.payload
        repo = payload["repo"]
        match entry.operation:
            case "comment.upsert":
                await upsert_status_comment(forge, self.store, repo, payload)
            case "comment.create":
                await forge.create_comment(repo, int(payload["number"]), payload["body"])
            case "stopwatch.stop":
                with contextlib.suppress(ForgeConflict):  # 409: none runs, nothing to stop
                    await forge.stop_stopwatch(repo, int(payload["number"]))
            case "times.add":
                await forge.add_tracked_time(repo, int(payload["number"]), int(payload["seconds"]))
            case "labels.add":
                await forge.add_labels(repo, int(payload["number"]), list(payload["names"]))
            case "labels.remove":
                await forge.remove_label(repo, int(payload["number"]), payload["name"])
            case "reaction.add":
                kind = CommentKind(payload["comment_kind"])
                comment_id = int(payload["comment_id"])
                await forge.add_reaction(repo, comment_id, kind, payload["reaction"])
            case _:
                raise UnknownOperation(f"unknown outbox operation {entry.operation!r}")

    # -- helpers -----------------------------------------------------------------------------
    def _backoff(self, attempts: int) -> float:
        """Exponential in `attempts`, capped, with jitter (75–100% of the step)."""
        step = min(self.max_delay, self.base_delay * 2 ** min(attempts - 1, 32))
        return step * random.uniform(0.75, 1.0)

    def _paused(self, forge: str) -> bool:
        return self.clock() < self._forge_paused_until.get(forge, float("-inf"))

    @contextlib.asynccontextmanager
    async def _ordered(self, key: str) -> AsyncIterator[None]:
        """Hold the lock of one ordering key (a run, a dedupe key or a lone entry)."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._lock_users[key] = self._lock_users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._lock_users[key] -= 1
            if not self._lock_users[key]:
                del self._lock_users[key], self._locks[key]

    def _log(
        self, level: int, event: str, entry: OutboxEntry, error: BaseException | None = None
    ) -> None:
        log_event(
            logger,
            level,
            event,
            forge=entry.forge,
            repo=entry.payload.get("repo"),
            issue=entry.payload.get("number"),
            run=entry.run_id,
            entry=entry.id,
            operation=entry.operation,
            attempts=entry.attempts + (error is not None),
            error=describe(error) if error is not None else None,
        )
