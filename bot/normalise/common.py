"""Conversion helpers shared by the GitHub and Gitea/Forgejo dialects (shapes: `shapes.py`)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Container
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from bot.events import (
    ForgeKind,
    IgnoredEvent,
    MalformedJsonError,
    PayloadError,
    PullRequestHead,
    RepositoryRef,
)
from bot.normalise.shapes import (
    RawAction,
    RawBranch,
    RawChanges,
    RawIssue,
    RawLabel,
    RawObject,
    RawPullRequest,
    RawRepository,
    RawUser,
)

_MAX_REASON = 300


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
T = TypeVar("T")


def describe_validation_error(exc: ValidationError, what: str) -> str:
    """One line naming the first bad or missing field of a payload."""
    errors = exc.errors(include_url=False, include_input=False)
    if not errors:
        return one_line(f"{what}: invalid payload")
    first = errors[0]
    if first["type"] == "json_invalid":
        return one_line(f"malformed JSON: {first['msg'].removeprefix('Invalid JSON: ')}")
    if first["type"] == "dict_type" and not first["loc"]:
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


# A payload: the raw JSON body (read straight into the shapes: only the fields they name are
# made into Python objects), or the JSON already decoded.
Payload = bytes | dict[str, Any]


@functools.cache
def _adapter(shape: type[T]) -> TypeAdapter[T]:
    return TypeAdapter(shape)


def parse(shape: type[T], payload: Payload, what: str) -> T:
    """Validate `payload` as `shape`, turning any ValidationError into a PayloadError."""
    try:
        if isinstance(payload, bytes):
            return _adapter(shape).validate_json(payload)
        return _adapter(shape).validate_python(payload)
    except ValidationError as exc:
        error = MalformedJsonError if _is_malformed_json(exc) else PayloadError
        raise error(describe_validation_error(exc, what)) from None


def _is_malformed_json(exc: ValidationError) -> bool:
    errors = exc.errors(include_url=False, include_input=False)
    return bool(errors) and errors[0]["type"] == "json_invalid"


def require_json_object(payload: Payload, what: str) -> None:
    """Refuse a body that is not a JSON object, even for an event whose fields are not read."""
    if isinstance(payload, bytes):
        parse(RawObject, payload, what)


def build(model: type[M], what: str, **fields: Any) -> M:
    """Construct a normalised model, turning any ValidationError into a PayloadError."""
    try:
        return model(**fields)
    except ValidationError as exc:
        raise PayloadError(describe_validation_error(exc, what)) from None


def action_of(payload: Payload, what: str) -> str:
    """The payload's `action`, which every event the bot handles carries."""
    return parse(RawAction, payload, what)["action"]


A = TypeVar("A", bound=RawAction)


def parse_acting(
    shape: type[A], payload: Payload, what: str, actions: Container[str]
) -> A | IgnoredEvent:
    """Validate `payload` as `shape`, action included, in one pass; a delivery whose action is
    not among `actions` is ignored whatever else it lacks, as if its action were read first."""
    try:
        raw = parse(shape, payload, what)
    except PayloadError:
        action = action_of(payload, what)  # its own error when the action itself is bad
        if action not in actions:
            return ignored(f"{what} action {short(action)} carries no trigger")
        raise
    if raw["action"] not in actions:
        return ignored(f"{what} action {short(raw['action'])} carries no trigger")
    return raw


def ignored(reason: str) -> IgnoredEvent:
    return IgnoredEvent(reason=one_line(reason))


def no_trigger(payload: Payload, reason: str) -> IgnoredEvent:
    """An event the bot has no use for: ignored, once its body is known to be a JSON object
    (malformed JSON is refused whatever the event)."""
    require_json_object(payload, "payload")
    return ignored(reason)


def short(value: object) -> str:
    """A quoted, truncated rendering of an untrusted value for a reason string."""
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def is_bot(user: RawUser) -> bool:
    """GitHub marks app accounts `type: "Bot"` and their logins end in `[bot]`."""
    return user.get("type") == "Bot" or user["login"].endswith("[bot]")


def repository_ref(repo: RawRepository) -> RepositoryRef:
    fields: dict[str, Any] = {"full_name": repo["full_name"], "clone_url": repo["clone_url"]}
    if repo.get("default_branch"):
        fields["default_branch"] = repo["default_branch"]
    if repo.get("html_url"):
        fields["html_url"] = repo["html_url"]
    return RepositoryRef(**fields)


def pull_request_head(pr: RawPullRequest) -> PullRequestHead | None:
    """The PR's head; a fork when the head repository differs from the base one (or is gone)."""
    head = pr.get("head")
    if head is None:
        return None
    head_repo = head.get("repo")
    sha = head.get("sha") or ""
    if head_repo is None:
        # GitHub sends `head.repo: null` when the fork was deleted: treat it as a fork.
        return PullRequestHead(repo_full_name="", ref=head["ref"], sha=sha, is_fork=True)
    return PullRequestHead(
        repo_full_name=head_repo["full_name"],
        clone_url=head_repo.get("clone_url") or "",
        ref=head["ref"],
        sha=sha,
        is_fork=_is_fork(head, pr.get("base")),
    )


def _is_fork(head: RawBranch, base: RawBranch | None) -> bool:
    head_repo = head.get("repo")
    base_repo = base.get("repo") if base is not None else None
    if base is None or base_repo is None or head_repo is None:
        return True  # cannot show it is the same repository: assume the worst
    head_id = head_repo.get("id")
    head_id = head_id if head_id is not None else head.get("repo_id")
    base_id = base_repo.get("id")
    base_id = base_id if base_id is not None else base.get("repo_id")
    if head_id is not None and base_id is not None:
        return head_id != base_id
    return head_repo["full_name"].casefold() != base_repo["full_name"].casefold()


def label_names(labels: list[RawLabel] | None) -> tuple[str, ...]:
    """Label names, de-duplicated and sorted."""
    return tuple(sorted({label["name"] for label in labels or ()}))


def previous_body(changes: RawChanges | None) -> str | None:
    body = changes.get("body") if changes is not None else None
    return body["from"] if body is not None else None


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
        "actor_login": actor["login"],
        "actor_is_bot": is_bot(actor),
    }


def issue_fields(issue: RawIssue) -> dict[str, Any]:
    """The EventBase fields about an issue (or a PR seen as an issue: no head, no base)."""
    return {
        "number": issue["number"],
        "is_pull_request": issue.get("pull_request") is not None,
        "title": issue.get("title") or "",
        "body": issue.get("body") or "",
        "html_url": issue.get("html_url") or "",
    }


def pull_request_fields(pr: RawPullRequest) -> dict[str, Any]:
    """The EventBase fields about a pull request, with its head and base."""
    base = pr.get("base")
    return {
        "number": pr["number"],
        "is_pull_request": True,
        "title": pr.get("title") or "",
        "body": pr.get("body") or "",
        "html_url": pr.get("html_url") or "",
        "pull_request_head": pull_request_head(pr),
        "pull_request_base_ref": base["ref"] if base is not None else None,
    }


def editor_or_author(raw: Any, action: str) -> RawUser:
    """Who a comment event acts for: on an edit, the person who edited it (the `sender`),
    since the commands an edit adds are theirs; otherwise the comment's author."""
    sender = raw.get("sender")
    if action == "edited" and sender is not None:
        return sender
    return raw["comment"]["user"]
