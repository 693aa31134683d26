"""State labels (DESIGN §9/§10): exactly one `agent/…` label on the issue, following the run."""

from __future__ import annotations

import logging

from bot.config.models import StateLabelsConfig
from bot.forge.protocol import Forge, ForgeError
from bot.logs import get_logger, log_event
from bot.store.runs import Run, RunState

logger = get_logger("state_labels")

LABEL_OF_STATE = {
    RunState.QUEUED: "queued",
    RunState.RUNNING: "running",
    RunState.BLOCKED: "blocked",
    RunState.COMPLETED: "done",
    RunState.FAILED: "failed",
    RunState.CANCELLED: None,  # a cancelled run leaves no state label behind
}
COLOR_OF_LABEL = {
    "queued": "c5def5",
    "running": "1d76db",
    "blocked": "fbca04",
    "done": "0e8a16",
    "failed": "d93f0b",
}


def wanted_label(config: StateLabelsConfig, state: RunState) -> str | None:
    name = LABEL_OF_STATE[state]
    return f"{config.prefix}{name}" if name else None


async def sync_state_label(config: StateLabelsConfig, forge: Forge, run: Run) -> str | None:
    """Make the issue carry exactly the label of the run's state; return that label."""
    if not config.enabled:
        return None
    wanted = wanted_label(config, run.state)
    try:
        issue = await forge.get_issue(run.repo, run.number)
        for label in issue.labels:
            if label.startswith(config.prefix) and label != wanted:
                await forge.remove_label(run.repo, run.number, label)
        if wanted and wanted not in issue.labels:
            await forge.ensure_label(
                run.repo, wanted, COLOR_OF_LABEL[wanted.removeprefix(config.prefix)]
            )
            await forge.add_labels(run.repo, run.number, [wanted])
    except ForgeError as error:
        log_event(
            logger,
            logging.WARNING,
            "state label not set",
            run=run.id,
            repo=run.repo,
            issue=run.number,
            error=str(error),
        )
        return None
    return wanted
