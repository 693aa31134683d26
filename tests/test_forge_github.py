"""GitHubForge and GitHubAppAuth over real HTTP against the fake forge."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.events import CommentKind, ForgeKind
from bot.forge.factory import create_forge, default_api_url
from bot.forge.github import GitHubForge
from bot.forge.github_app import GitHubAppAuth
from bot.forge.http import RetryPolicy
from bot.forge.protocol import Forge, ForgeError, ForgeNotFound, ForgeUnavailable, Permission
from tests.fake_forge import (
    FakeForge,
    fake_forge_fixture,  # noqa: F401 - the fixture
)

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02, timeout=0.3, max_rate_limit_wait=10)


class Clock:
    """A settable stand-in for time.time."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private.decode(), public.decode()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def forge(fake_forge: FakeForge, session: aiohttp.ClientSession) -> GitHubForge:
    fake_forge.add_repo("g/h", family="github")
    fake_forge.add_issue("g/h", 1, "Fix it", "Please", "alice", labels=["bug"])
    fake_forge.add_pull_request("g/h", 2, "Same repo", head_ref="topic", head_sha="1" * 40)
    fake_forge.add_pull_request("g/h", 3, "From a fork", head_ref="main", head_repo="carol/h")
    return GitHubForge("hub", session, fake_forge.url, token="test-token", policy=FAST)


async def test_reads_repository_issue_pull_requests(forge: GitHubForge) -> None:
    assert isinstance(forge, Forge) and forge.kind is ForgeKind.GITHUB
    assert (await forge.get_repository("g/h")).full_name == "g/h"
    issue = await forge.get_issue("g/h", 1)
    assert (issue.title, issue.labels, issue.is_pull_request) == ("Fix it", ("bug",), False)
    assert (await forge.get_issue("g/h", 2)).is_pull_request
    same, fork = await forge.get_pull_request("g/h", 2), await forge.get_pull_request("g/h", 3)
    assert (same.head.ref, same.head.sha, same.head.is_fork, same.base_ref) == (
        "topic",
        "1" * 40,
        False,
        "main",
    )
    assert fork.head.is_fork and fork.head.repo_full_name == "carol/h"
    with pytest.raises(ForgeNotFound):
        await forge.get_pull_request("g/h", 99)


async def test_lists_every_comment_page(forge: GitHubForge, fake_forge: FakeForge) -> None:
    for index in range(150):
        fake_forge.add_comment("g/h", 1, f"comment {index}", "bob")
    comments = await forge.list_issue_comments("g/h", 1)
    assert [comment.body for comment in comments] == [f"comment {index}" for index in range(150)]
    assert len(fake_forge.calls) == 2


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("admin", Permission.ADMIN),
        ("maintain", Permission.WRITE),
        ("write", Permission.WRITE),
        ("triage", Permission.READ),
        ("read", Permission.READ),
        ("none", Permission.NONE),
    ],
)
async def test_maps_permissions(
    forge: GitHubForge, fake_forge: FakeForge, role: str, expected: Permission
) -> None:
    fake_forge.set_permission("g/h", "dave", role)
    assert await forge.get_collaborator_permission("g/h", "dave") is expected


async def test_non_collaborators(forge: GitHubForge, fake_forge: FakeForge) -> None:
    fake_forge.add_user("erin")
    assert await forge.get_collaborator_permission("g/h", "erin") is Permission.READ  # public repo
    assert await forge.get_collaborator_permission("g/h", "ghost") is Permission.NONE  # 404


