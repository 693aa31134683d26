"""GiteaForge (kinds gitea and forgejo) over real HTTP against the fake forge."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.events import CommentKind, ForgeKind
from bot.forge.factory import create_forge, default_api_url
from bot.forge.gitea import GiteaForge
from bot.forge.http import RetryPolicy
from bot.forge.protocol import (
    Forge,
    ForgeConflict,
    ForgeError,
    ForgeNotFound,
    ForgeUnavailable,
    Permission,
)
from tests.fake_forge import (
    FakeForge,
    fake_forge_fixture,  # noqa: F401 - the fixture
)

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02, timeout=0.3)


@pytest.fixture(params=["gitea", "forgejo"])
async def forge(request: pytest.FixtureRequest, fake_forge: FakeForge) -> AsyncIterator[GiteaForge]:
    fake_forge.add_repo("o/r", family="gitea")
    fake_forge.add_issue("o/r", 1, "Fix it", "Please", "alice", labels=["bug"])
    fake_forge.add_pull_request("o/r", 2, "Same repo", head_ref="topic", head_sha="1" * 40)
    fake_forge.add_pull_request("o/r", 3, "From a fork", head_ref="main", head_repo="carol/r")
    async with aiohttp.ClientSession() as session:
        yield GiteaForge(
            "home",
            request.param,
            session,
            fake_forge.gitea_api_url,
            "test-token",
            "agent-bot",
            policy=FAST,
        )


async def test_is_a_forge(forge: GiteaForge) -> None:
    assert isinstance(forge, Forge) and forge.kind in (ForgeKind.GITEA, ForgeKind.FORGEJO)


async def test_reads_repository_issue_and_comments(
    forge: GiteaForge, fake_forge: FakeForge
) -> None:
    repository = await forge.get_repository("o/r")
    assert (repository.full_name, repository.default_branch) == ("o/r", "main")
    assert repository.clone_url == f"{fake_forge.url}/o/r.git"
    issue = await forge.get_issue("o/r", 1)
    assert (issue.title, issue.body, issue.author_login, issue.labels) == (
        "Fix it",
        "Please",
        "alice",
        ("bug",),
    )
    assert not issue.is_pull_request and (await forge.get_issue("o/r", 2)).is_pull_request
    for index in range(3):
        fake_forge.add_comment("o/r", 1, f"comment {index}", "bob")
    comments = await forge.list_issue_comments("o/r", 1)
    assert [(c.body, c.author_login) for c in comments] == [
        (f"comment {i}", "bob") for i in range(3)
    ]
    with pytest.raises(ForgeNotFound):
        await forge.get_issue("o/r", 99)


async def test_reads_pull_requests_and_tells_forks(forge: GiteaForge) -> None:
    same = await forge.get_pull_request("o/r", 2)
    assert (same.head.repo_full_name, same.head.ref, same.head.sha, same.head.is_fork) == (
        "o/r",
        "topic",
        "1" * 40,
        False,
    )
    assert same.base_ref == "main" and same.author_login == "alice"
    fork = await forge.get_pull_request("o/r", 3)
    assert fork.head.is_fork and fork.head.repo_full_name == "carol/r"
    assert fork.head.clone_url.endswith("/carol/r.git")


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("owner", Permission.ADMIN),
        ("admin", Permission.ADMIN),
        ("write", Permission.WRITE),
        ("read", Permission.READ),
        ("none", Permission.NONE),
    ],
)
async def test_maps_permissions(
    forge: GiteaForge, fake_forge: FakeForge, role: str, expected: Permission
) -> None:
    fake_forge.set_permission("o/r", "dave", role)
    assert await forge.get_collaborator_permission("o/r", "dave") is expected


async def test_unknown_user_or_refused_question_is_no_permission(
    forge: GiteaForge, fake_forge: FakeForge
) -> None:
    assert await forge.get_collaborator_permission("o/r", "ghost") is Permission.NONE  # 404
    fake_forge.set_permission("o/r", "agent-bot", "write")
    assert await forge.get_collaborator_permission("o/r", "alice") is Permission.NONE  # 403


async def test_creates_and_edits_comments(forge: GiteaForge, fake_forge: FakeForge) -> None:
    created = await forge.create_comment("o/r", 1, "queued")
    assert created.author_login == "agent-bot" and created.body == "queued"
    edited = await forge.edit_comment("o/r", created.id, "running")
    assert edited.id == created.id and [c.body for c in fake_forge.comments_on("o/r", 1)] == [
        "running"
    ]
    assert [str(call) for call in fake_forge.calls] == [
        'POST /api/v1/repos/o/r/issues/1/comments {"body": "queued"} -> 201',
        f'PATCH /api/v1/repos/o/r/issues/comments/{created.id} {{"body": "running"}} -> 200',
    ]


async def test_reacts_once_and_skips_review_bodies(
    forge: GiteaForge, fake_forge: FakeForge
) -> None:
    comment_id = fake_forge.add_comment("o/r", 2, "/dispatch", "alice")
    await forge.add_reaction("o/r", comment_id, CommentKind.PULL_REQUEST)
    await forge.add_reaction("o/r", comment_id, CommentKind.PULL_REQUEST)  # 200: already there
    await forge.add_reaction("o/r", comment_id, CommentKind.REVIEW)
    assert fake_forge.reactions_on(comment_id) == ["eyes"]
    assert len(fake_forge.calls) == 2


async def test_labels_by_numeric_id_with_a_cache(forge: GiteaForge, fake_forge: FakeForge) -> None:
    await forge.ensure_label("o/r", "agent/running", "00ff00")
    await forge.ensure_label("o/r", "agent/running")
    created = fake_forge.calls_to("POST", "/api/v1/repos/o/r/labels")
    assert [call.json for call in created] == [{"name": "agent/running", "color": "#00ff00"}]
    await forge.add_labels("o/r", 1, ["agent/running", "agent/new"])
    assert fake_forge.labels_on("o/r", 1) == ["bug", "agent/running", "agent/new"]
    ids = fake_forge.calls_to("POST", "/api/v1/repos/o/r/issues/1/labels")[0].json["labels"]
    assert all(isinstance(label_id, int) for label_id in ids)
    await forge.remove_label("o/r", 1, "bug")
    await forge.remove_label("o/r", 1, "bug")  # not on the issue any more: fine
    await forge.remove_label("o/r", 1, "never-existed")
    assert fake_forge.labels_on("o/r", 1) == ["agent/running", "agent/new"]
    bug_id = fake_forge.add_label("o/r", "bug")
    assert fake_forge.calls_to("DELETE", "/api/v1/repos/o/r/issues/1/labels/")[0].path.endswith(
        f"/{bug_id}"
    )


async def test_finds_labels_past_the_first_page(forge: GiteaForge, fake_forge: FakeForge) -> None:
    for index in range(120):
        fake_forge.add_label("o/r", f"label-{index:03}")
    await forge.add_labels("o/r", 1, ["label-119"])
    assert "label-119" in fake_forge.labels_on("o/r", 1)
    assert fake_forge.calls_to("POST", "/api/v1/repos/o/r/labels") == []


async def test_stopwatch_and_conflicts(forge: GiteaForge, fake_forge: FakeForge) -> None:
    await forge.start_stopwatch("o/r", 1)
    with pytest.raises(ForgeConflict):
        await forge.start_stopwatch("o/r", 1)
    await forge.stop_stopwatch("o/r", 1)
    with pytest.raises(ForgeConflict):
        await forge.stop_stopwatch("o/r", 1)
    assert fake_forge.times_on("o/r", 1) == [1]


async def test_adds_tracked_time(forge: GiteaForge, fake_forge: FakeForge) -> None:
    await forge.add_tracked_time("o/r", 1, 125)
    await forge.add_tracked_time("o/r", 1, 0)  # nothing to add
    assert fake_forge.times_on("o/r", 1) == [125]
    assert str(fake_forge.calls[-1]) == 'POST /api/v1/repos/o/r/issues/1/times {"time": 125} -> 200'


async def test_sums_one_accounts_tracked_time_since_a_moment(
    forge: GiteaForge, fake_forge: FakeForge
) -> None:
    now = [1_700_000_000.0]
    fake_forge.clock = lambda: now[0]
    await forge.add_tracked_time("o/r", 1, 100)  # before the moment
    now[0] += 60
    await forge.add_tracked_time("o/r", 1, 7)
    await forge.add_tracked_time("o/r", 1, 8)
    await forge.add_tracked_time("o/r", 2, 50)  # another issue
    fake_forge.tracked_times.append(  # another account
        {"id": 1, "repo": "o/r", "number": 1, "login": "alice", "seconds": 9, "created": now[0]}
    )
    assert await forge.tracked_seconds("o/r", 1, "agent-bot", now[0] - 30) == 15
    assert await forge.tracked_seconds("o/r", 1, "agent-bot", now[0] - 120) == 115
    asked = {"user": "agent-bot", "since": "2023-11-14T22:12:20Z", "page": "1", "limit": "50"}
    assert fake_forge.calls[-2].query == asked  # then page 2, empty: the end


async def test_pull_requests_draft_as_wip_and_found_again(forge: GiteaForge) -> None:
    assert await forge.find_open_pull_request("o/r", "agent/issue-1-fix", "main") is None
    created = await forge.create_pull_request(
        "o/r", title="Fix it", body="Closes #1", head="agent/issue-1-fix", base="main", draft=True
    )
    assert (await forge.get_issue("o/r", created.number)).title == "WIP: Fix it"
    assert await forge.find_open_pull_request("o/r", "agent/issue-1-fix", "main") == created
    again = await forge.create_pull_request(
        "o/r", title="Fix it", body="", head="agent/issue-1-fix", base="main", draft=False
    )
    assert again == created  # 409 from the forge: the open one is returned


async def test_git_credentials_use_the_token(forge: GiteaForge) -> None:
    credentials = await forge.git_credentials("o/r")
    assert (credentials.username, credentials.password) == ("agent-bot", "test-token")
    assert "test-token" not in repr(credentials)


async def test_retries_503_then_succeeds(forge: GiteaForge, fake_forge: FakeForge) -> None:
    fake_forge.fail("GET", r"/issues/1$", status=503, times=2)
    assert (await forge.get_issue("o/r", 1)).number == 1
    assert [call.status for call in fake_forge.calls] == [503, 503, 200]


async def test_gives_up_after_the_last_try(forge: GiteaForge, fake_forge: FakeForge) -> None:
    fake_forge.fail("GET", r"/issues/1$", status=502, times=10)
    with pytest.raises(ForgeUnavailable) as raised:
        await forge.get_issue("o/r", 1)
    assert raised.value.status == 502 and len(fake_forge.calls) == FAST.attempts


async def test_post_is_not_retried_after_a_500(forge: GiteaForge, fake_forge: FakeForge) -> None:
    fake_forge.fail("POST", r"/comments$", status=500, times=1)
    with pytest.raises(ForgeUnavailable):
        await forge.create_comment("o/r", 1, "once")
    fake_forge.fail("POST", r"/comments$", status=503, times=1)
    await forge.create_comment("o/r", 1, "twice")
    assert [call.status for call in fake_forge.calls] == [500, 503, 201]


async def test_timeouts_are_retried_then_reported(forge: GiteaForge, fake_forge: FakeForge) -> None:
    fake_forge.delay("GET", r"/issues/1$", seconds=0.6, times=1)
    assert (await forge.get_issue("o/r", 1)).number == 1
    fake_forge.delay("GET", r"/issues/1$", seconds=0.6, times=FAST.attempts)
    with pytest.raises(ForgeUnavailable) as raised:
        await forge.get_issue("o/r", 1)
    assert raised.value.status == 0 and "timed out" in raised.value.message


async def test_bad_token_is_a_forge_error(fake_forge: FakeForge) -> None:
    fake_forge.add_repo("o/r", family="gitea")
    async with aiohttp.ClientSession() as session:
        forge = GiteaForge(
            "home", "forgejo", session, fake_forge.gitea_api_url, "nope", policy=FAST
        )
        with pytest.raises(ForgeError) as raised:
            await forge.get_repository("o/r")
    assert raised.value.status == 401


async def test_factory_builds_gitea_adapters(fake_forge: FakeForge) -> None:
    assert (
        default_api_url("forgejo", "https://forge.example.org/")
        == "https://forge.example.org/api/v1"
    )
    async with aiohttp.ClientSession() as session:
        forge = create_forge(
            name="home",
            kind="gitea",
            session=session,
            api_url=fake_forge.gitea_api_url,
            token="test-token",
            bot_login="agent-bot",
        )
        assert isinstance(forge, GiteaForge) and forge.kind is ForgeKind.GITEA
        with pytest.raises(ValueError):
            create_forge(
                name="x", kind="forgejo", session=session, api_url="u", token=None, bot_login="b"
            )
