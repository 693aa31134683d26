"""The scheduler: starts queued runs as limits allow, tracks their tasks, cancels, recovers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from bot.engine.backoff import paused_pools
from bot.engine.executor import RunExecutor
from bot.engine.limits import Selection, claim_limits, select_runs_to_start
from bot.engine.transitions import record
from bot.logs import get_logger, log_event
from bot.services import Services
from bot.store.runs import Run, RunState

logger = get_logger("scheduler")


async def select_startable_runs(services: Services, queued: list[Run] | None = None) -> Selection:
    """The scheduling decision from the database as it is now: which queued runs may start and
    which wait, and why (frozen flag, paused pools, concurrency limits, counting every running
    run, whichever process started it). `queued` defaults to the whole queue, oldest first.
    The server's scheduler and `python -m bot dispatch` both decide with this."""
    if queued is None:
        queued = await services.runs.in_states(RunState.QUEUED.value)
    running = await services.runs.in_states(RunState.RUNNING.value)
    return select_runs_to_start(
        queued,
        running,
        services.settings.concurrency,
        paused_pools=await paused_pools(services),
        frozen=await services.flags.is_frozen(),
    )


class Scheduler:
    """Implements the dispatcher's RunEngine: `run_queued` and `cancel`."""

    def __init__(
        self,
        services: Services,
        executor: RunExecutor,
        tick_seconds: float = 2.0,
        on_waiting: Callable[[Run, str], Awaitable[None]] | None = None,
    ):
        self.services = services
        self.on_waiting = on_waiting
        self.executor = executor
        self.tick_seconds = tick_seconds
        self.tasks: dict[int, asyncio.Task[Run]] = {}
        self.last_selection = Selection((), ())
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._pass_lock = asyncio.Lock()
        # Queued at the last pass, and not started by it: one that has left the queue by the
        # next pass, other than through `cancel` here, was cancelled by another process.
        self._queued_last_pass: set[int] = set()
        self._cancelled_here: set[int] = set()

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Re-attach runs left running by an earlier process, then start the scheduling loop."""
        for run in await self.services.runs.in_states(RunState.RUNNING.value):
            self._track(run, self.executor.reattach(run))
        self._loop_task = asyncio.create_task(self._loop(), name="scheduler")
        self.kick()

    async def stop(self) -> None:
        """Stop scheduling. Agents keep running: the next process re-attaches to them."""
        if self._loop_task:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        self.tasks.clear()

    def kick(self) -> None:
        self._wake.set()

    async def idle(self) -> None:
        """Wait until no run task is in flight and nothing queued can start (tests, CLI)."""
        while True:
            await self.schedule_pass()
            if not self.tasks:
                return
            await asyncio.gather(*list(self.tasks.values()), return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick_seconds)
            self._wake.clear()
            try:
                await self.schedule_pass()
                await self._notice_external_cancels()
            except Exception:  # noqa: BLE001 - the loop must survive a bad pass
                logger.exception("scheduling pass failed")

    # -- RunEngine ---------------------------------------------------------------------------
    async def run_queued(self, run: Run) -> None:
        self.kick()

    async def cancel(self, run: Run, reason: str) -> Run:
        current = await self.services.runs.get(run.id) or run
        if current.state is RunState.QUEUED:
            if run.id in self._queued_last_pass:  # the next pass is not to report it again
                self._cancelled_here.add(run.id)
            cancelled = await record(self.services.runs, current, RunState.CANCELLED, reason=reason)
            await self.executor.notify_finished(cancelled)
            return cancelled
        if current.state is RunState.RUNNING:
            task = self.tasks.get(run.id)  # before the await: a finished task removes itself
            await self.executor.cancel(current, reason)
            if task is not None:
                return await asyncio.shield(task)
        return await self.services.runs.get(run.id) or current

    # -- scheduling --------------------------------------------------------------------------
    async def schedule_pass(self) -> Selection:
        async with self._pass_lock:
            queued = await self.services.runs.in_states(RunState.QUEUED.value)
            await self._notice_queued_cancelled_elsewhere({run.id for run in queued})
            if not queued:
                return Selection((), ())
            selection = await select_startable_runs(self.services, queued)
            self.last_selection = selection
            await self._announce_waiting(queued, selection)
            for run in selection.start:
                self._queued_last_pass.discard(run.id)
                limits = claim_limits(run, self.services.settings.concurrency)
                if not await self.services.runs.claim_for_start(run.id, **limits):
                    continue  # another process (the CLI) started it, or one that fills a limit
                started = await record(self.services.runs, run, RunState.RUNNING)
                self._track(started, self.executor.execute(started))
            return selection

    async def _notice_queued_cancelled_elsewhere(self, queued_now: set[int]) -> None:
        """`python -m bot cancel` of a queued run only marks its row: tell the forge here."""
        left = self._queued_last_pass - queued_now
        self._queued_last_pass = set(queued_now)
        for run_id in left:
            if run_id in self._cancelled_here:
                self._cancelled_here.discard(run_id)
                continue
            row = await self.services.runs.get(run_id)
            if row is not None and row.state is RunState.CANCELLED:
                await self.executor.notify_finished(row)

    async def _guarded(self, run: Run, work: Coroutine[Any, Any, Run]) -> Run:
        """Whatever happens inside the bot, the run ends in a final state (never lost)."""
        try:
            return await work
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001
            logger.exception("run crashed in the bot", extra={"fields": {"run": run.id}})
            current = await self.services.runs.get(run.id) or run
            return await self.executor.finish_with_error(current, f"bot error: {error!r}")

    async def _announce_waiting(self, queued: list[Run], selection: Selection) -> None:
        if self.on_waiting is None:
            return
        by_id = {run.id: run for run in queued}
        for waiting in selection.waiting:
            try:
                await self.on_waiting(by_id[waiting.run_id], waiting.reason)
            except Exception:  # noqa: BLE001 - a notice must not stop scheduling
                logger.exception("waiting notice failed", extra={"fields": {"run": waiting.run_id}})

    def _track(self, run: Run, work: Coroutine[Any, Any, Run]) -> None:
        task = asyncio.create_task(self._guarded(run, work), name=f"run-{run.id}")
        self.tasks[run.id] = task

        def done(finished: asyncio.Task[Run]) -> None:
            self.tasks.pop(run.id, None)
            if not finished.cancelled() and finished.exception() is not None:
                log_event(
                    logger,
                    logging.ERROR,
                    "run task crashed",
                    run=run.id,
                    error=repr(finished.exception()),
                )
            self.kick()

        task.add_done_callback(done)

    async def _notice_external_cancels(self) -> None:
        """`python -m bot cancel` marks the row; a running agent of ours is then stopped."""
        for run_id in list(self.tasks):
            row = await self.services.runs.get(run_id)
            if (
                row is not None
                and row.state is RunState.CANCELLED
                and run_id not in (self.executor.cancel_reasons)
            ):
                running = row.model_copy(update={"state": RunState.RUNNING})
                await self.executor.cancel(running, row.reason or "cancelled")
