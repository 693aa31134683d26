"""Helpers shared by the handlers: posting replies, checking permission, building requests."""

from __future__ import annotations

import logging

from bot.dispatcher import RunRequest, SubmitResult
from bot.events import EventBase
from bot.forge.protocol import Forge, ForgeError
from bot.logs import get_logger, log_event
from bot.permissions import Decision
from bot.replies import busy, refusal, status_comment
from bot.services import Services
from bot.store.runs import Run

logger = get_logger("handlers")


def event_fields(event: EventBase) -> dict[str, object]:
    return {
        "delivery": event.delivery_id,
        "forge": event.forge,
        "repo": event.repo.full_name,
        "issue": event.number,
    }


async def post_comment(forge: Forge, event: EventBase, body: str) -> int | None:
    """Post a comment on the event's issue/PR; a forge failure is logged, not raised."""
    try:
        comment = await forge.create_comment(event.repo.full_name, event.number, body)
    except ForgeError as error:
        log_event(
            logger, logging.ERROR, "could not post comment", error=str(error), **event_fields(event)
        )
        return None
    return comment.id


async def check_actor(
    services: Services, forge: Forge, event: EventBase, quoted: str | None
) -> Decision:
    """Ask the permission checker; on refusal, reply (or stay silent) as configured."""
    checker = services.permission_checkers[event.forge]
    decision = await checker.check(event.repo.full_name, event.actor_login, event.actor_is_bot)
    if not decision.allowed:
        log_event(
            logger,
            logging.INFO,
            "refused",
            actor=event.actor_login,
            reason=decision.reason,
            **event_fields(event),
        )
        if services.settings.permissions.on_refuse == "reply":
            await post_comment(forge, event, refusal(quoted, event.actor_login, decision.reason))
    return decision


def issue_task(event: EventBase) -> str:
    """Without instructions, the task is the issue's title and body."""
    return f"{event.title}\n\n{event.body}".strip()


def request_from_event(event: EventBase, **fields: object) -> RunRequest:
    base = {
        "forge": event.forge,
        "repo": event.repo.full_name,
        "number": event.number,
        "is_pull_request": event.is_pull_request,
        "clone_url": event.repo.clone_url,
        "base_branch": event.repo.default_branch,
        "actor": event.actor_login,
        "task": issue_task(event),
        "delivery_id": event.delivery_id or None,
    }
    base.update(fields)
    return RunRequest(**base)  # type: ignore[arg-type]


async def announce_submission(
    services: Services, forge: Forge, event: EventBase, result: SubmitResult, quoted: str | None
) -> Run | None:
    """Reply when the issue is busy; otherwise post the run's status comment and remember it."""
    if result.busy_with is not None:
        await post_comment(forge, event, busy(quoted, event.actor_login, result.busy_with))
        return None
    run = result.run
    if run is None or result.duplicate:
        return run
    if services.feedback is not None:
        await services.feedback.queued(run)
    else:
        comment_id = await post_comment(
            forge, event, status_comment(run, event.actor_login, quoted)
        )
        if comment_id is not None:
            run = await services.runs.update(run.id, status_comment_id=comment_id)
    return await services.runs.get(run.id) or run