async def test_comments_and_reactions(forge: GitHubForge, fake_forge: FakeForge) -> None:
    created = await forge.create_comment("g/h", 1, "queued")
    edited = await forge.edit_comment("g/h", created.id, "done")
    assert edited.body == "done" and edited.author_login == "agent-bot"
    review_id = fake_forge.add_comment("g/h", 2, "/review", "alice", review=True)
    await forge.add_reaction("g/h", created.id, CommentKind.ISSUE)
    await forge.add_reaction("g/h", created.id, CommentKind.ISSUE)
    await forge.add_reaction("g/h", review_id, CommentKind.REVIEW_COMMENT)
    await forge.add_reaction("g/h", 12345, CommentKind.REVIEW)  # no API: nothing sent
    assert fake_forge.reactions_on(created.id) == ["eyes"] and fake_forge.reactions_on(
        review_id
    ) == ["eyes"]
    assert len(fake_forge.calls_to("POST", f"/repos/g/h/pulls/comments/{review_id}/reactions")) == 1
    assert len(fake_forge.calls) == 5


async def test_labels_by_name(forge: GitHubForge, fake_forge: FakeForge) -> None:
    await forge.ensure_label("g/h", "bug")
    await forge.ensure_label("g/h", "agent:codex", "#123456")
    await forge.ensure_label("g/h", "agent:codex")
    assert [call.json for call in fake_forge.calls_to("POST", "/repos/g/h/labels")] == [
        {"name": "agent:codex", "color": "123456"}
    ]
    await forge.add_labels("g/h", 1, ["agent:codex", "agent/new"])
    await forge.remove_label("g/h", 1, "agent:codex")
    await forge.remove_label("g/h", 1, "agent:codex")  # 404: not on the issue, fine
    assert fake_forge.labels_on("g/h", 1) == ["bug", "agent/new"]
    assert fake_forge.calls_to("DELETE", "/repos/g/h/issues/1/labels/agent:codex")


async def test_time_tracking_is_a_no_op(forge: GitHubForge, fake_forge: FakeForge) -> None:
    await forge.start_stopwatch("g/h", 1)
    await forge.stop_stopwatch("g/h", 1)
    await forge.add_tracked_time("g/h", 1, 60)
    assert fake_forge.calls == []


async def test_draft_pull_requests(forge: GitHubForge, fake_forge: FakeForge) -> None:
    assert await forge.find_open_pull_request("g/h", "agent/issue-1", "main") is None
    created = await forge.create_pull_request(
        "g/h", title="Fix it", body="Closes #1", head="agent/issue-1", base="main", draft=True
    )
    assert fake_forge.calls_to("POST", "/repos/g/h/pulls")[0].json["draft"] is True
    assert await forge.find_open_pull_request("g/h", "agent/issue-1", "main") == created
    assert fake_forge.calls_to("GET", "/repos/g/h/pulls")[-1].query["head"] == "g:agent/issue-1"
    again = await forge.create_pull_request(
        "g/h", title="Fix it", body="", head="agent/issue-1", base="main", draft=True
    )
    assert again == created  # 422 "already exists": the open one is returned


async def test_git_credentials_with_a_token(forge: GitHubForge) -> None:
    credentials = await forge.git_credentials("g/h")
    assert (credentials.username, credentials.password) == ("x-access-token", "test-token")


async def test_retries_then_gives_up(forge: GitHubForge, fake_forge: FakeForge) -> None:
    fake_forge.fail("GET", r"^/repos/g/h$", status=503, times=2)
    assert (await forge.get_repository("g/h")).full_name == "g/h"
    fake_forge.fail("GET", r"^/repos/g/h$", status=503, times=5)
    with pytest.raises(ForgeUnavailable):
        await forge.get_repository("g/h")
    assert [call.status for call in fake_forge.calls] == [503, 503, 200, 503, 503, 503]


async def test_waits_out_a_short_rate_limit(forge: GitHubForge, fake_forge: FakeForge) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    forge.client.sleeper = record
    fake_forge.rate_limit("GET", r"^/repos/g/h$", reset_in=3)
    assert (await forge.get_repository("g/h")).full_name == "g/h"
    assert len(waits) == 1 and 1 <= waits[0] <= 5
    fake_forge.fail("GET", r"^/repos/g/h$", status=429, times=1, headers={"retry-after": "2"})
    await forge.get_repository("g/h")
    assert waits[1] == 2.0
    fake_forge.rate_limit("GET", r"^/repos/g/h$", reset_in=3600)
    with pytest.raises(ForgeUnavailable) as raised:
        await forge.get_repository("g/h")
    assert raised.value.status == 403 and "rate limited" in raised.value.message and len(waits) == 2


