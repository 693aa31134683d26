"""GitHub webhook payloads to normalised events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.events import CommentEvent, CommentKind, LabelEvent, NormalisedEvent
from bot.normalise.common import (
    Context,
    PositiveId,
    Raw,
    RawChanges,
    RawComment,
    RawIssue,
    RawLabel,
    RawPullRequest,
    RawRepository,
    RawUser,
    action_of,
    base_fields,
    build,
    editor_or_author,
    ignored,
    issue_fields,
    label_names,
    parse,
    previous_body,
    pull_request_fields,
    short,
)

_COMMENT_ACTIONS = {"created": "created", "edited": "edited"}
_REVIEW_ACTIONS = {"submitted": "created", "edited": "edited"}
_LABEL_ACTIONS = ("labeled", "unlabeled")


class _IssueCommentPayload(Raw):
    issue: RawIssue
    comment: RawComment
    repository: RawRepository
    changes: RawChanges | None = None
    sender: RawUser | None = None


class _ReviewCommentPayload(Raw):
    pull_request: RawPullRequest
    comment: RawComment
    repository: RawRepository
    changes: RawChanges | None = None
    sender: RawUser | None = None


class _Review(Raw):
    id: PositiveId
    body: str | None = None
    user: RawUser


class _ReviewPayload(Raw):
    pull_request: RawPullRequest
    review: _Review
    repository: RawRepository
    changes: RawChanges | None = None


class _IssueLabelPayload(Raw):
    issue: RawIssue
    label: RawLabel | None = None
    repository: RawRepository
    sender: RawUser


class _PullRequestLabelPayload(Raw):
    pull_request: RawPullRequest
    label: RawLabel | None = None
    repository: RawRepository
    sender: RawUser


def _issue_comment(ctx: Context, payload: dict[str, Any]) -> NormalisedEvent:
    what = "issue_comment"
    action = action_of(payload, what)
    if action not in _COMMENT_ACTIONS:
        return ignored(f"{what} action {short(action)} carries no trigger")
    raw = parse(_IssueCommentPayload, payload, what)
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


def _review_comment(ctx: Context, payload: dict[str, Any]) -> NormalisedEvent:
    what = "pull_request_review_comment"
    action = action_of(payload, what)
    if action not in _COMMENT_ACTIONS:
        return ignored(f"{what} action {short(action)} carries no trigger")
    raw = parse(_ReviewCommentPayload, payload, what)
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


def _review(ctx: Context, payload: dict[str, Any]) -> NormalisedEvent:
    what = "pull_request_review"
    action = action_of(payload, what)
    if action not in _REVIEW_ACTIONS:
        return ignored(f"{what} action {short(action)} carries no trigger")
    raw = parse(_ReviewPayload, payload, what)
    if not (raw.review.body or "").strip():
        return ignored(f"{what} without a body carries no trigger")
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


def _issues(ctx: Context, payload: dict[str, Any]) -> NormalisedEvent:
    what = "issues"
    action = action_of(payload, what)
    if action not in _LABEL_ACTIONS:
        return ignored(f"{what} action {short(action)} carries no trigger")
    raw = parse(_IssueLabelPayload, payload, what)
    return build(
        LabelEvent,
        what,
        **base_fields(ctx, raw.repository, raw.sender),
        **issue_fields(raw.issue),
        **_label_change(action, raw.label, label_names(raw.issue.labels)),
    )


def _pull_request(ctx: Context, payload: dict[str, Any]) -> NormalisedEvent:
    what = "pull_request"
    action = action_of(payload, what)
    if action not in _LABEL_ACTIONS:
        return ignored(f"{what} action {short(action)} carries no trigger")
    raw = parse(_PullRequestLabelPayload, payload, what)
    return build(
        LabelEvent,
        what,
        **base_fields(ctx, raw.repository, raw.sender),
        **pull_request_fields(raw.pull_request),
        **_label_change(action, raw.label, label_names(raw.pull_request.labels)),
    )


_HANDLERS: dict[str, Callable[[Context, dict[str, Any]], NormalisedEvent]] = {
    "issue_comment": _issue_comment,
    "pull_request_review_comment": _review_comment,
    "pull_request_review": _review,
    "issues": _issues,
    "pull_request": _pull_request,
}


def normalise_github(ctx: Context, event_name: str, payload: dict[str, Any]) -> NormalisedEvent:
    """Normalise one GitHub delivery (`ping` is handled by the caller)."""
    handler = _HANDLERS.get(event_name)
    if handler is None:
        return ignored(f"GitHub event {short(event_name)} carries no trigger")
    return handler(ctx, payload)
