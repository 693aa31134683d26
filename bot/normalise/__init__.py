"""Turn a raw webhook payload from any forge into one typed, forge-independent event."""

from __future__ import annotations

from bot.events import ForgeKind, IgnoredEvent, NormalisedEvent, PayloadError, PingEvent
from bot.normalise.common import Context, Triaged, require_json_object
from bot.normalise.gitea import normalise_gitea
from bot.normalise.github import normalise_github
from bot.normalise.labels import diff_label_snapshot, resolve_label_event

__all__ = [
    "PayloadError",
    "Triaged",
    "diff_label_snapshot",
    "normalise",
    "resolve_label_event",
    "triage",
]


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
    `X-Gitea-Event-Type`/`X-Forgejo-Event-Type` one (None on GitHub). `payload` is the raw
    JSON body (bytes) or the decoded JSON. Returns a CommentEvent, LabelEvent, PingEvent or
    IgnoredEvent; raises PayloadError (one line naming the bad or missing field, or saying
    the JSON is malformed) when the payload lacks what its event needs. Never raises anything
    else for any payload.
    """
    result = _dispatch(forge, forge_kind, event_name, event_type, payload, delivery_id, False)
    assert not isinstance(result, Triaged)  # only made when triaging
    return result


def triage(
    *,
    forge: str,
    forge_kind: ForgeKind,
    event_name: str,
    event_type: str | None,
    payload: bytes,
    delivery_id: str = "",
) -> Triaged | PingEvent | IgnoredEvent:
    """What intake needs to know of a delivery, for a fraction of `normalise`'s cost: the
    same checks and the same PayloadError, the same ignored events, but for a delivery that
    may carry a trigger a `Triaged` instead of its event (built when it is processed)."""
    result = _dispatch(forge, forge_kind, event_name, event_type, payload, delivery_id, True)
    assert isinstance(result, Triaged | PingEvent | IgnoredEvent)
    return result


def _dispatch(
    forge: str,
    forge_kind: ForgeKind,
    event_name: str,
    event_type: str | None,
    payload: object,
    delivery_id: str,
    triage: bool,
) -> NormalisedEvent | Triaged:
    kind = ForgeKind(forge_kind)
    if not isinstance(payload, dict | bytes):
        raise PayloadError(f"payload: expected a JSON object, got {type(payload).__name__}")
    if event_name == "ping":
        require_json_object(payload, "ping")
        return PingEvent(forge=forge)
    ctx = Context(forge=forge, forge_kind=kind, delivery_id=delivery_id, triage=triage)
    if kind is ForgeKind.GITHUB:
        return normalise_github(ctx, event_name, payload)
    return normalise_gitea(ctx, event_name, event_type, payload)