async def test_github_app_tokens_are_cached_and_refreshed(
    fake_forge: FakeForge, session: aiohttp.ClientSession, key_pair: tuple[str, str]
) -> None:
    clock = Clock()
    fake_forge.clock = clock
    fake_forge.add_repo("g/h", family="github")
    fake_forge.add_issue("g/h", 1, "Fix it")
    fake_forge.configure_app(4242, key_pair[1])
    fake_forge.install_app(77, "g/h")
    app = GitHubAppAuth(4242, key_pair[0], session, fake_forge.url, clock=clock, policy=FAST)
    forge = GitHubForge("hub", session, fake_forge.url, app=app, policy=FAST)
    await forge.get_issue("g/h", 1)
    await forge.create_comment("g/h", 1, "hello")
    assert len(fake_forge.issued_app_tokens) == 1
    assert len(fake_forge.calls_to("GET", "/repos/g/h/installation")) == 1
    assert fake_forge.comments_on("g/h", 1)[0].author == "agent-bot[bot]"
    clock.now += 3600 - 299  # within five minutes of expiry: a new token
    await forge.get_issue("g/h", 1)
    assert len(fake_forge.issued_app_tokens) == 2
    credentials = await forge.git_credentials("g/h")
    assert (credentials.username, credentials.password) == (
        "x-access-token",
        fake_forge.issued_app_tokens[-1],
    )
    del fake_forge.tokens[fake_forge.issued_app_tokens[-1]]  # revoked: 401, then a new token
    await forge.get_issue("g/h", 1)
    assert len(fake_forge.issued_app_tokens) == 3


async def test_github_app_not_installed(
    fake_forge: FakeForge, session: aiohttp.ClientSession, key_pair: tuple[str, str]
) -> None:
    fake_forge.add_repo("g/h", family="github")
    fake_forge.configure_app(4242, key_pair[1])
    forge = create_forge(
        name="hub",
        kind="github",
        session=session,
        api_url=fake_forge.url,
        token=None,
        app_id=4242,
        private_key_pem=key_pair[0],
        policy=FAST,
    )
    with pytest.raises(ForgeNotFound, match="not installed"):
        await forge.get_repository("g/h")


async def test_a_jwt_from_another_key_is_refused(
    fake_forge: FakeForge, session: aiohttp.ClientSession, key_pair: tuple[str, str]
) -> None:
    fake_forge.add_repo("g/h", family="github")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fake_forge.configure_app(4242, pem.decode())
    fake_forge.install_app(77, "g/h")
    app = GitHubAppAuth(4242, key_pair[0], session, fake_forge.url, policy=FAST)
    with pytest.raises(ForgeError) as raised:
        await app.installation_token("g/h")
    assert raised.value.status == 401


def test_default_api_urls() -> None:
    assert default_api_url("github", "https://github.com") == "https://api.github.com"
    assert default_api_url("github", "") == "https://api.github.com"
    assert default_api_url("github", "https://ghe.example.org/") == "https://ghe.example.org/api/v3"
    assert default_api_url("gitea", "https://git.example.org") == "https://git.example.org/api/v1"


async def test_label_made_meanwhile_is_fine_a_bad_color_is_not(
    forge: GitHubForge, fake_forge: FakeForge
) -> None:
    await forge.ensure_label("g/h", "bug")  # lists the labels once
    fake_forge.add_label("g/h", "late")  # someone else adds it
    await forge.ensure_label("g/h", "late")  # 422 already_exists, then seen on a fresh list
    with pytest.raises(ForgeError) as raised:
        await forge.ensure_label("g/h", "odd", "not-a-color")
    assert raised.value.status == 422
