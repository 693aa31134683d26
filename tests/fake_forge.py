"""A fake Forgejo/Gitea/GitHub API on loopback: spec-checked, stateful, recording every call."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tests.fake_forge_bodies import (  # noqa: F401 - re-exported for tests
    FakeComment,
    FakeIssue,
    FakeLabel,
    FakePull,
    FakeRepo,
    FakeUser,
)
from tests.fake_forge_server import GITEA_PREFIX, ForgeServer, RecordedCall  # noqa: F401


class FakeForge(ForgeServer):
    """The fake's state, its seeding and inspection; HTTP handling is in `ForgeServer`.

    Modules: `fake_forge_spec` (spec loading, matching, checks), `fake_forge_server` (auth,
    injection, recording), `fake_forge_routes*` (handlers), `fake_forge_bodies` (data, bodies).
    """

    def __init__(self, *, token: str = "test-token", bot_login: str = "agent-bot") -> None:
        super().__init__()
        self.bot_login = bot_login
        self.repos: dict[str, FakeRepo] = {}
        self.users: dict[str, FakeUser] = {}
        self.comments: dict[int, FakeComment] = {}
        self.reactions: list[dict[str, Any]] = []  # {comment_id, login, content, review}
        self.stopwatches: dict[str, tuple[str, int, float]] = {}  # login -> (repo, number, start)
        self.tracked_times: list[dict[str, Any]] = []  # {id, repo, number, login, seconds, created}
        self.token_lifetime = 3600.0  # of GitHub App installation tokens
        self.issued_app_tokens: list[str] = []
        self._next_id = 1000
        self.add_token(token, bot_login)

    @property
    def gitea_api_url(self) -> str:
        """The `api_url` of a Gitea/Forgejo forge served by this fake."""
        return self.url + GITEA_PREFIX

    @property
    def github_api_url(self) -> str:
        """The `api_url` of a GitHub forge served by this fake (GitHub paths sit at the root)."""
        return self.url

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def now_iso(self, offset: float = 0.0) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock() + offset))

    # -- seeding ---------------------------------------------------------------------------
    def add_token(self, token: str, login: str, *, expires_at: float | None = None) -> None:
        self.tokens[token] = login
        if expires_at is not None:
            self.token_expiry[token] = expires_at
        self.add_user(login)

    def add_user(self, login: str, type: str | None = None) -> FakeUser:  # noqa: A002
        """A known account; `type` is "User" or "Bot" (default: Bot when it ends in [bot])."""
        user = self.users.setdefault(login, FakeUser(login, self.new_id()))
        if type or login.endswith("[bot]"):
            user.type = type or "Bot"
        return user

    def add_repo(
        self,
        full_name: str,
        *,
        family: str,
        clone_url: str | None = None,
        default_branch: str = "main",
        private: bool = False,
        time_tracking: bool = True,
    ) -> FakeRepo:
        assert family in ("github", "gitea"), family
        self.add_user(full_name.split("/")[0])
        clone_url = clone_url or f"{self.url}/{full_name}.git"
        repo = FakeRepo(self.new_id(), full_name, family, clone_url, default_branch, private)
        repo.time_tracking = time_tracking
        self.repos[full_name] = repo
        return repo

    def add_label(
        self, repo: str, name: str, color: str = "ededed", *, duplicate: bool = False
    ) -> int:
        """The numeric id of the repo label `name`, created unless it exists (or `duplicate`)."""
        labels = self.repos[repo].labels
        existing = [label.id for label in labels.values() if label.name == name]
        if existing and not duplicate:
            return existing[0]
        label = FakeLabel(self.new_id(), name, color.lstrip("#"))
        labels[label.id] = label
        return label.id

    def add_issue(
        self,
        repo: str,
        number: int,
        title: str,
        body: str = "",
        author: str = "alice",
        labels: tuple[str, ...] | list[str] = (),
        is_pull_request: bool = False,
    ) -> FakeIssue:
        self.add_user(author)
        for name in labels:
            self.add_label(repo, name)
        issue = FakeIssue(self.new_id(), number, title, body, author, list(labels))
        if is_pull_request:
            base = self.repos[repo].default_branch
            issue.pull = FakePull(f"pr-{number}", "0" * 40, repo, base)
        self.repos[repo].issues[number] = issue
        return issue

    def add_pull_request(
        self,
        repo: str,
        number: int,
        title: str,
        body: str = "",
        head_ref: str = "feature",
        head_sha: str = "a" * 40,
        head_repo: str | None = None,
        base_ref: str | None = None,
        author: str = "alice",
        draft: bool = False,
    ) -> FakeIssue:
        """A PR; a `head_repo` other than `repo` is a fork (registered here if new)."""
        head_repo = head_repo or repo
        if head_repo not in self.repos:
            self.add_repo(head_repo, family=self.repos[repo].family)
        issue = self.add_issue(repo, number, title, body, author)
        base = base_ref or self.repos[repo].default_branch
        issue.pull = FakePull(head_ref, head_sha, head_repo, base, draft)
        return issue

    def add_comment(
        self, repo: str, number: int, body: str, author: str, *, review: bool = False
    ) -> int:
        """A comment by a person (`review`: a GitHub review comment on a diff line); its id."""
        self.add_user(author)
        comment = FakeComment(self.new_id(), repo, number, body, author, self.now_iso(), review)
        self.comments[comment.id] = comment
        return comment.id

    def set_permission(self, repo: str, login: str, permission: str) -> None:
        """GitHub: admin|maintain|write|triage|read|none; Gitea: owner|admin|write|read|none."""
        self.add_user(login)
        self.repos[repo].permissions[login] = permission

    def configure_app(self, app_id: int | str, public_key_pem: str) -> None:
        """Accept GitHub App JWTs signed by the private half of `public_key_pem` with iss=app_id."""
        self.app_id, self.app_public_key = str(app_id), public_key_pem

    def install_app(self, installation_id: int, *repos: str) -> None:
        for name in repos:
            self.repos[name].installation_id = installation_id

    # -- inspection ------------------------------------------------------------------------
    def comments_on(self, repo: str, number: int) -> list[FakeComment]:
        return [c for c in self.comments.values() if c.repo == repo and c.number == number]

    def labels_on(self, repo: str, number: int) -> list[str]:
        return list(self.repos[repo].issues[number].labels)

    def reactions_on(self, comment_id: int) -> list[str]:
        return [
            reaction["content"]
            for reaction in self.reactions
            if reaction["comment_id"] == comment_id
        ]

    def times_on(self, repo: str, number: int) -> list[int]:
        return [
            t["seconds"] for t in self.tracked_times if (t["repo"], t["number"]) == (repo, number)
        ]


@contextlib.asynccontextmanager
async def start_fake_forge(**options: Any) -> AsyncIterator[FakeForge]:
    """Serve a FakeForge on 127.0.0.1 (random port) for the duration of the block."""
    forge = FakeForge(**options)
    runner = web.AppRunner(forge.make_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    forge.url = f"http://127.0.0.1:{port}"
    try:
        yield forge
    finally:
        await runner.cleanup()


@pytest.fixture(name="fake_forge")
async def fake_forge_fixture() -> AsyncIterator[FakeForge]:
    """A running FakeForge; the test fails if the fake itself answered off-spec.

    Register it with `from tests.fake_forge import fake_forge_fixture  # noqa: F401` in a
    conftest.py or test module; tests then ask for `fake_forge`.
    """
    async with start_fake_forge() as forge:
        yield forge
    assert not forge.internal_errors, forge.internal_errors
