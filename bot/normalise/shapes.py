"""Raw payload shapes shared by the GitHub and Gitea/Forgejo dialects, as typed dicts.

Typed dicts, not models: pydantic reads a body straight into them, JSON types exactly (strict),
unknown fields skipped, and makes plain dicts, which costs about half as much as model objects
(intake reads every delivery this way, while a burst is arriving). A key marked `NotRequired`
may be absent; read it with `.get`.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from pydantic import ConfigDict, Field, with_config
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

RAW = ConfigDict(strict=True, extra="ignore")
# Issue numbers and ids: positive, and small enough to be stored as SQLite integers.
PositiveId = Annotated[int, Field(gt=0, le=2**63 - 1)]


@with_config(RAW)
class RawUser(TypedDict):
    login: str
    type: NotRequired[str | None]  # GitHub only: "User", "Bot", "Organization"


@with_config(RAW)
class RawLabel(TypedDict):
    name: str


@with_config(RAW)
class RawRepoMeta(TypedDict):
    """A repository as it appears in a PR's head/base: only the fields the bot reads."""

    id: NotRequired[int | None]
    full_name: str
    clone_url: NotRequired[str | None]


@with_config(RAW)
class RawRepository(TypedDict):
    """The repository a delivery is about."""

    id: NotRequired[int | None]
    full_name: str
    clone_url: str
    default_branch: NotRequired[str | None]
    html_url: NotRequired[str | None]


@with_config(RAW)
class RawBranch(TypedDict):
    ref: str
    sha: NotRequired[str | None]
    repo_id: NotRequired[int | None]  # Gitea/Forgejo only
    repo: NotRequired[RawRepoMeta | None]  # GitHub: null when the fork was deleted


@with_config(RAW)
class RawPullRequest(TypedDict):
    number: PositiveId
    title: NotRequired[str | None]
    body: NotRequired[str | None]
    html_url: NotRequired[str | None]
    labels: NotRequired[list[RawLabel] | None]
    head: NotRequired[RawBranch | None]
    base: NotRequired[RawBranch | None]


@with_config(RAW)
class RawIssue(TypedDict):
    number: PositiveId
    title: NotRequired[str | None]
    body: NotRequired[str | None]
    html_url: NotRequired[str | None]
    labels: NotRequired[list[RawLabel] | None]
    # GitHub: {url, html_url, …} on a PR; Gitea: {merged, merged_at, …}; null on an issue.
    pull_request: NotRequired[dict[str, Any] | None]


@with_config(RAW)
class RawComment(TypedDict):
    id: PositiveId
    body: NotRequired[str | None]
    html_url: NotRequired[str | None]
    user: RawUser


RawBodyChange = with_config(RAW)(TypedDict("RawBodyChange", {"from": str}))


@with_config(RAW)
class RawChanges(TypedDict):
    body: NotRequired[RawBodyChange | None]


@with_config(RAW)
class RawAction(TypedDict):
    """The `action` alone; the base of payloads read in one pass with it (`parse_acting`)."""

    action: str


@with_config(RAW)
class RawObject(TypedDict):
    """Any JSON object: checks that a body is one, making nothing of its fields."""
