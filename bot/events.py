"""Typed, forge-independent events that every webhook delivery is normalised into."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ForgeKind(StrEnum):
    """The dialect a forge speaks."""

    FORGEJO = "forgejo"
    GITEA = "gitea"
    GITHUB = "github"


class CommentKind(StrEnum):
    """Where a comment was written."""

    ISSUE = "issue"  # conversation of an issue
    PULL_REQUEST = "pull_request"  # conversation of a pull request
    REVIEW_COMMENT = "review_comment"  # a comment on a line of a PR's diff
    REVIEW = "review"  # the body of a PR review


class RepositoryRef(BaseModel):
    """The repository an event happened in."""

    model_config = ConfigDict(frozen=True)

    full_name: str
    clone_url: str
    default_branch: str = "main"
    html_url: str = ""


class PullRequestHead(BaseModel):
    """Where a pull request's commits come from."""

    model_config = ConfigDict(frozen=True)

    repo_full_name: str
    clone_url: str = ""
    ref: str
    sha: str = ""
    is_fork: bool = False


class EventBase(BaseModel):
    """Fields every normalised event has."""

    model_config = ConfigDict(frozen=True)

    forge: str  # the configured forge name (the {forge} of /webhook/{forge})
    forge_kind: ForgeKind
    delivery_id: str = ""
    repo: RepositoryRef
    number: int
    is_pull_request: bool = False
    title: str = ""
    body: str = ""
    html_url: str = ""
    pull_request_head: PullRequestHead | None = None
    pull_request_base_ref: str | None = None
    actor_login: str
    actor_is_bot: bool = False


class CommentEvent(EventBase):
    """A comment was created or edited (issue, PR conversation, review comment, review body)."""

    type: Literal["comment"] = "comment"
    action: Literal["created", "edited"] = "created"
    comment_kind: CommentKind = CommentKind.ISSUE
    comment_id: int
    comment_body: str
    # For an edit: the body before the edit, so only commands added by the edit count.
    previous_body: str | None = None


class LabelEvent(EventBase):
    """Labels were added to or removed from an issue or pull request.

    GitHub names the one label that changed. Gitea/Forgejo only send the full current list
    (`current_labels`, with `labels_are_snapshot=True`): added/removed are then computed against
    the set stored for that issue, see `bot.labels.diff_label_snapshot`.
    """

    type: Literal["label"] = "label"
    labels_added: tuple[str, ...] = ()
    labels_removed: tuple[str, ...] = ()
    current_labels: tuple[str, ...] = ()
    labels_are_snapshot: bool = False


class PingEvent(BaseModel):
    """A forge's test delivery."""

    model_config = ConfigDict(frozen=True)

    type: Literal["ping"] = "ping"
    forge: str


class IgnoredEvent(BaseModel):
    """A delivery that carries no trigger, with the reason it was ignored."""

    model_config = ConfigDict(frozen=True)

    type: Literal["ignored"] = "ignored"
    reason: str = Field(default="")


NormalisedEvent = CommentEvent | LabelEvent | PingEvent | IgnoredEvent


class PayloadError(ValueError):
    """The payload lacks fields the event needs, or has them with the wrong type."""


class MalformedJsonError(PayloadError):
    """The body is not JSON at all."""
