"""The background inbox worker: processes stored deliveries, tracked and drained on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.logs import get_logger, log_event
from bot.store.inbox import Inbox, InboxRow

logger = get_logger("worker")

# Handles a row (intake has checked its body; the handler builds its event) and returns an outcome.
RowHandler = Callable[[InboxRow], Awaitable[str]]
# While deliveries are being received, each consumer waits at most this long for a gap before
# it processes its next row anyway.
BURST_YIELD_SECONDS = 0.05
# The intake counts as quiet once nothing has been received for this long. Within a burst the
# next deliveries come a round trip after the last answers, so "nothing in flight" alone is true
# between every two waves of it.
QUIET_SECONDS = 0.002


class IntakeActivity:
    """Tracks the deliveries being received, so that processing gives way to a burst.

    Forges give up on a delivery that is not answered within a few seconds (Gitea and Forgejo:
    5 s by default) and a forge that was cut off re-sends its queue at once. So while deliveries
    are coming in, the worker's consumers wait for a gap (nothing received for `quiet_seconds`,
    and each waits `BURST_YIELD_SECONDS` at most) before processing a row: a burst is
    acknowledged first and processed right after, while a steady stream, which leaves gaps, is
    processed as it comes.
    """

    def __init__(self, quiet_seconds: float = QUIET_SECONDS) -> None:
        self.in_flight = 0
        self.quiet_seconds = quiet_seconds
        self._received = 0  # deliveries started so far
        self._check_pending = False
        self._quiet = asyncio.Event()
        self._quiet.set()

    def started(self) -> None:
        self.in_flight += 1
        self._received += 1
        self._quiet.clear()

    def finished(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0 and not self._check_pending:
            self._check_later()

    def _check_later(self) -> None:
        self._check_pending = True
        loop = asyncio.get_running_loop()
        loop.call_later(self.quiet_seconds, self._check_quiet, self._received)

    def _check_quiet(self, received: int) -> None:
        """Quiet if nothing was received since the check was planned; otherwise look again
        later (or, while a delivery is in flight, when it is finished)."""
        self._check_pending = False
        if self.in_flight:
            return
        if received == self._received:
            self._quiet.set()
        else:
            self._check_later()

    async def gap(self, timeout: float) -> None:
        """Return once the intake is quiet, or after `timeout` seconds."""
        if self._quiet.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._quiet.wait(), timeout)


class InboxWorker:
    """A FIFO of inbox rows consumed by a few tasks; each row is marked processed once."""

    def __init__(
        self,
        inbox: Inbox,
        handle_row: RowHandler,
        concurrency: int = 4,
        burst_yield_seconds: float = BURST_YIELD_SECONDS,
    ) -> None:
        self.inbox = inbox
        self.handle_row = handle_row
        self.concurrency = concurrency
        self.burst_yield_seconds = burst_yield_seconds
        self.intake = IntakeActivity()
        self.queue: asyncio.Queue[InboxRow] = asyncio.Queue()
        self.tasks: list[asyncio.Task[None]] = []

    def submit(self, row: InboxRow) -> None:
        self.queue.put_nowait(row)

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
            row = await self.queue.get()
            try:
                await self.intake.gap(self.burst_yield_seconds)
                await self._process(row)
            finally:
                self.queue.task_done()

    async def _process(self, row: InboxRow) -> None:
        fields = {"delivery": row.delivery_id, "forge": row.forge, "inbox_id": row.id}
        try:
            outcome = await self.handle_row(row)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - one bad delivery must not stop the worker
            logger.exception("processing failed", extra={"fields": fields})
            await self.inbox.mark_processed(row.id, "error", f"{type(error).__name__}: {error}")
            return
        await self.inbox.mark_processed(row.id, outcome)
        log_event(logger, logging.INFO, "processed", outcome=outcome, **fields)
