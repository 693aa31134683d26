"""What the forge sees as a run moves (DESIGN §10): status comment, time, labels, delivery."""

from __future__ import annotations

import asyncio
import logging
import os
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from bot.engine.preparation import agent_environment
from bot.engine.run_files import run_log_files
from bot.engine.runtimes import read_output_tail
from bot.engine.transitions import record
from bot.feedback.delivery import deliver_run
from bot.feedback.messages import StatusView, render_pause_notice, render_status_comment
from bot.feedback.state_labels import sync_state_label
from bot.feedback.status_comment import update_status_comment
from bot.feedback.time_tracking import TimeTracker
from bot.links import status_comment_url
from bot.logs import get_logger, log_event
from bot.redaction import Redactor, cached_redactor
from bot.services import Services
from bot.store.database import now
from bot.store.runs import Run, RunState

logger = get_logger("lifecycle")
FINAL_MESSAGE_CHARACTERS = 8000


class RunFeedback:
    """Called by the handlers (queued), the scheduler (waiting) and the executor (started,
    finished). Status bodies are rendered from the run's current row under a per-run lock, so
    a late "queued" can never overwrite a "running"."""

    def __init__(self, services: Services, environ: Mapping[str, str] | None = None) -> None:
        self.services = services
        self.environ = dict(os.environ if environ is None else environ)
        self.time = TimeTracker(services)
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._waiting: dict[int, str] = {}
        self._notes: dict[int, str] = {}

    # -- the moments of a run ------------------------------------------------------------------
    async def queued(self, run: Run) -> None:
        await self.post_status(run.id)
        await self._label(run)

    async def waiting(self, run: Run, reason: str) -> None:
        """A queued run that cannot start yet: say why (once per distinct reason)."""
        if self._waiting.get(run.id) == reason:
            return
        self._waiting[run.id] = reason
        await self.post_status(run.id)

    async def started(self, run: Run) -> None:
        self._waiting.pop(run.id, None)
        run = await self.time.run_started(run)
        await self.post_status(run.id)
        await self._label(run)

    async def finished(self, run: Run) -> None:
        self._waiting.pop(run.id, None)
        if run.state is RunState.COMPLETED and run.template != "review":
            run = await self._deliver(run)
        run = await self._final_message(run)
        note = await self.time.run_ended(run, defer=self._defer)
        if note:
            self._notes[run.id] = note
        await self.post_status(run.id)
        await self._label(run)
        await self._pause_notice(run)

    # -- pieces ---------------------------------------------------------------------------------
    async def post_status(self, run_id: int) -> None:
        async with self._locks[run_id]:
            run = await self.services.runs.get(run_id)
            if run is None:
                return
            body = render_status_comment(run, await self._view(run), self._redactor(), now=now())
            await update_status_comment(self.services, run, body)

    def _redactor(self) -> Redactor:
        return cached_redactor(self.services.settings, self.environ)

    async def _view(self, run: Run) -> StatusView:
        reason = self._waiting.get(run.id, "")
        expected = None
        if run.state is RunState.QUEUED:
            backoff = await self.services.flags.backoff(run.agent)
            if backoff.paused_until and backoff.paused_until > now():
                expected = backoff.paused_until
        previous_url = ""
        if run.resumed_from:
            previous = await self.services.runs.get(run.resumed_from)
            if previous is not None:
                previous_url = status_comment_url(self.services.settings, previous) or ""
        return StatusView(
            log_tail=self._log_tail(run) if not run.state.is_active else "",
            waiting_reason=reason,
            expected_start=expected,
            previous_run_url=previous_url,
            time_tracking_note=self._notes.get(run.id, ""),
            frozen=run.state is RunState.QUEUED and await self.services.flags.is_frozen(),
        )

    def _log_tail(self, run: Run) -> str:
        stream, _ = run_log_files(run)
        return read_output_tail(stream) if stream else ""

    async def _final_message(self, run: Run) -> Run:
        _, final = run_log_files(run)
        if final is None or not final.is_file() or final.is_symlink():
            return run
        text = final.read_text(errors="replace")[-FINAL_MESSAGE_CHARACTERS:].strip()
        return await self.services.runs.update(run.id, final_message=text) if text else run

    async def _deliver(self, run: Run) -> Run:
        forge = self.services.forges.get(run.forge)
        if forge is None:
            return run
        env = agent_environment(self.services.settings, self.environ)
        result = await deliver_run(run, forge, self.services.settings.after_run, env=env)
        if result.note:
            self._notes[run.id] = result.note
        fields: dict[str, Any] = result.run_fields()
        if result.state == RunState.FAILED.value:
            return await record(
                self.services.runs, run, RunState.FAILED, reason=result.reason, **fields
            )
        return await record(self.services.runs, run, **fields)

    async def _defer(self, operation: str, arguments: dict[str, Any]) -> None:
        outbox = getattr(self.services, "outbox", None)
        if outbox is not None:
            await outbox.submit(arguments["forge"], operation, arguments, run_id=arguments["run"])

    async def _label(self, run: Run) -> None:
        forge = self.services.forges.get(run.forge)
        if forge is None:
            return
        current = await self.services.runs.get(run.id) or run
        label = await sync_state_label(self.services.settings.state_labels, forge, current)
        if label != current.state_label:
            await self.services.runs.update(run.id, state_label=label)

    async def _pause_notice(self, run: Run) -> None:
        """When this run's failure paused its pool, say so on its issue."""
        if run.state is not RunState.FAILED:
            return
        backoff = await self.services.flags.backoff(run.agent)
        pause = self.services.settings.backoff.pause_minutes * 60
        if not backoff.paused_until or backoff.paused_until < now():
            return
        if abs((backoff.paused_until - pause) - (run.finished_at or now())) > 5:
            return  # the pause started with another run
        forge = self.services.forges.get(run.forge)
        outbox = getattr(self.services, "outbox", None)
        if forge is None or outbox is None:
            return
        failures = self.services.settings.backoff.failures
        body = render_pause_notice(run.agent, backoff.paused_until, failures, now=now())
        await outbox.submit(
            run.forge,
            "comment.create",
            {"repo": run.repo, "number": run.number, "body": body},
            run_id=run.id,
        )
        log_event(logger, logging.WARNING, "pause posted", run=run.id, pool=run.agent)
