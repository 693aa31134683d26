"""The Gitea and Forgejo adapter of the Forge protocol (API v1, token auth)."""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp

from bot.events import CommentKind, ForgeKind, PullRequestHead
from bot.forge.http import ForgeClient, RetryPolicy, parse_permission, repo_vars
from bot.forge.protocol import (
    Comment,
    CreatedPullRequest,
    ForgeConflict,
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
ISSUE = REPO + "/issues/{index}"
DRAFT_PREFIX = "WIP: "  # Gitea/Forgejo's default WORK_IN_PROGRESS_PREFIXES include "WIP:"


def _login(answer: dict[str, Any]) -> str:
    return (answer.get("user") or {}).get("login", "")


def to_comment(answer: dict[str, Any], default_body: str = "", default_login: str = "") -> Comment:
    return Comment(
        id=answer["id"],
        body=answer.get("body") or default_body,
        author_login=_login(answer) or default_login,
        html_url=answer.get("html_url") or "",
        created_at=answer.get("created_at") or "",
    )


class GiteaForge:
    """Talks to one Gitea or Forgejo instance as the bot's account."""

    def __init__(
        self,
        name: str,
        kind: ForgeKind | str,
        session: aiohttp.ClientSession,
        api_url: str,
        token: str,
        bot_login: str = "",
        *,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.kind = ForgeKind(kind)
        if self.kind is ForgeKind.GITHUB:
            raise ValueError("GiteaForge speaks Gitea/Forgejo; use GitHubForge for GitHub")
        if not token:
            raise ValueError(f"the {self.kind} forge {name!r} needs an API token")
        self.name = name
        self.bot_login = bot_login
        self.client = ForgeClient(session, base_url=api_url, token=token, policy=policy)
        self._token = token
        self._labels: dict[str, dict[str, int]] = {}  # repo -> label name -> numeric id

    def __repr__(self) -> str:
        url = self.client.base_url
        return f"GiteaForge(name={self.name!r}, kind={self.kind.value!r}, api_url={url!r})"

    async def _call(
        self, method: str, url: str, repo: str, data: Any = b"", **variables: Any
    ) -> Any:
        return await self.client.call(method, url, repo_vars(repo) | variables, data=data)

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
        answer = await self._call("GET", ISSUE, repo, index=number)
        return Issue(
            number=answer["number"],
            title=answer.get("title") or "",
            body=answer.get("body") or "",
            author_login=_login(answer),
            state=answer.get("state") or "open",
            labels=tuple(label["name"] for label in answer.get("labels") or []),
            is_pull_request=answer.get("pull_request") is not None,
            html_url=answer.get("html_url") or "",
        )

    async def list_issue_comments(self, repo: str, number: int) -> list[Comment]:
        """All comments: this endpoint is not paginated on Gitea/Forgejo."""
        answers = await self._call("GET", ISSUE + "/comments", repo, index=number)
        return [to_comment(answer) for answer in answers or []]

    async def get_pull_request(self, repo: str, number: int) -> PullRequest:
        answer = await self._call("GET", REPO + "/pulls/{index}", repo, index=number)
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
            author_login=_login(answer),
        )

    async def get_collaborator_permission(self, repo: str, login: str) -> Permission:
        """Gitea answers 404 for an unknown user and 403 when the bot may not ask: both NONE."""
        url = REPO + "/collaborators/{collaborator}/permission"
        try:
            answer = await self._call("GET", url, repo, collaborator=login)
        except ForgeNotFound:
            return Permission.NONE
        except ForgeForbidden:
            log.warning("%s may not read permissions on %s: make it a repo admin", self.name, repo)
            return Permission.NONE
        return parse_permission(answer.get("permission"), answer.get("role_name"))

    async def create_comment(self, repo: str, number: int, body: str) -> Comment:
        answer = await self._call("POST", ISSUE + "/comments", repo, {"body": body}, index=number)
        return to_comment(answer)

    async def edit_comment(self, repo: str, comment_id: int, body: str) -> Comment:
        url = REPO + "/issues/comments/{id}"
        answer = await self._call("PATCH", url, repo, {"body": body}, id=comment_id)
        if not answer:  # 204: Gitea sends no body for some comment types
            return Comment(id=comment_id, body=body, author_login=self.bot_login)
        return to_comment(answer, body, self.bot_login)

    async def add_reaction(
        self, repo: str, comment_id: int, comment_kind: CommentKind, reaction: str = "eyes"
    ) -> None:
        """Review comments are comments too; a review body takes no reaction. 200 = existed."""
        if comment_kind is CommentKind.REVIEW:
            log.debug("Gitea/Forgejo have no reactions on a review body; skipped")
            return
        url = REPO + "/issues/comments/{id}/reactions"
        await self._call("POST", url, repo, {"content": reaction}, id=comment_id)

    async def _label_ids(self, repo: str, *, refresh: bool = False) -> dict[str, int]:
        if refresh or repo not in self._labels:
            answers = await self.client.get_pages(REPO + "/labels", repo_vars(repo))
            self._labels[repo] = {answer["name"]: answer["id"] for answer in answers}
        return self._labels[repo]

    async def _label_id(self, repo: str, name: str) -> int | None:
        found = (await self._label_ids(repo)).get(name)
        if found is None:  # maybe made since we looked
            found = (await self._label_ids(repo, refresh=True)).get(name)
        return found

    async def ensure_label(self, repo: str, name: str, color: str = "ededed") -> None:
        if await self._label_id(repo, name) is not None:
            return
        data = {"name": name, "color": "#" + color.lstrip("#")}
        answer = await self._call("POST", REPO + "/labels", repo, data)
        self._labels[repo][name] = answer["id"]

    async def add_labels(self, repo: str, number: int, names: list[str]) -> None:
        """Gitea wants numeric ids (names only on newer versions); missing labels are created."""
        ids = []
        for name in names:
            if await self._label_id(repo, name) is None:
                await self.ensure_label(repo, name)
            ids.append(self._labels[repo][name])
        if ids:
            await self._call("POST", ISSUE + "/labels", repo, {"labels": ids}, index=number)

    async def remove_label(self, repo: str, number: int, name: str) -> None:
        label_id = await self._label_id(repo, name)
        if label_id is None:
            return  # no such label, so not on the issue either
        try:
            await self._call("DELETE", ISSUE + "/labels/{id}", repo, index=number, id=label_id)
        except ForgeNotFound:
            pass
        except ForgeError as error:
            if error.status != 422:  # 422: the label was deleted meanwhile
                raise
            self._labels.pop(repo, None)

    async def start_stopwatch(self, repo: str, number: int) -> None:
        """Raises ForgeConflict (409) when this issue's stopwatch already runs."""
        await self._call("POST", ISSUE + "/stopwatch/start", repo, index=number)

    async def stop_stopwatch(self, repo: str, number: int) -> None:
        """Raises ForgeConflict (409) when no stopwatch runs on this issue."""
        await self._call("POST", ISSUE + "/stopwatch/stop", repo, index=number)

    async def add_tracked_time(self, repo: str, number: int, seconds: int) -> None:
        if seconds >= 1:
            await self._call("POST", ISSUE + "/times", repo, {"time": int(seconds)}, index=number)

    async def tracked_seconds(self, repo: str, number: int, user: str, since: float) -> int:
        since_text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(since)))
        variables = repo_vars(repo) | {"index": number, "user": user, "since": since_text}
        entries = await self.client.get_pages(ISSUE + "/times{?user,since}", variables)
        return sum(int(entry.get("time") or 0) for entry in entries)

    async def find_open_pull_request(
        self, repo: str, head_branch: str, base_branch: str
    ) -> CreatedPullRequest | None:
        """By base and head; Gitea answers with the latest such PR whatever its state."""
        url = REPO + "/pulls/{base}/{head}"
        try:
            answer = await self._call("GET", url, repo, base=base_branch, head=head_branch)
        except ForgeNotFound:
            return None
        if answer.get("state") != "open":
            return None
        return CreatedPullRequest(number=answer["number"], html_url=answer["html_url"])

    async def create_pull_request(
        self, repo: str, *, title: str, body: str, head: str, base: str, draft: bool
    ) -> CreatedPullRequest:
        """No draft flag on Gitea/Forgejo: a draft is a PR whose title starts with "WIP: "."""
        if draft and not title.upper().startswith(("WIP:", "[WIP]")):
            title = DRAFT_PREFIX + title
        data = {"title": title, "body": body, "head": head, "base": base}
        try:
            answer = await self._call("POST", REPO + "/pulls", repo, data)
        except ForgeConflict:
            existing = await self.find_open_pull_request(repo, head, base)
            if existing is None:
                raise
            return existing
        return CreatedPullRequest(number=answer["number"], html_url=answer["html_url"])

    async def git_credentials(self, repo: str) -> GitCredentials:
        """Gitea/Forgejo take any user name with a token as the password; the bot's is clearest."""
        return GitCredentials(username=self.bot_login or "oauth2", password=self._token)
