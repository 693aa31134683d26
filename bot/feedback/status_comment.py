"""Keeps each run's status comment on the forge in step with the run, through the outbox."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bot.forge.protocol import Forge, ForgeNotFound
from bot.logs import get_logger, log_event
from bot.replies import marker_run_id, run_marker, status_comment
from bot.store.outbox import OutboxStore
from bot.store.runs import Run

if TYPE_CHECKING:
    from bot.services import Services

logger = get_logger("feedback")

STATUS_OPERATION = "comment.upsert"


def status_dedupe_key(run_id: int) -> str:
    """One pending status edit per run: a newer body replaces an undelivered older one."""
    return f"status:{run_id}"


async def update_status_comment(services: Services, run: Run, body: str | None = None) -> None:
    """Edit the run's status comment in place (posting it if it never was), now or, when the
    forge is down, as soon as it answers again. `body` defaults to the standard status text;
    the run's marker is added when missing, so the comment can always be found again."""
    if body is None:
        body = status_comment(run, run.actor, run.command_line)
    marker = run_marker(run.id)
    if marker not in body:
        body = f"{marker}\n{body}"
    payload = {"repo": run.repo, "number": run.number, "run_id": run.id, "body": body}
    if services.outbox is None:
        raise RuntimeError("the status comment needs the app's outbox (services.outbox)")
    await services.outbox.submit(
        run.forge,
        STATUS_OPERATION,
        payload,
        run_id=run.id,
        dedupe_key=status_dedupe_key(run.id),
    )


async def find_marked_comment(forge: Forge, repo: str, number: int, run_id: int) -> int | None:
    """The oldest comment on the issue carrying the run's marker (by the bot, when its login is
    known): the status comment an earlier attempt posted though its answer was lost."""
    bot_login = getattr(forge, "bot_login", "") or ""
    for comment in await forge.list_issue_comments(repo, number):
        if marker_run_id(comment.body) != run_id:
            continue
        if not bot_login or comment.author_login == bot_login:
            return comment.id
    return None


async def upsert_status_comment(
    forge: Forge, store: OutboxStore, repo: str, payload: Mapping[str, Any]
) -> None:
    """The outbox's `comment.upsert`: edit the run's known status comment, else the one carrying
    its marker, else post a new one; the id is kept on the run, so a retry never duplicates."""
    run_id, number, body = int(payload["run_id"]), int(payload["number"]), payload["body"]
    comment_id = await store.status_comment_id(run_id)
    if comment_id is not None:
        try:
            await forge.edit_comment(repo, comment_id, body)
            return
        except ForgeNotFound:  # deleted on the forge: post it again
            log_event(
                logger, logging.INFO, "status comment gone", run=run_id, repo=repo, issue=number
            )
    found = await find_marked_comment(forge, repo, number, run_id)
    if found is not None and found != comment_id:
        await store.set_status_comment_id(run_id, found)
        await forge.edit_comment(repo, found, body)
        return
    created = await forge.create_comment(repo, number, body)
    await store.set_status_comment_id(run_id, created.id)
