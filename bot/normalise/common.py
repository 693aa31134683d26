"""Raw payload shapes shared by the GitHub and Gitea/Forgejo dialects, and conversion helpers."""

from __future__ import annotations

import hashlib
from collections.abc import Container
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.events import (
    ForgeKind,
    IgnoredEvent,
    PayloadError,
    PullRequestHead,
    RepositoryRef,
)

_MAX_REASON = 300
# Issue numbers and ids: positive, and small enough to be stored as SQLite integers.
PositiveId = Annotated[int, Field(gt=0, le=2**63 - 1)]


class Raw(BaseModel):
    """Base of every raw shape: JSON types exactly (strict), unknown fields ignored."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class RawUser(Raw):
    login: str
    type: str | None = None  # GitHub only: "User", "Bot", "Organization"


class RawLabel(Raw):
    name: str


class RawRepoMeta(Raw):
    """A repository as it appears in a PR's head/base: only the fields the bot reads."""

    id: int | None = None
    full_name: str
    clone_url: str | None = None


class RawRepository(Raw):
    """The repository a delivery is about."""

    id: int | None = None
    full_name: str
    clone_url: str
    default_branch: str | None = None
    html_url: str | None = None


class RawBranch(Raw):
    ref: str
    sha: str | None = None
    repo_id: int | None = None  # Gitea/Forgejo only
    repo: RawRepoMeta | None = None  # GitHub: null when the fork was deleted


class RawPullRequest(Raw):
    number: PositiveId
    title: str | None = None
    body: str | None = None
    html_url: str | None = None
    labels: list[RawLabel] | None = None
    head: RawBranch | None = None
    base: RawBranch | None = None


class RawIssue(Raw):
    number: PositiveId
    title: str | None = None
    body: str | None = None
    html_url: str | None = None
    labels: list[RawLabel] | None = None
    # GitHub: {url, html_url, …} on a PR; Gitea: {merged, merged_at, …}; null on an issue.
    pull_request: dict[str, Any] | None = None


class RawComment(Raw):
    id: PositiveId
    body: str | None = None
    html_url: str | None = None
    user: RawUser


class RawBodyChange(Raw):
    from_: str = Field(alias="from")


class RawChanges(Raw):
    body: RawBodyChange | None = None


class RawAction(Raw):
    """The `action` alone; the base of payloads read in one pass with it (`parse_acting`)."""

    action: str


@dataclass(frozen=True)
class Context:
    """What the caller knows about a delivery besides its payload. With `triage`, a delivery
    that carries a possible trigger is checked but its event is not built (see `Triaged`)."""

    forge: str
    forge_kind: ForgeKind
    delivery_id: str
    triage: bool = False


@dataclass(frozen=True, slots=True)
class Triaged:
    """A delivery checked at intake that may carry a trigger: its payload has every field its
    event needs. The event itself is built when the delivery is processed."""

    repo: str
    number: int
    comment_body: str | None = None  # a comment's body, for intake's command check


M = TypeVar("M", bound=BaseModel)


def describe_validation_error(exc: ValidationError, what: str) -> str:
    """One line naming the first bad or missing field of a payload."""
    errors = exc.errors(include_url=False, include_input=False)
    if not errors:
        return one_line(f"{what}: invalid payload")
    first = errors[0]
    if first["type"] == "json_invalid":
        return one_line(f"malformed JSON: {first['msg'].removeprefix('Invalid JSON: ')}")
    if first["type"] == "model_type" and not first["loc"]:
        return "expected a JSON object"
    path = ".".join(str(part) for part in first["loc"]) or "<payload>"
    if first["type"] == "missing":
        text = f"{what}: missing field '{path}'"
    else:
        message = first["msg"].split(" or instance of ")[0]  # hide the private model names
        text = f"{what}: bad field '{path}': {message}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more)"
    return one_line(text)


def one_line(text: str) -> str:
    """Collapse whitespace to single spaces and cap the length, for reasons and error messages."""
    text = " ".join(text.split())
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"


# A payload: the raw JSON body (read straight into the models: only the fields they name are
# made into Python objects), or the JSON already decoded.
Payload = bytes | dict[str, Any]


class RawObject(Raw):
    """Any JSON object: checks that a body is one, making nothing of its fields."""


def parse(model: type[M], payload: Payload, what: str) -> M:
    """Validate `payload` as `model`, turning any ValidationError into a PayloadError."""
    try:
        if isinstance(payload, bytes):
            return model.model_validate_json(payload)
        return model.model_validate(payload)
    except ValidationError as exc:
        raise PayloadError(describe_validation_error(exc, what)) from None


def build(model: type[M], what: str, **fields: Any) -> M:
    """Construct a normalised model, turning any ValidationError into a PayloadError."""
    try:
        return model(**fields)
    except ValidationError as exc:
        raise PayloadError(describe_validation_error(exc, what)) from None


def action_of(payload: Payload, what: str) -> str:
    """The payload's `action`, which every event the bot handles carries."""
    return parse(RawAction, payload, what).action


A = TypeVar("A", bound=RawAction)


