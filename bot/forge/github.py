"""The GitHub adapter of the Forge protocol (github.com and GitHub Enterprise, PAT or App)."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import aiohttp

from bot.events import CommentKind, ForgeKind, PullRequestHead
from bot.forge.github_app import GitHubAppAuth
from bot.forge.http import ForgeClient, RetryPolicy, parse_permission, repo_vars
from bot.forge.protocol import (
    Comment,
    CreatedPullRequest,
    ForgeError,
    ForgeForbidden,
    ForgeNotFound,
    GitCredentials,
    Issue,
    Permission,
    PullRequest,
    Repository,
)

log = logging.getLogger(__name__)

REPO = "/repos/{owner}/{repo}"
ISSUE = REPO + "/issues/{number}"
REACTION_URLS = {
    CommentKind.ISSUE: REPO + "/issues/comments/{comment_id}/reactions",
    CommentKind.PULL_REQUEST: REPO + "/issues/comments/{comment_id}/reactions",
    CommentKind.REVIEW_COMMENT: REPO + "/pulls/comments/{comment_id}/reactions",
}


def to_comment(answer: dict[str, Any]) -> Comment:
    return Comment(
        id=answer["id"],
        body=answer.get("body") or "",
        author_login=(answer.get("user") or {}).get("login", ""),
        html_url=answer.get("html_url") or "",
        created_at=answer.get("created_at") or "",
    )


class GitHubForge:
    """Talks to one GitHub with a personal access token or as a GitHub App installation."""

    kind = ForgeKind.GITHUB

    def __init__(
        self,
        name: str,
        session: aiohttp.ClientSession,
        api_url: str = "https://api.github.com",
        token: str | None = None,
        app: GitHubAppAuth | None = None,
        *,
        policy: RetryPolicy | None = None,
    ) -> None:
        if (token is None) == (app is None):
            raise ValueError("GitHubForge needs either a token or a GitHub App, not both")
        self.name = name
        self.client = ForgeClient(session, base_url=api_url, policy=policy)
        self._token = token
        self._app = app
        self._labels: dict[str, set[str]] = {}  # repo -> lower-cased label names known to exist

    def __repr__(self) -> str:
        return f"GitHubForge(name={self.name!r}, api_url={self.client.base_url!r})"

    async def _access_token(self, repo: str) -> str:
        if self._app is not None:
            return await self._app.installation_token(repo)
        assert self._token is not None
        return self._token

    async def _call(
        self, method: str, url: str, repo: str, data: Any = b"", **variables: Any
    ) -> Any:
        """A call as `repo`'s installation (or the PAT); one retry with a new token after a 401."""
        url_vars = repo_vars(repo) | variables
        token = await self._access_token(repo)
        try:
            return await self.client.call(method, url, url_vars, data=data, token=token)
        except ForgeError as error:
            if error.status != 401 or self._app is None:
                raise
            self._app.forget(repo)
            token = await self._access_token(repo)
            return await self.client.call(method, url, url_vars, data=data, token=token)

    async def get_repository(self, repo: str) -> Repository:
        answer = await self._call("GET", REPO, repo)
        return Repository(
            full_name=answer["full_name"],
            clone_url=answer["clone_url"],
            default_branch=answer.get("default_branch") or "main",
            html_url=answer.get("html_url") or "",
            private=bool(answer.get("private")),
        )

    async def get_issue(self, repo: str, number: int) -> Issue:
        answer = await self._call("GET", ISSUE, repo, number=number)
        labels = [label if isinstance(label, str) else label["name"] for label in answer["labels"]]
        return Issue(
            number=answer["number"],
            title=answer.get("title") or "",
            body=answer.get("body") or "",
            author_login=(answer.get("user") or {}).get("login", ""),
            state=answer.get("state") or "open",
            labels=tuple(labels),
            is_pull_request=answer.get("pull_request") is not None,
            html_url=answer.get("html_url") or "",
        )

    async def list_issue_comments(self, repo: str, number: int) -> list[Comment]:
        url = ISSUE + "/comments?per_page=100"
        token = await self._access_token(repo)
        answers = await self.client.get_all(url, repo_vars(repo) | {"number": number}, token=token)
        return [to_comment(answer) for answer in answers]

    async def get_pull_request(self, repo: str, number: int) -> PullRequest:
        answer = await self._call("GET", REPO + "/pulls/{number}", repo, number=number)
        head, base = answer["head"], answer["base"]
        head_repo, base_repo = head.get("repo") or {}, base.get("repo") or {}
        head_name = head_repo.get("full_name", "")  # empty when the fork was deleted
        return PullRequest(
            number=answer["number"],
            title=answer.get("title") or "",
            body=answer.get("body") or "",
            state=answer.get("state") or "open",
            head=PullRequestHead(
                repo_full_name=head_name,
                clone_url=head_repo.get("clone_url", ""),
                ref=head["ref"],
                sha=head.get("sha", ""),
                is_fork=head_name != base_repo.get("full_name", repo),
            ),
            base_ref=base["ref"],
            html_url=answer.get("html_url") or "",
            author_login=(answer.get("user") or {}).get("login", ""),
        )

    async def get_collaborator_permission(self, repo: str, login: str) -> Permission:
        url = REPO + "/collaborators/{username}/permission"
        try:
            answer = await self._call("GET", url, repo, username=login)
        except (ForgeNotFound, ForgeForbidden):
            return Permission.NONE
        return parse_permission(answer.get("permission"), answer.get("role_name"))

    async def create_comment(self, repo: str, number: int, body: str) -> Comment:
        answer = await self._call("POST", ISSUE + "/comments", repo, {"body": body}, number=number)
        return to_comment(answer)

    async def edit_comment(self, repo: str, comment_id: int, body: str) -> Comment:
        url = REPO + "/issues/comments/{comment_id}"
        answer = await self._call("PATCH", url, repo, {"body": body}, comment_id=comment_id)
        return to_comment(answer)

    async def add_reaction(
        self, repo: str, comment_id: int, comment_kind: CommentKind, reaction: str = "eyes"
    ) -> None:
        """React; GitHub answers 200 when the reaction exists. A review body takes none."""
        url = REACTION_URLS.get(comment_kind)
        if url is None:
            log.debug("GitHub has no reactions on a %s; skipped", comment_kind)
            return
        await self._call("POST", url, repo, {"content": reaction}, comment_id=comment_id)

    async def ensure_label(self, repo: str, name: str, color: str = "ededed") -> None:
        if name.lower() in await self._known_labels(repo):
            return
        data = {"name": name, "color": color.lstrip("#")}
        try:
            await self._call("POST", REPO + "/labels", repo, data)
        except ForgeError as error:  # 422 "already_exists" when made meanwhile: fine
            if error.status != 422 or name.lower() not in await self._known_labels(repo, True):
                raise
        self._labels[repo].add(name.lower())

    async def _known_labels(self, repo: str, refresh: bool = False) -> set[str]:
        if refresh or repo not in self._labels:
            token = await self._access_token(repo)
            answers = await self.client.get_all(
                REPO + "/labels?per_page=100", repo_vars(repo), token=token
            )
            self._labels[repo] = {answer["name"].lower() for answer in answers}
        return self._labels[repo]

    async def add_labels(self, repo: str, number: int, names: list[str]) -> None:
        """Add by name; GitHub creates a label that the repository lacks."""
        if names:
            await self._call(
                "POST", ISSUE + "/labels", repo, {"labels": list(names)}, number=number
            )

    async def remove_label(self, repo: str, number: int, name: str) -> None:
        with contextlib.suppress(ForgeNotFound):  # not on the issue: already as wanted
            await self._call("DELETE", ISSUE + "/labels/{name}", repo, number=number, name=name)

    async def start_stopwatch(self, repo: str, number: int) -> None:
        """GitHub has no time tracking: the duration goes in the status comment."""

    async def stop_stopwatch(self, repo: str, number: int) -> None:
        """GitHub has no time tracking."""

    async def add_tracked_time(self, repo: str, number: int, seconds: int) -> None:
        """GitHub has no time tracking."""

    async def tracked_seconds(self, repo: str, number: int, user: str, since: float) -> int:
        """GitHub has no time tracking."""
        return 0

    async def find_open_pull_request(
        self, repo: str, head_branch: str, base_branch: str
    ) -> CreatedPullRequest | None:
        url = REPO + "/pulls{?state,head,base,per_page}"
        owner = repo_vars(repo)["owner"]
        head = head_branch if ":" in head_branch else f"{owner}:{head_branch}"
        found = await self._call(
            "GET", url, repo, state="open", head=head, base=base_branch, per_page=10
        )
        if not found:
            return None
        return CreatedPullRequest(number=found[0]["number"], html_url=found[0]["html_url"])

    async def create_pull_request(
        self, repo: str, *, title: str, body: str, head: str, base: str, draft: bool
    ) -> CreatedPullRequest:
        data = {"title": title, "body": body, "head": head, "base": base, "draft": draft}
        try:
            answer = await self._call("POST", REPO + "/pulls", repo, data)
        except ForgeError as error:
            if error.status != 422:
                raise
            existing = await self.find_open_pull_request(repo, head, base)
            if existing is not None:
                return existing
            if not draft or "draft" not in error.message.lower():
                raise
            log.info("draft pull requests are not available in %s; opening a WIP one", repo)
            data |= {"draft": False, "title": f"WIP: {title}"}
            answer = await self._call("POST", REPO + "/pulls", repo, data)
        return CreatedPullRequest(number=answer["number"], html_url=answer["html_url"])

    async def git_credentials(self, repo: str) -> GitCredentials:
        return GitCredentials(username="x-access-token", password=await self._access_token(repo))
