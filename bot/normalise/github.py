"""GitHub webhook payloads to normalised events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NotRequired

from pydantic import with_config
from typing_extensions import TypedDict

from bot.events import CommentEvent, CommentKind, IgnoredEvent, LabelEvent, NormalisedEvent
from bot.normalise.common import (
    Context,
    Payload,
    Triaged,
    base_fields,
    build,
    editor_or_author,
    ignored,
    issue_fields,
    label_names,
    no_trigger,
    parse_acting,
    previous_body,
    pull_request_fields,
    short,
)
from bot.normalise.shapes import (
    RAW,
    PositiveId,
    RawAction,
    RawChanges,
    RawComment,
    RawIssue,
    RawLabel,
    RawPullRequest,
    RawRepository,
    RawUser,
)

_COMMENT_ACTIONS = {"created": "created", "edited": "edited"}
_REVIEW_ACTIONS = {"submitted": "created", "edited": "edited"}
_LABEL_ACTIONS = ("labeled", "unlabeled")


@with_config(RAW)
class _IssueCommentPayload(RawAction):
    issue: RawIssue
    comment: RawComment
    repository: RawRepository
    changes: NotRequired[RawChanges | None]
    sender: NotRequired[RawUser | None]


@with_config(RAW)
class _ReviewCommentPayload(RawAction):
    pull_request: RawPullRequest
    comment: RawComment
    repository: RawRepository
    changes: NotRequired[RawChanges | None]
    sender: NotRequired[RawUser | None]


@with_config(RAW)
class _Review(TypedDict):
    id: PositiveId
    body: NotRequired[str | None]
    user: RawUser


@with_config(RAW)
class _ReviewPayload(RawAction):
    pull_request: RawPullRequest
    review: _Review
    repository: RawRepository
    changes: NotRequired[RawChanges | None]


@with_config(RAW)
class _IssueLabelPayload(RawAction):
    issue: RawIssue
    label: NotRequired[RawLabel | None]
    repository: RawRepository
    sender: RawUser


@with_config(RAW)
class _PullRequestLabelPayload(RawAction):
    pull_request: RawPullRequest
    label: NotRequired[RawLabel | None]
    repository: RawRepository
    sender: RawUser


def _issue_comment(ctx: Context, payload: Payload) -> NormalisedEvent | Triaged:
    what = "issue_comment"
    raw = parse_acting(_IssueCommentPayload, payload, what, _COMMENT_ACTIONS)
    if isinstance(raw, IgnoredEvent):
        return raw
    action, comment = raw["action"], raw["comment"]
    if ctx.triage:
        number = raw["issue"]["number"]
        return Triaged(raw["repository"]["full_name"], number, comment.get("body") or "")
    fields = issue_fields(raw["issue"])
    return build(
        CommentEvent,
        what,
        **base_fields(ctx, raw["repository"], editor_or_author(raw, action)),
        **fields,
        action=_COMMENT_ACTIONS[action],
        comment_kind=CommentKind.PULL_REQUEST if fields["is_pull_request"] else CommentKind.ISSUE,
        comment_id=comment["id"],
        comment_body=comment.get("body") or "",
        previous_body=previous_body(raw.get("changes")) if action == "edited" else None,
    )


def _review_comment(ctx: Context, payload: Payload) -> NormalisedEvent | Triaged:
    what = "pull_request_review_comment"
    raw = parse_acting(_ReviewCommentPayload, payload, what, _COMMENT_ACTIONS)
    if isinstance(raw, IgnoredEvent):
        return raw
    action, comment = raw["action"], raw["comment"]
    if ctx.triage:
        number = raw["pull_request"]["number"]
        return Triaged(raw["repository"]["full_name"], number, comment.get("body") or "")
    return build(
        CommentEvent,
        what,
        **base_fields(ctx, raw["repository"], editor_or_author(raw, action)),
        **pull_request_fields(raw["pull_request"]),
        action=_COMMENT_ACTIONS[action],
        comment_kind=CommentKind.REVIEW_COMMENT,
        comment_id=comment["id"],
        comment_body=comment.get("body") or "",
        previous_body=previous_body(raw.get("changes")) if action == "edited" else None,
    )


def _review(ctx: Context, payload: Payload) -> NormalisedEvent | Triaged:
    what = "pull_request_review"
    raw = parse_acting(_ReviewPayload, payload, what, _REVIEW_ACTIONS)
    if isinstance(raw, IgnoredEvent):
        return raw
    action, review = raw["action"], raw["review"]
    body = review.get("body") or ""
    if not body.strip():
        return ignored(f"{what} without a body carries no trigger")
    if ctx.triage:
        return Triaged(raw["repository"]["full_name"], raw["pull_request"]["number"], body)
    return build(
        CommentEvent,
        what,
        **base_fields(ctx, raw["repository"], review["user"]),
        **pull_request_fields(raw["pull_request"]),
        action=_REVIEW_ACTIONS[action],
        comment_kind=CommentKind.REVIEW,
        comment_id=review["id"],
        comment_body=body,
        previous_body=previous_body(raw.get("changes")) if action == "edited" else None,
    )


def _label_change(action: str, label: RawLabel | None, current: tuple[str, ...]) -> dict[str, Any]:
    if label is None:
        # Not seen in practice (the schema marks `label` optional): fall back to the snapshot
        # semantics of Gitea/Forgejo so the change is still computed against the stored set.
        return {"current_labels": current, "labels_are_snapshot": True}
    # Keep `current_labels` consistent with the change even if the payload's list lags behind.
    name = label["name"]
    if action == "labeled":
        current_set = set(current) | {name}
        added, removed = (name,), ()
    else:
        current_set = set(current) - {name}
        added, removed = (), (name,)
    return {
        "current_labels": tuple(sorted(current_set)),
        "labels_added": added,
        "labels_removed": removed,
    }


def _issues(ctx: Context, payload: Payload) -> NormalisedEvent | Triaged:
    what = "issues"
    raw = parse_acting(_IssueLabelPayload, payload, what, _LABEL_ACTIONS)
    if isinstance(raw, IgnoredEvent):
        return raw
    issue = raw["issue"]
    if ctx.triage:
        return Triaged(raw["repository"]["full_name"], issue["number"])
    return build(
        LabelEvent,
        what,
        **base_fields(ctx, raw["repository"], raw["sender"]),
        **issue_fields(issue),
        **_label_change(raw["action"], raw.get("label"), label_names(issue.get("labels"))),
    )


def _pull_request(ctx: Context, payload: Payload) -> NormalisedEvent | Triaged:
    what = "pull_request"
    raw = parse_acting(_PullRequestLabelPayload, payload, what, _LABEL_ACTIONS)
    if isinstance(raw, IgnoredEvent):
        return raw
    pull_request = raw["pull_request"]
    if ctx.triage:
        return Triaged(raw["repository"]["full_name"], pull_request["number"])
    labels = label_names(pull_request.get("labels"))
    return build(
        LabelEvent,
        what,
        **base_fields(ctx, raw["repository"], raw["sender"]),
        **pull_request_fields(pull_request),
        **_label_change(raw["action"], raw.get("label"), labels),
    )


_HANDLERS: dict[str, Callable[[Context, Payload], NormalisedEvent | Triaged]] = {
    "issue_comment": _issue_comment,
    "pull_request_review_comment": _review_comment,
    "pull_request_review": _review,
    "issues": _issues,
    "pull_request": _pull_request,
}


def normalise_github(ctx: Context, event_name: str, payload: Payload) -> NormalisedEvent | Triaged:
    """Normalise one GitHub delivery (`ping` is handled by the caller)."""
    handler = _HANDLERS.get(event_name)
    if handler is None:
        return no_trigger(payload, f"GitHub event {short(event_name)} carries no trigger")
    return handler(ctx, payload)
