"""`POST /webhook/{forge}`: verify, store in the inbox, acknowledge with 202 (DESIGN §2)."""

from __future__ import annotations

import functools
import logging
import re
import time

import orjson
from aiohttp import web

from bot.appkeys import INBOX, SETTINGS, WORKER
from bot.events import IgnoredEvent, MalformedJsonError, PayloadError, PingEvent
from bot.logs import get_logger, log_event
from bot.normalise import Triaged, triage
from bot.observability.metrics import METRICS
from bot.signatures import signature_is_valid
from bot.store.inbox import InboxRow

logger = get_logger("intake")
# A line that could be a command; a comment without one carries no trigger and is not stored.
POSSIBLE_COMMAND = re.compile(r"(?m)^[ \t]*/[A-Za-z]")

OUTCOME = "outcome"  # the response's key for the delivery's outcome (a metrics label)
OUTCOME_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    413: "too_large",
    415: "unsupported_media_type",
}
# Outcomes decided before the signature is checked: their headers are not to be trusted.
UNVERIFIED_OUTCOMES = frozenset(
    {"not_found", "unsupported_media_type", "too_large", "unauthorized"}
)


@functools.lru_cache(maxsize=256)
def _reply_body(status: int, reason: str) -> bytes:
    """Most replies are one of a few (accepted, ignored: …): their JSON is made once."""
    return orjson.dumps({"status": status, "reason": reason})


def _reply(status: int, reason: str, outcome: str | None = None) -> web.Response:
    response = web.Response(
        body=_reply_body(status, reason), status=status, content_type="application/json"
    )
    response[OUTCOME] = outcome or OUTCOME_BY_STATUS.get(status, "other")
    return response


def _event_type(request: web.Request) -> str | None:
    return request.headers.get("X-Forgejo-Event-Type") or request.headers.get("X-Gitea-Event-Type")


async def handle_webhook(request: web.Request) -> web.Response:
    """Answer a delivery (see `_receive`); count it by forge, event and outcome, and time it."""
    started = time.perf_counter()
    outcome = "error"
    activity = request.app[WORKER].intake
    activity.started()
    try:
        response = await _receive(request, started)
        outcome = response.get(OUTCOME, "other")
        return response
    finally:
        activity.finished()
        metrics = request.app.get(METRICS)
        if metrics is not None:
            # Names from unverified requests are not used as labels (no unbounded series).
            unverified = outcome in UNVERIFIED_OUTCOMES
            forge = request.match_info["forge"]
            if outcome in ("not_found", "error") and request.app[SETTINGS].forge(forge) is None:
                forge = "unknown"
            metrics.observe_delivery(
                forge,
                "" if unverified else request.headers.get("X-GitHub-Event", "").strip()[:64],
                outcome,
                time.perf_counter() - started,
            )


async def _receive(request: web.Request, started: float) -> web.Response:
    """Verify, normalise and store one delivery; `started` is when its handling began."""
    forge_name = request.match_info["forge"]
    forge = request.app[SETTINGS].forge(forge_name)
    if forge is None or forge.webhook_secret is None:
        return _reply(404, f"unknown forge {forge_name!r}")
    # The usual header is compared as is; anything else is parsed (parameters, case).
    content_type = request.headers.get("Content-Type")
    if content_type != "application/json":
        content_type = request.content_type
    if content_type != "application/json":
        return _reply(415, f"content type must be application/json, not {content_type!r}")
    limit = request.app[SETTINGS].server.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return _reply(413, f"body larger than {limit} bytes")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _reply(413, f"body larger than {limit} bytes")
    if len(body) > limit:
        return _reply(413, f"body larger than {limit} bytes")
    if not signature_is_valid(forge.webhook_secret.get_secret_value(), body, request.headers):
        log_event(
            logger,
            logging.WARNING,
            "signature rejected",
            forge=forge_name,
            delivery=request.headers.get("X-GitHub-Delivery", "")[:200] or None,
        )
        return _reply(401, "missing or wrong signature")

    event_name = request.headers.get("X-GitHub-Event", "").strip()
    delivery_id = request.headers.get("X-GitHub-Delivery", "").strip()
    if not event_name:
        return _reply(400, "missing X-GitHub-Event header")
    if not delivery_id or len(delivery_id) > 200:
        return _reply(400, "missing or oversized X-GitHub-Delivery header")
    event_type = _event_type(request)
    try:
        # Checked, not built: the event is made when the delivery is processed.
        triaged = triage(
            forge=forge_name,
            forge_kind=forge.kind,
            event_name=event_name,
            event_type=event_type,
            payload=body,
            delivery_id=delivery_id,
        )
    except PayloadError as error:
        reason = str(error).splitlines()[0][:300]
        if not isinstance(error, MalformedJsonError):
            reason = f"payload: {reason}"
        return _reply(400, reason)
    fields: dict[str, object] = {
        "delivery": delivery_id,
        "forge": forge_name,
        "github_event": event_name,
    }
    if isinstance(triaged, PingEvent):
        log_event(logger, logging.INFO, "ping", **fields)
        pong = web.Response(status=200, text="pong")
        pong[OUTCOME] = "ping"
        return pong
    if (
        isinstance(triaged, Triaged)
        and triaged.comment_body is not None
        and not POSSIBLE_COMMAND.search(triaged.comment_body)
    ):
        triaged = IgnoredEvent(reason="a comment without a command")
    if isinstance(triaged, IgnoredEvent):
        log_event(logger, logging.DEBUG, "ignored", reason=triaged.reason, **fields)
        return _reply(202, f"ignored: {triaged.reason}", "ignored")
    fields |= {"repo": triaged.repo, "issue": triaged.number}
    row_id = await request.app[INBOX].add(forge_name, delivery_id, event_name, event_type, body)
    if row_id is None:
        log_event(logger, logging.INFO, "duplicate delivery", **fields)
        return _reply(200, "duplicate delivery: already received", "duplicate")
    request.app[WORKER].submit(
        InboxRow(row_id, forge_name, delivery_id, event_name, event_type, body)
    )
    log_event(
        logger,
        logging.INFO,
        "accepted",
        inbox_id=row_id,
        milliseconds=round((time.perf_counter() - started) * 1000, 2),
        **fields,
    )
    return _reply(202, "accepted", "accepted")
