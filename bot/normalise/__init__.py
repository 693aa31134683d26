"""Turn a raw webhook payload from any forge into one typed, forge-independent event."""

from __future__ import annotations

from bot.events import ForgeKind, NormalisedEvent, PayloadError, PingEvent
from bot.normalise.common import Context
from bot.normalise.gitea import normalise_gitea
from bot.normalise.github import normalise_github
from bot.normalise.labels import diff_label_snapshot, resolve_label_event

__all__ = ["PayloadError", "diff_label_snapshot", "normalise", "resolve_label_event"]


def normalise(
    *,
    forge: str,
    forge_kind: ForgeKind,
    event_name: str,
    event_type: str | None,
    payload: object,
    delivery_id: str = "",
) -> NormalisedEvent:
    """Normalise one delivery. Pure: reads only its arguments.

    `event_name` is the `X-GitHub-Event` header (all three forges send it), `event_type` the
    `X-Gitea-Event-Type`/`X-Forgejo-Event-Type` one (None on GitHub). Returns a CommentEvent,
    LabelEvent, PingEvent or IgnoredEvent; raises PayloadError (one line naming the bad or
    missing field) when the payload lacks what its event needs. Never raises anything else
    for any payload.
    """
    kind = ForgeKind(forge_kind)
    if not isinstance(payload, dict):
        raise PayloadError(f"payload: expected a JSON object, got {type(payload).__name__}")
    if event_name == "ping":
        return PingEvent(forge=forge)
    ctx = Context(forge=forge, forge_kind=kind, delivery_id=delivery_id)
    if kind is ForgeKind.GITHUB:
        return normalise_github(ctx, event_name, payload)
    return normalise_gitea(ctx, event_name, event_type, payload)
