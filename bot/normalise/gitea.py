"""Gitea and Forgejo webhook payloads (one shared dialect) to normalised events."""

from __future__ import annotations

from typing import Any, NotRequired

from pydantic import with_config
from typing_extensions import TypedDict

from bot.events import CommentEvent, CommentKind, IgnoredEvent, LabelEvent, NormalisedEvent
from bot.normalise.common import (
    Context,
    Payload,
    Triaged,
    action_of,
    base_fields,
    build,
    editor_or_author,
    ignored,
    issue_fields,
    label_names,
    no_trigger,
    parse,
    parse_acting,
    previous_body,
    pull_request_fields,
    short,
    synthetic_comment_id,
)
from bot.normalise.shapes import (
    RAW,
    PositiveId,
    RawAction,
    RawChanges,
    RawComment,
    RawIssue,
    RawPullRequest,
    RawRepository,
    RawUser,
)

_COMMENT_ACTIONS = ("created", "edited")
_LABEL_ACTIONS = ("label_updated", "label_cleared")
# `X-GitHub-Event` of a submitted review (HookEventType.Event() in Gitea/Forgejo).
_REVIEW_EVENTS = frozenset(
    {"pull_request_approved", "pull_request_rejected", "pull_request_comment"}
)
# `X-Gitea-Event-Type` / `X-Forgejo-Event-Type` of a submitted review.
_REVIEW_SUBTYPES = frozenset(
    {"pull_request_review_approved", "pull_request_review_rejected", "pull_request_review_comment"}
)
_REVIEWED = "reviewed"  # the action of every review delivery (api.HookIssueReviewed)


@with_config(RAW)
class _CommentPayload(TypedDict):
    issue: RawIssue
    comment: RawComment
    repository: RawRepository
    changes: NotRequired[RawChanges | None]
    is_pull: NotRequired[bool | None]  # absent on older Gitea
    pull_request: NotRequired[RawPullRequest | None]  # not sent today; read if a version adds it
    sender: NotRequired[RawUser | None]


@with_config(RAW)
class _Review(TypedDict):
    type: NotRequired[str | None]
    content: NotRequired[str | None]
    id: NotRequired[PositiveId | None]  # not sent today; used if a version adds it


@with_config(RAW)
class _ReviewPayload(TypedDict):
    pull_request: RawPullRequest
    review: _Review
    repository: RawRepository
    sender: RawUser


@with_config(RAW)
class _IssueLabelPayload(RawAction):
    issue: RawIssue
    repository: RawRepository
    sender: RawUser


@with_config(RAW)
class _PullRequestLabelPayload(RawAction):
    pull_request: RawPullRequest
    repository: RawRepository
    sender: RawUser


def _comment(
    ctx: Context, event_type: str | None, payload: Payload, action: str
) -> NormalisedEvent | Triaged:
    what = "issue_comment"
    if action not in _COMMENT_ACTIONS:
        return ignored(f"{what} action {short(action)} carries no trigger")
    raw = parse(_CommentPayload, payload, what)
    comment, issue = raw["comment"], raw["issue"]
    if ctx.triage:
        return Triaged(raw["repository"]["full_name"], issue["number"], comment.get("body") or "")
    fields = issue_fields(issue)
    if not fields["html_url"] and comment.get("html_url"):
        # Issues of older Gitea versions carry no `html_url`; the comment's has it.
        fields["html_url"] = comment["html_url"].partition("#")[0]
    pull_request = raw.get("pull_request")
    if pull_request is not None:
        pr_fields = pull_request_fields(pull_request)
        fields["pull_request_head"] = pr_fields["pull_request_head"]
        fields["pull_request_base_ref"] = pr_fields["pull_request_base_ref"]
    is_pr = (
        raw.get("is_pull") is True
        or event_type == "pull_request_comment"
        or issue.get("pull_request") is not None
        or pull_request is not None
    )
    fields["is_pull_request"] = is_pr
    return build(
        CommentEvent,
        what,
        **base_fields(ctx, raw["repository"], editor_or_author(raw, action)),
        **fields,
        action=action,
        comment_kind=CommentKind.PULL_REQUEST if is_pr else CommentKind.ISSUE,
        comment_id=comment["id"],
        comment_body=comment.get("body") or "",
        previous_body=previous_body(raw.get("changes")) if action == "edited" else None,
    )


def _review(
    ctx: Context, event_name: str, payload: Payload, action: str
) -> NormalisedEvent | Triaged:
    what = event_name
    if action != _REVIEWED:
        return ignored(f"{short(what)} action {short(action)} carries no trigger")
    raw = parse(_ReviewPayload, payload, short(what))
    review, pull_request, repository = raw["review"], raw["pull_request"], raw["repository"]
    content = review.get("content") or ""
    if not content.strip():
        return ignored("review without a body carries no trigger")
    if ctx.triage:
        return Triaged(repository["full_name"], pull_request["number"], content)
    fields = pull_request_fields(pull_request)
    head = fields["pull_request_head"]
    # Gitea/Forgejo send no id for a review: derive a stable one (see synthetic_comment_id).
    comment_id = review.get("id") or synthetic_comment_id(
        repository["full_name"],
        pull_request["number"],
        raw["sender"]["login"],
        review.get("type") or event_name,
        head.sha if head is not None else "",
        content,
    )
    return build(
        CommentEvent,
        short(what),
        **base_fields(ctx, repository, raw["sender"]),
        **fields,
        action="created",
        comment_kind=CommentKind.REVIEW,
        comment_id=comment_id,
        comment_body=content,
    )


def _labels(ctx: Context, event_name: str, payload: Payload) -> NormalisedEvent | Triaged:
    what = event_name
    shape = _PullRequestLabelPayload if event_name == "pull_request" else _IssueLabelPayload
    raw: Any = parse_acting(shape, payload, what, _LABEL_ACTIONS)
    if isinstance(raw, IgnoredEvent):
        return raw
    repository = raw["repository"]
    if event_name == "pull_request":
        pull_request = raw["pull_request"]
        if ctx.triage:
            return Triaged(repository["full_name"], pull_request["number"])
        fields = pull_request_fields(pull_request)
        labels = pull_request.get("labels")
    else:
        issue = raw["issue"]
        if ctx.triage:
            return Triaged(repository["full_name"], issue["number"])
        fields = issue_fields(issue)
        labels = issue.get("labels")
    current = () if raw["action"] == "label_cleared" else label_names(labels)
    return build(
        LabelEvent,
        what,
        **base_fields(ctx, repository, raw["sender"]),
        **fields,
        current_labels=current,
        labels_are_snapshot=True,
    )


def normalise_gitea(
    ctx: Context, event_name: str, event_type: str | None, payload: Payload
) -> NormalisedEvent | Triaged:
    """Normalise one Gitea or Forgejo delivery (`ping` is handled by the caller)."""
    if event_name in _REVIEW_EVENTS or event_type in _REVIEW_SUBTYPES:
        return _review(ctx, event_name, payload, action_of(payload, event_name))
    if event_name == "issue_comment":
        action = action_of(payload, event_name)
        if action == _REVIEWED:
            # Older Gitea sent a "comment" review as event `issue_comment`, sub-type
            # `pull_request_comment`, with the review payload (action `reviewed`, no `comment`).
            return _review(ctx, event_name, payload, action)
        return _comment(ctx, event_type, payload, action)
    if event_name in ("issues", "pull_request"):
        return _labels(ctx, event_name, payload)
    return no_trigger(
        payload, f"{ctx.forge_kind.value} event {short(event_name)} carries no trigger"
    )
