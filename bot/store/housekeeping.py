"""Keeps the database from growing without end: old processed deliveries are deleted hourly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from bot.logs import get_logger, log_event
from bot.store.inbox import Inbox

logger = get_logger("housekeeping")
DAY_SECONDS = 86_400.0


class Housekeeping:
    """Deletes processed inbox rows older than `keep_days` (None: keeps them), every
    `interval_seconds` and once at start-up."""

    def __init__(
        self, inbox: Inbox, keep_days: float | None, interval_seconds: float = 3600.0
    ) -> None:
        self.inbox = inbox
        self.keep_days = keep_days
        self.interval_seconds = interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def run_once(self, now: float | None = None) -> int:
        if self.keep_days is None:
            return 0
        cutoff = (time.time() if now is None else now) - self.keep_days * DAY_SECONDS
        deleted = await self.inbox.prune(cutoff)
        if deleted:
            log_event(logger, logging.INFO, "old deliveries deleted", count=deleted)
        return deleted

    def start(self) -> None:
        if self.keep_days is not None:
            self._task = asyncio.create_task(self._loop(), name="housekeeping")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # noqa: BLE001 - try again at the next interval
                logger.exception("housekeeping failed")
            await asyncio.sleep(self.interval_seconds)