def parse_acting(
    model: type[A], payload: Payload, what: str, actions: Container[str]
) -> A | IgnoredEvent:
    """Validate `payload` as `model`, action included, in one pass; a delivery whose action is
    not among `actions` is ignored whatever else it lacks, as if its action were read first."""
    try:
        raw = parse(model, payload, what)
    except PayloadError:
        action = action_of(payload, what)  # its own error when the action itself is bad
        if action not in actions:
            return ignored(f"{what} action {short(action)} carries no trigger")
        raise
    if raw.action not in actions:
        return ignored(f"{what} action {short(raw.action)} carries no trigger")
    return raw


def ignored(reason: str) -> IgnoredEvent:
    return IgnoredEvent(reason=one_line(reason))


def no_trigger(payload: Payload, reason: str) -> IgnoredEvent:
    """An event the bot has no use for: ignored, once its body is known to be a JSON object
    (malformed JSON is refused whatever the event)."""
    if isinstance(payload, bytes):
        parse(RawObject, payload, "payload")
    return ignored(reason)


def short(value: object) -> str:
    """A quoted, truncated rendering of an untrusted value for a reason string."""
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def is_bot(user: RawUser) -> bool:
    """GitHub marks app accounts `type: "Bot"` and their logins end in `[bot]`."""
    return user.type == "Bot" or user.login.endswith("[bot]")


def repository_ref(repo: RawRepository) -> RepositoryRef:
    fields: dict[str, Any] = {"full_name": repo.full_name, "clone_url": repo.clone_url}
    if repo.default_branch:
        fields["default_branch"] = repo.default_branch
    if repo.html_url:
        fields["html_url"] = repo.html_url
    return RepositoryRef(**fields)


def pull_request_head(pr: RawPullRequest) -> PullRequestHead | None:
    """The PR's head; a fork when the head repository differs from the base one (or is gone)."""
    head = pr.head
    if head is None:
        return None
    if head.repo is None:
        # GitHub sends `head.repo: null` when the fork was deleted: treat it as a fork.
        return PullRequestHead(repo_full_name="", ref=head.ref, sha=head.sha or "", is_fork=True)
    return PullRequestHead(
        repo_full_name=head.repo.full_name,
        clone_url=head.repo.clone_url or "",
        ref=head.ref,
        sha=head.sha or "",
        is_fork=_is_fork(head, pr.base),
    )


def _is_fork(head: RawBranch, base: RawBranch | None) -> bool:
    if base is None or base.repo is None or head.repo is None:
        return True  # cannot show it is the same repository: assume the worst
    head_id = head.repo.id if head.repo.id is not None else head.repo_id
    base_id = base.repo.id if base.repo.id is not None else base.repo_id
    if head_id is not None and base_id is not None:
        return head_id != base_id
    return head.repo.full_name.casefold() != base.repo.full_name.casefold()


def label_names(labels: list[RawLabel] | None) -> tuple[str, ...]:
    """Label names, de-duplicated and sorted."""
    return tuple(sorted({label.name for label in labels or ()}))


def previous_body(changes: RawChanges | None) -> str | None:
    if changes is None or changes.body is None:
        return None
    return changes.body.from_


def synthetic_comment_id(*parts: object) -> int:
    """A stable negative id for a comment the forge gives no id (Gitea/Forgejo review bodies).

    Negative so it never collides with a real comment id; derived from the parts so a replayed
    delivery gets the same id and is de-duplicated.
    """
    text = "\x1f".join(str(part) for part in parts)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return -(int.from_bytes(digest[:8], "big") >> 1) - 1


def base_fields(ctx: Context, repo: RawRepository, actor: RawUser) -> dict[str, Any]:
    """The EventBase fields about the forge, repository and actor."""
    return {
        "forge": ctx.forge,
        "forge_kind": ctx.forge_kind,
        "delivery_id": ctx.delivery_id,
        "repo": repository_ref(repo),
        "actor_login": actor.login,
        "actor_is_bot": is_bot(actor),
    }


def issue_fields(issue: RawIssue) -> dict[str, Any]:
    """The EventBase fields about an issue (or a PR seen as an issue: no head, no base)."""
    return {
        "number": issue.number,
        "is_pull_request": issue.pull_request is not None,
        "title": issue.title or "",
        "body": issue.body or "",
        "html_url": issue.html_url or "",
    }


def pull_request_fields(pr: RawPullRequest) -> dict[str, Any]:
    """The EventBase fields about a pull request, with its head and base."""
    return {
        "number": pr.number,
        "is_pull_request": True,
        "title": pr.title or "",
        "body": pr.body or "",
        "html_url": pr.html_url or "",
        "pull_request_head": pull_request_head(pr),
        "pull_request_base_ref": pr.base.ref if pr.base is not None else None,
    }


def editor_or_author(raw: Any, action: str) -> RawUser:
    """Who a comment event acts for: on an edit, the person who edited it (the `sender`),
    since the commands an edit adds are theirs; otherwise the comment's author."""
    if action == "edited" and raw.sender is not None:
        return raw.sender
    return raw.comment.user
