"""GitHub webhook payloads to normalised events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.events import CommentEvent, CommentKind, IgnoredEvent, LabelEvent, NormalisedEvent
from bot.normalise.common import (
    Context,
    Payload,
    PositiveId,
    Raw,
    RawAction,
    RawChanges,
    RawComment,
    RawIssue,
    RawLabel,
    RawPullRequest,
    RawRepository,
    RawUser,
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

_COMMENT_ACTIONS = {"created": "created", "edited": "edited"}
_REVIEW_ACTIONS = {"submitted": "created", "edited": "edited"}
_LABEL_ACTIONS = ("labeled", "unlabeled")


class _IssueCommentPayload(RawAction):
    issue: RawIssue
    comment: RawComment
    repository: RawRepository
    changes: RawChanges | None = None
    sender: RawUser | None = None


class _ReviewCommentPayload(RawAction):
    pull_request: RawPullRequest
    comment: RawComment
    repository: RawRepository
    changes: RawChanges | None = None
    sender: RawUser | None = None


class _Review(Raw):
    id: PositiveId
    body: str | None = None
    user: RawUser


class _ReviewPayload(RawAction):
    pull_request: RawPullRequest
    review: _Review
    repository: RawRepository
    changes: RawChanges | None = None


class _IssueLabelPayload(RawAction):
    issue: RawIssue
    label: RawLabel | None = None
    repository: RawRepository
    sender: RawUser


class _PullRequestLabelPayload(RawAction):
    pull_request: RawPullRequest
    label: RawLabel | None = None
    repository: RawRepository
    sender: RawUser


def _issue_comment(ctx: Context, payload: Payload) -> NormalisedEvent | Triaged:
    what = "issue_comment"
    raw = parse_acting(_IssueCommentPayload, payload, what, _COMMENT_ACTIONS)
    if isinstance(raw, IgnoredEvent):
        return raw
    action = raw.action
    if ctx.triage:
        return Triaged(raw.repository.full_name, raw.issue.number, raw.comment.body or "")
    fields = issue_fields(raw.issue)
    return build(
        CommentEvent,
        what,
        **base_fields(ctx, raw.repository, editor_or_author(raw, action)),
        **fields,
        action=_COMMENT_ACTIONS[action],
        comment_kind=CommentKind.PULL_REQUEST if fields["is_pull_request"] else CommentKind.ISSUE,
        comment_id=raw.comment.id,
        comment_body=raw.comment.body or "",
        previous_body=previous_body(raw.changes) if action == "edited" else None,
    )


def _review_comment(ctx: Context, payload: Payload) -> NormalisedEvent | Triaged:
    what = "pull_request_review_comment"
    raw = parse_acting(_ReviewCommentPayload, payload, what, _COMMENT_ACTIONS)
    if isinstance(raw, IgnoredEvent):
        return raw
    action = raw.action
    if ctx.triage:
        return Triaged(raw.repository.full_name, raw.pull_request.number, raw.comment.body or "")
    return build(
        CommentEvent,
        what,
        **base_fields(ctx, raw.repository, editor_or_author(raw, action)),
        **pull_request_fields(raw.pull_request),
        action=_COMMENT_ACTIONS[action],
        comment_kind=CommentKind.REVIEW_COMMENT,
        comment_id=raw.comment.id,
        comment_body=raw.comment.body or "",
        previous_body=previous_body(raw.changes) if action == "edited" else None,
    )


def _review(ctx: Context, payload: Payload) -> NormalisedEvent | Triaged:
    what = "pull_request_review"
    raw = parse_acting(_ReviewPayload, payload, what, _REVIEW_ACTIONS)
    if isinstance(raw, IgnoredEvent):
        return raw
    action = raw.action
    if not (raw.review.body or "").strip():
        return ignored(f"{what} without a body carries no trigger")
    if ctx.triage:
        return Triaged(raw.repository.full_name, raw.pull_request.number, raw.review.body)
    return build(
        CommentEvent,
        what,
        **base_fields(ctx, raw.repository, raw.review.user),
        **pull_request_fields(raw.pull_request),
        action=_REVIEW_ACTIONS[action],
        comment_kind=CommentKind.REVIEW,
        comment_id=raw.review.id,
        comment_body=raw.review.body or "",
        previous_body=previous_body(raw.changes) if action == "edited" else None,
    )


def _label_change(action: str, label: RawLabel | None, current: tuple[str, ...]) -> dict[str, Any]:
    if label is None:
        # Not seen in practice (the schema marks `label` optional): fall back to the snapshot
        # semantics of Gitea/Forgejo so the change is still computed against the stored set.
        return {"current_labels": current, "labels_are_snapshot": True}
    # Keep `current_labels` consistent with the change even if the payload's list lags behind.
    if action == "labeled":
        current_set = set(current) | {label.name}
        added, removed = (label.name,), ()
    else:
        current_set = set(current) - {label.name}
        added, removed = (), (label.name,)
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
    action = raw.action
    if ctx.triage:
        return Triaged(raw.repository.full_name, raw.issue.number)
    return build(
        LabelEvent,
        what,
        **base_fields(ctx, raw.repository, raw.sender),
        **issue_fields(raw.issue),
        **_label_change(action, raw.label, label_names(raw.issue.labels)),
    )


def _pull_request(ctx: Context, payload: Payload) -> NormalisedEvent | Triaged:
    what = "pull_request"
    raw = parse_acting(_PullRequestLabelPayload, payload, what, _LABEL_ACTIONS)
    if isinstance(raw, IgnoredEvent):
        return raw
    action = raw.action
    if ctx.triage:
        return Triaged(raw.repository.full_name, raw.pull_request.number)
    return build(
        LabelEvent,
        what,
        **base_fields(ctx, raw.repository, raw.sender),
        **pull_request_fields(raw.pull_request),
        **_label_change(action, raw.label, label_names(raw.pull_request.labels)),
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
