"""The background inbox worker: processes stored deliveries, tracked and drained on shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.events import NormalisedEvent
from bot.logs import get_logger, log_event
from bot.store.inbox import Inbox, InboxRow

logger = get_logger("worker")

# Handles a row; the event is passed when intake already normalised it (None after a restart).
RowHandler = Callable[[InboxRow, NormalisedEvent | None], Awaitable[str]]


class InboxWorker:
    """A FIFO of inbox rows consumed by a few tasks; each row is marked processed once."""

    def __init__(self, inbox: Inbox, handle_row: RowHandler, concurrency: int = 4) -> None:
        self.inbox = inbox
        self.handle_row = handle_row
        self.concurrency = concurrency
        self.queue: asyncio.Queue[tuple[InboxRow, NormalisedEvent | None]] = asyncio.Queue()
        self.tasks: list[asyncio.Task[None]] = []

    def submit(self, row: InboxRow, event: NormalisedEvent | None = None) -> None:
        self.queue.put_nowait((row, event))

    async def start(self) -> int:
        """Start the consumers and queue every row left unprocessed by an earlier process."""
        leftovers = await self.inbox.unprocessed()
        for row in leftovers:
            self.submit(row)
        if leftovers:
            log_event(logger, logging.INFO, "resuming unprocessed deliveries", count=len(leftovers))
        self.tasks = [
            asyncio.create_task(self._consume(), name=f"inbox-worker-{index}")
            for index in range(self.concurrency)
        ]
        return len(leftovers)

    async def drain(self, timeout: float = 10.0) -> None:
        """Finish what is queued (up to `timeout`), then stop the consumers."""
        try:
            await asyncio.wait_for(self.queue.join(), timeout)
        except TimeoutError:
            log_event(logger, logging.WARNING, "shutdown with deliveries still queued")
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []

    async def idle(self) -> None:
        """Wait until every submitted row has been processed (for tests and the CLI)."""
        await self.queue.join()

    async def _consume(self) -> None:
        while True:
            row, event = await self.queue.get()
            try:
                await self._process(row, event)
            finally:
                self.queue.task_done()

    async def _process(self, row: InboxRow, event: NormalisedEvent | None) -> None:
        fields = {"delivery": row.delivery_id, "forge": row.forge, "inbox_id": row.id}
        try:
            outcome = await self.handle_row(row, event)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - one bad delivery must not stop the worker
            logger.exception("processing failed", extra={"fields": fields})
            await self.inbox.mark_processed(row.id, "error", f"{type(error).__name__}: {error}")
            return
        await self.inbox.mark_processed(row.id, outcome)
        log_event(logger, logging.INFO, "processed", outcome=outcome, **fields)
