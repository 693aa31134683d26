"""Keeps each run's status comment on the forge in step with the run (edited in place)."""

from __future__ import annotations

import logging

from bot.forge.protocol import ForgeError
from bot.logs import get_logger, log_event
from bot.replies import status_comment
from bot.services import Services
from bot.store.runs import Run

logger = get_logger("feedback")


async def update_status_comment(services: Services, run: Run) -> None:
    """Edit the run's status comment, or post it when it was never posted."""
    forge = services.forges.get(run.forge)
    if forge is None:
        return
    body = status_comment(run, run.actor, run.command_line)
    try:
        if run.status_comment_id:
            await forge.edit_comment(run.repo, run.status_comment_id, body)
        else:
            comment = await forge.create_comment(run.repo, run.number, body)
            await services.runs.update(run.id, status_comment_id=comment.id)
    except ForgeError as error:
        log_event(
            logger,
            logging.ERROR,
            "status comment not updated",
            run=run.id,
            repo=run.repo,
            issue=run.number,
            error=str(error),
        )
