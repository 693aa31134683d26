"""The narrow interface the rest of the bot uses to talk to a forge, and its data shapes."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from bot.events import CommentKind, ForgeKind, PullRequestHead


class Permission(StrEnum):
    """A person's access to a repository, lowest first."""

    NONE = "none"
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return ["none", "read", "write", "admin"].index(self.value)


class ForgeError(Exception):
    """A forge API call failed; `status` is the HTTP status (0 for a network error)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message


class ForgeNotFound(ForgeError):
    """404 from the forge."""


class ForgeForbidden(ForgeError):
    """403 from the forge (e.g. time tracking disabled, missing scope)."""


class ForgeConflict(ForgeError):
    """409 from the forge (e.g. stopwatch already started / not running)."""


class ForgeUnavailable(ForgeError):
    """The forge did not answer, or answered 5xx, after all retries."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Repository(_Model):
    full_name: str
    clone_url: str
    default_branch: str
    html_url: str = ""
    private: bool = False


class Comment(_Model):
    id: int
    body: str
    author_login: str
    html_url: str = ""
    created_at: str = ""


class Issue(_Model):
    number: int
    title: str
    body: str
    author_login: str
    state: str = "open"
    labels: tuple[str, ...] = ()
    is_pull_request: bool = False
    html_url: str = ""


class PullRequest(_Model):
    number: int
    title: str
    body: str
    state: str
    head: PullRequestHead
    base_ref: str
    html_url: str = ""
    author_login: str = ""


class CreatedPullRequest(_Model):
    number: int
    html_url: str


class GitCredentials(_Model):
    """HTTP basic credentials for git over HTTPS; given per command, never stored."""

    username: str
    password: str

    def __repr__(self) -> str:  # never leak the secret into logs
        return f"GitCredentials(username={self.username!r}, password='***')"

    __str__ = __repr__


@runtime_checkable
class Forge(Protocol):
    """What handlers and the engine may ask of a forge. `repo` is always "owner/name"."""

    name: str
    kind: ForgeKind

    async def get_repository(self, repo: str) -> Repository: ...

    async def get_issue(self, repo: str, number: int) -> Issue: ...

    async def list_issue_comments(self, repo: str, number: int) -> list[Comment]: ...

    async def get_pull_request(self, repo: str, number: int) -> PullRequest: ...

    async def get_collaborator_permission(self, repo: str, login: str) -> Permission: ...

    async def create_comment(self, repo: str, number: int, body: str) -> Comment: ...

    async def edit_comment(self, repo: str, comment_id: int, body: str) -> Comment: ...

    async def add_reaction(
        self, repo: str, comment_id: int, comment_kind: CommentKind, reaction: str = "eyes"
    ) -> None: ...

    async def ensure_label(self, repo: str, name: str, color: str = "ededed") -> None: ...

    async def add_labels(self, repo: str, number: int, names: list[str]) -> None: ...

    async def remove_label(self, repo: str, number: int, name: str) -> None: ...

    async def start_stopwatch(self, repo: str, number: int) -> None: ...

    async def stop_stopwatch(self, repo: str, number: int) -> None: ...

    async def add_tracked_time(self, repo: str, number: int, seconds: int) -> None: ...

    async def tracked_seconds(self, repo: str, number: int, user: str, since: float) -> int:
        """Seconds of tracked time `user` has recorded on the issue since `since` (epoch)."""
        ...

    async def find_open_pull_request(
        self, repo: str, head_branch: str, base_branch: str
    ) -> CreatedPullRequest | None: ...

    async def create_pull_request(
        self, repo: str, *, title: str, body: str, head: str, base: str, draft: bool
    ) -> CreatedPullRequest: ...

    async def git_credentials(self, repo: str) -> GitCredentials: ...
