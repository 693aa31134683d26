"""Routes a stored delivery to its handler after dropping what must be ignored."""

from __future__ import annotations

import logging

from bot.events import CommentEvent, EventBase, LabelEvent
from bot.handlers.comments import handle_comment
from bot.handlers.labels import handle_label_change
from bot.logs import get_logger, log_event
from bot.normalise import normalise
from bot.services import Services
from bot.store.inbox import InboxRow

logger = get_logger("handlers")


def is_ignored_actor(services: Services, event: EventBase) -> bool:
    """The bot's own account and the forge's `ignore_users` are dropped before anything else."""
    forge_config = services.settings.forge(event.forge)
    if forge_config is None:
        return True
    ignored = {login.lower() for login in forge_config.ignore_users}
    if forge_config.bot_login:
        ignored.add(forge_config.bot_login.lower())
    return event.actor_login.lower() in ignored


async def handle_inbox_row(services: Services, row: InboxRow) -> str:
    """Process one inbox row: normalise its body, then handle the event; return a short
    outcome word for the inbox."""
    forge_config = services.settings.forge(row.forge)
    if forge_config is None:
        return "unknown-forge"
    event = normalise(
        forge=row.forge,
        forge_kind=forge_config.kind,
        event_name=row.event,
        event_type=row.event_type,
        payload=row.body,
        delivery_id=row.delivery_id,
    )
    if isinstance(event, LabelEvent):
        # The snapshot must follow every change, the bot's own included, or later diffs lie.
        return await handle_label_change(services, event, ignored=is_ignored_actor(services, event))
    if not isinstance(event, CommentEvent):
        return "ignored"
    if is_ignored_actor(services, event):
        log_event(
            logger,
            logging.DEBUG,
            "own or ignored comment dropped",
            delivery=row.delivery_id,
            actor=event.actor_login,
        )
        return "ignored-actor"
    return await handle_comment(services, event)
