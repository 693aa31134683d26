"""Executes one run: prepare, launch, wait (with timeout), finalise; and re-attach after restart."""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from bot.engine.backoff import record_outcome_for_backoff
from bot.engine.git import GitError, commits_since
from bot.engine.outcome import detect_final_status
from bot.engine.preparation import prepare_run
from bot.engine.prompts import PromptError, TemplateLibrary
from bot.engine.runtime_container import ContainerRuntime
from bot.engine.runtime_native import NativeRuntime
from bot.engine.runtimes import KIND_NATIVE, RunHandle, RunResult, Runtime
from bot.engine.transitions import record
from bot.engine.workspace import repo_dir
from bot.forge.protocol import ForgeError
from bot.logs import get_logger, log_event
from bot.services import Services
from bot.store.database import now
from bot.store.runs import Run, RunState

logger = get_logger("executor")

FinishedHook = Callable[[Run], Awaitable[None]]
EXPECTED_ERRORS = (ForgeError, GitError, PromptError, ValueError, OSError)


class RunExecutor:
    def __init__(
        self,
        services: Services,
        *,
        environ: Mapping[str, str] | None = None,
        runtimes: Mapping[str, Runtime] | None = None,
        on_started: list[FinishedHook] | None = None,
        on_finished: list[FinishedHook] | None = None,
    ) -> None:
        self.services = services
        self.environ = dict(os.environ if environ is None else environ)
        grace = services.settings.dispatch.cancel_grace_seconds
        self.runtimes: dict[str, Runtime] = dict(
            runtimes
            or {
                KIND_NATIVE: NativeRuntime(timeout_grace_seconds=grace),
                "container": ContainerRuntime(environ=self.environ, timeout_grace_seconds=grace),
            }
        )
        self.on_started = on_started or []
        self.on_finished = on_finished or []
        self.cancel_reasons: dict[int, str] = {}

    def timeout_minutes(self, run: Run) -> float:
        limit = self.services.settings.dispatch.timeout_minutes
        return min(run.timeout_minutes, limit) if run.timeout_minutes else limit

    def library(self) -> TemplateLibrary:
        return TemplateLibrary(self.services.settings.dispatch.templates_dir)

    async def execute(self, run: Run) -> Run:
        """Run a run that the scheduler has marked running, to its end state."""
        forge = self.services.forges.get(run.forge)
        try:
            if forge is None:
                raise ValueError(f"no API access to forge {run.forge!r} (is its token set?)")
            previous = await self.services.runs.get(run.resumed_from) if run.resumed_from else None
            preparation = await prepare_run(
                self.services.settings,
                forge,
                run,
                library=self.library(),
                previous=previous,
                environ=self.environ,
            )
        except EXPECTED_ERRORS as error:
            return await self.finish_with_error(run, f"preparation failed: {error}")
        if run.id in self.cancel_reasons:
            return await self.finalise(run, RunResult(exit_code=None, killed=True), cancelled=True)
        runtime = self.runtimes["container" if preparation.launch.container_name else KIND_NATIVE]
        run = await record(
            self.services.runs,
            run,
            workspace_path=str(preparation.workspace),
            branch=preparation.checkout.branch,
            base_sha=preparation.checkout.head_sha,
            base_branch=preparation.base_branch,
            runtime=preparation.runtime,
            container_name=preparation.launch.container_name,
        )
        try:
            handle = await runtime.start(preparation.launch)
        except (OSError, ValueError) as error:
            return await self.finish_with_error(run, f"the agent could not start: {error}")
        run = await record(self.services.runs, run, pid=handle.pid, handle=handle.to_dict())
        await self._call(self.on_started, run)
        return await self.wait_and_finalise(run, runtime, handle)

    async def wait_and_finalise(self, run: Run, runtime: Runtime, handle: RunHandle) -> Run:
        """Wait for the agent, no longer than what is left of its timeout."""
        elapsed = now() - run.started_at if run.started_at else 0.0
        remaining = max(self.timeout_minutes(run) * 60 - elapsed, 0.001)
        result = await runtime.wait(handle, remaining)
        return await self.finalise(run, result, cancelled=run.id in self.cancel_reasons)

    async def reattach(self, run: Run) -> Run:
        """A run left `running` by an earlier process: wait for it, or finalise it."""
        if not run.handle:
            # It never reached its agent: nothing ran, so it can safely queue again.
            return await record(self.services.runs, run, RunState.QUEUED, started_at=None)
        handle = RunHandle.from_dict(run.handle)
        runtime = self.runtimes.get(handle.kind)
        if runtime is None:
            return await self.finish_with_error(run, f"unknown runtime {handle.kind!r}")
        if await runtime.is_alive(handle):
            log_event(logger, logging.INFO, "re-attached", run=run.id, kind=handle.kind)
            return await self.wait_and_finalise(run, runtime, handle)
        return await self.finalise(run, RunResult(exit_code=None), cancelled=False)

    async def cancel(self, run: Run, reason: str) -> None:
        """Ask the runtime to stop a running agent; its waiter finalises the run as cancelled."""
        self.cancel_reasons[run.id] = reason
        if run.handle:
            handle = RunHandle.from_dict(run.handle)
            runtime = self.runtimes.get(handle.kind)
            if runtime is not None:
                await runtime.cancel(handle, self.services.settings.dispatch.cancel_grace_seconds)

    async def finish_with_error(self, run: Run, reason: str) -> Run:
        log_event(logger, logging.ERROR, "run failed in the bot", run=run.id, reason=reason)
        finished = await record(self.services.runs, run, RunState.FAILED, reason=reason)
        await self._after(finished)
        return finished

    async def finalise(self, run: Run, result: RunResult, *, cancelled: bool) -> Run:
        workspace = Path(run.workspace_path) if run.workspace_path else None
        repository = repo_dir(workspace) if workspace else Path("/nonexistent")
        has_commits = None
        if result.exit_code is None and run.base_sha and repository.exists():
            try:
                has_commits = bool(await commits_since(repository, run.base_sha))
            except GitError:
                has_commits = None
        final = detect_final_status(
            repository,
            result,
            timeout_minutes=self.timeout_minutes(run),
            cancelled=cancelled,
            has_new_commits=has_commits,
        )
        state = RunState(final.state)
        reason = (
            self.cancel_reasons.pop(run.id, final.reason)
            if state is RunState.CANCELLED
            else (None if state is RunState.BLOCKED else final.reason or None)
        )
        finished = await record(
            self.services.runs,
            run,
            state,
            reason=reason,
            exit_code=result.exit_code,
            question=final.reason if state is RunState.BLOCKED else None,
        )
        await record_outcome_for_backoff(self.services, finished)
        await self._after(finished)
        return finished

    async def _after(self, run: Run) -> None:
        await self._call(self.on_finished, run)

    async def notify_finished(self, run: Run) -> None:
        """Tell the finished-hooks about a run that ended without running (cancelled queued)."""
        await self._call(self.on_finished, run)

    async def _call(self, hooks: list[FinishedHook], run: Run) -> None:
        for hook in hooks:
            try:
                await hook(run)
            except Exception:  # noqa: BLE001 - a hook must not lose the run's state
                logger.exception("run hook failed", extra={"fields": {"run": run.id}})
