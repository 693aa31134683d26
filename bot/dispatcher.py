"""Turns requests into run rows: one active run per issue, `on_busy`, cancel (DESIGN §6)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from bot.logs import get_logger, log_event
from bot.store.database import now
from bot.store.runs import Run, Runs, RunState

logger = get_logger("dispatcher")


@dataclass(frozen=True)
class RunRequest:
    """Everything needed to create a run row."""

    forge: str
    repo: str
    number: int
    agent: str
    trigger: Literal["label", "comment", "cli"]
    actor: str
    is_pull_request: bool = False
    clone_url: str | None = None
    base_branch: str | None = None
    model: str | None = None
    template: str = "coding"
    options: dict[str, Any] = field(default_factory=dict)
    task: str = ""
    instructions: str = ""
    timeout_minutes: int | None = None
    trigger_comment_id: int | None = None
    trigger_comment_kind: str | None = None
    command_line: str | None = None
    delivery_id: str | None = None
    resumed_from: int | None = None
    answer: str | None = None


@dataclass(frozen=True)
class SubmitResult:
    run: Run | None = None
    busy_with: Run | None = None
    superseded: tuple[Run, ...] = ()
    duplicate: bool = False


class RunEngine(Protocol):
    """What the dispatcher needs from the engine that executes runs."""

    async def run_queued(self, run: Run) -> None: ...

    async def cancel(self, run: Run, reason: str) -> Run: ...


class Dispatcher:
    def __init__(self, runs: Runs, on_busy: str = "reject", engine: RunEngine | None = None):
        self.runs = runs
        self.on_busy = on_busy  # the default; `submit` callers may pass the live setting
        self.engine = engine
        self._issue_locks: defaultdict[tuple[str, str, int], asyncio.Lock] = defaultdict(
            asyncio.Lock
        )

    def issue_lock(self, forge: str, repo: str, number: int) -> asyncio.Lock:
        return self._issue_locks[(forge, repo.lower(), number)]

    async def _existing_for_delivery(self, request: RunRequest) -> Run | None:
        if not request.delivery_id:
            return None
        for run in await self.runs.for_issue(request.forge, request.repo, request.number):
            if run.delivery_id == request.delivery_id and run.command_line == request.command_line:
                return run
        return None

    async def submit(self, request: RunRequest, on_busy: str | None = None) -> SubmitResult:
        """Create a queued run unless the issue is busy and `on_busy` says otherwise."""
        policy = on_busy or self.on_busy
        async with self.issue_lock(request.forge, request.repo, request.number):
            existing = await self._existing_for_delivery(request)
            if existing is not None:  # the same delivery processed again after a crash
                return SubmitResult(run=existing, duplicate=True)
            active = await self.runs.active_for_issue(request.forge, request.repo, request.number)
            superseded: list[Run] = []
            if active and policy == "reject":
                return SubmitResult(busy_with=active[0])
            if active and policy == "supersede":
                for run in active:
                    superseded.append(await self.cancel(run, f"superseded by @{request.actor}"))
            fields = asdict(request)
            run = await self.runs.create(**fields, state=RunState.QUEUED)
        log_event(
            logger,
            logging.INFO,
            "run queued",
            run=run.id,
            forge=run.forge,
            repo=run.repo,
            issue=run.number,
            agent=run.agent_spec,
            trigger=run.trigger,
            delivery=run.delivery_id,
        )
        if self.engine is not None:
            await self.engine.run_queued(run)
        return SubmitResult(run=run, superseded=tuple(superseded))

    async def cancel(self, run: Run, reason: str) -> Run:
        """Cancel a queued or running run (the engine kills a running one)."""
        if not run.state.is_active:
            return run
        if self.engine is not None:
            return await self.engine.cancel(run, reason)
        cancelled = await self.runs.update(
            run.id, state=RunState.CANCELLED, reason=reason, finished_at=now()
        )
        log_event(logger, logging.INFO, "run cancelled", run=run.id, reason=reason)
        return cancelled

    async def cancel_active(self, forge: str, repo: str, number: int, reason: str) -> list[Run]:
        return [
            await self.cancel(run, reason)
            for run in await self.runs.active_for_issue(forge, repo, number)
        ]
