"""The one place run states change: the row, `.meta/status.json` and the log move together."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bot.engine.workspace import meta_dir, write_status
from bot.logs import get_logger, log_event
from bot.store.database import now
from bot.store.runs import Run, Runs, RunState

logger = get_logger("runs")

STATUS_FIELDS = (
    "id",
    "forge",
    "repo",
    "number",
    "is_pull_request",
    "agent",
    "model",
    "template",
    "trigger",
    "actor",
    "state",
    "reason",
    "question",
    "exit_code",
    "branch",
    "base_branch",
    "pr_url",
    "container_name",
    "pid",
    "created_at",
    "started_at",
    "finished_at",
)


def status_document(run: Run) -> dict[str, Any]:
    data = run.model_dump(mode="json", include=set(STATUS_FIELDS))
    data["run_id"] = data.pop("id")
    return data


async def record(runs: Runs, run: Run, state: RunState | None = None, **fields: Any) -> Run:
    """Update a run (and its state, when given); keep status.json in step; log the move."""
    if state is not None:
        fields["state"] = state
        if state is RunState.RUNNING and "started_at" not in fields:
            fields["started_at"] = now()
        if not state.is_active and "finished_at" not in fields:
            fields["finished_at"] = now()
    updated = await runs.update(run.id, **fields)
    if updated.workspace_path:
        try:
            write_status(meta_dir(Path(updated.workspace_path)), status_document(updated))
        except OSError as error:
            log_event(
                logger, logging.WARNING, "status.json not written", run=run.id, error=str(error)
            )
    if state is not None and state is not run.state:
        log_event(
            logger,
            logging.INFO,
            f"run {state.value}",
            run=run.id,
            forge=run.forge,
            repo=run.repo,
            issue=run.number,
            agent=updated.agent_spec,
            reason=updated.reason,
        )
    return updated
