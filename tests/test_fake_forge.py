"""The fake forge itself: spec enforcement, auth, state rules, failure injection, recording."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest

from tests.fake_forge import (
    FakeForge,
    fake_forge_fixture,  # noqa: F401 - the fixture
)


async def send(
    forge: FakeForge,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = "test-token",
    scheme: str = "token",
) -> tuple[int, Any, Any]:
    headers = {"Authorization": f"{scheme} {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, forge.url + path, json=body, headers=headers) as response,
    ):
        answer = await response.json() if response.content_type == "application/json" else None
        return response.status, answer, response.headers


@pytest.fixture
def forge(fake_forge: FakeForge) -> FakeForge:
    fake_forge.add_repo("o/r", family="gitea")
    fake_forge.add_issue("o/r", 1, "First", "body", "alice", labels=["bug"])
    fake_forge.add_issue("o/r", 2, "Second", "body", "alice")
    fake_forge.add_repo("g/h", family="github")
    fake_forge.add_issue("g/h", 1, "Hub issue", "body", "bob")
    return fake_forge


async def test_rejects_paths_and_methods_not_in_the_spec(forge: FakeForge) -> None:
    status, answer, _ = await send(forge, "GET", "/api/v1/repos/o/r/nonsense")
    assert status == 404 and "no path in the gitea spec" in answer["message"]
    status, answer, _ = await send(forge, "PUT", "/api/v1/repos/o/r/issues/1/comments")
    assert status == 404 and "PUT is not spec'd" in answer["message"]
    status, answer, _ = await send(forge, "GET", "/repos/g/h/issues/1/stopwatch/start")
    assert status == 404 and "github spec" in answer["message"]


async def test_gitea_label_removal_wants_a_numeric_id(forge: FakeForge) -> None:
    status, answer, _ = await send(forge, "DELETE", "/api/v1/repos/o/r/issues/1/labels/bug")
    assert status == 404 and "must be an integer" in answer["message"]
    label_id = forge.add_label("o/r", "bug")
    status, _, _ = await send(forge, "DELETE", f"/api/v1/repos/o/r/issues/1/labels/{label_id}")
    assert status == 204 and forge.labels_on("o/r", 1) == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"bod": "x"}, "body.body is required"),
        ({"body": "x", "extra": 1}, "body.extra is not a known property"),
        ({"body": 5}, "body.body must be string"),
    ],
)
async def test_rejects_bad_bodies(forge: FakeForge, body: Any, problem: str) -> None:
    status, answer, _ = await send(forge, "POST", "/api/v1/repos/o/r/issues/1/comments", body)
    assert status == 422 and problem in answer["message"]
    assert forge.comments_on("o/r", 1) == []


async def test_rejects_github_paging_words_on_gitea(forge: FakeForge) -> None:
    status, answer, _ = await send(forge, "GET", "/api/v1/repos/o/r/labels?per_page=5")
    assert status == 400 and "per_page" in answer["message"]


@pytest.mark.parametrize("token", [None, "wrong"])
async def test_requires_a_known_token(forge: FakeForge, token: str | None) -> None:
    status, _, _ = await send(forge, "GET", "/api/v1/repos/o/r", token=token)
    assert status == 401
    status, _, _ = await send(forge, "GET", "/repos/g/h", token=token)
    assert status == 401


async def test_one_running_stopwatch_per_user(forge: FakeForge) -> None:
    base = "/api/v1/repos/o/r/issues"
    assert (await send(forge, "POST", f"{base}/1/stopwatch/start"))[0] == 201
    assert (await send(forge, "POST", f"{base}/1/stopwatch/start"))[0] == 409
    assert (await send(forge, "POST", f"{base}/2/stopwatch/start"))[0] == 201
    assert forge.times_on("o/r", 1) == [1]  # the first one stopped silently, its time kept
    status, watches, _ = await send(forge, "GET", "/api/v1/user/stopwatches")
    assert status == 200 and [watch["issue_index"] for watch in watches] == [2]
    assert (await send(forge, "POST", f"{base}/1/stopwatch/stop"))[0] == 409
    assert (await send(forge, "POST", f"{base}/2/stopwatch/stop"))[0] == 201
    assert (await send(forge, "POST", f"{base}/2/stopwatch/stop"))[0] == 409
    assert forge.stopwatches == {}


async def test_records_calls_readably(forge: FakeForge) -> None:
    await send(forge, "POST", "/api/v1/repos/o/r/issues/1/comments", {"body": "hi"})
    await send(forge, "GET", "/api/v1/repos/o/r/labels?limit=5")
    assert [str(call) for call in forge.calls] == [
        'POST /api/v1/repos/o/r/issues/1/comments {"body": "hi"} -> 201',
        "GET /api/v1/repos/o/r/labels?limit=5 -> 200",
    ]
    assert len(forge.calls_to("POST", "/api/v1/repos/o/r/issues/")) == 1
    assert len(forge.calls_to("*", re.compile(r"/labels\b"))) == 1
    assert forge.calls_to("GET", "/repos/") == []


async def test_injected_failures_then_normal_answers(forge: FakeForge) -> None:
    forge.fail("GET", r"/repos/g/h$", status=503, times=2)
    statuses = [(await send(forge, "GET", "/repos/g/h"))[0] for _ in range(3)]
    assert statuses == [503, 503, 200]


async def test_github_permissions_like_github(forge: FakeForge) -> None:
    forge.set_permission("g/h", "mia", "maintain")
    _, answer, _ = await send(forge, "GET", "/repos/g/h/collaborators/mia/permission")
    assert (answer["permission"], answer["role_name"], answer["user"]["login"]) == (
        "write",
        "maintain",
        "mia",
    )
    _, answer, _ = await send(forge, "GET", "/repos/g/h/collaborators/bob/permission")
    assert answer["permission"] == "read"  # not a collaborator of a public repository
    assert (await send(forge, "GET", "/repos/g/h/collaborators/ghost/permission"))[0] == 404


async def test_gitea_permissions_like_gitea(forge: FakeForge) -> None:
    _, answer, _ = await send(forge, "GET", "/api/v1/repos/o/r/collaborators/o/permission")
    assert answer["permission"] == "owner"
    assert (await send(forge, "GET", "/api/v1/repos/o/r/collaborators/ghost/permission"))[0] == 404
    forge.set_permission("o/r", "agent-bot", "write")  # only admins may ask about others
    assert (await send(forge, "GET", "/api/v1/repos/o/r/collaborators/alice/permission"))[0] == 403


async def test_github_bodies_have_every_required_field(forge: FakeForge) -> None:
    _, repo, _ = await send(forge, "GET", "/repos/g/h")
    assert {"archive_url", "clone_url", "default_branch", "owner"} <= repo.keys()
    assert repo["clone_url"] == f"{forge.url}/g/h.git"


async def test_pages_with_link_headers(forge: FakeForge) -> None:
    for index in range(5):
        forge.add_label("g/h", f"label-{index}")
    status, labels, headers = await send(forge, "GET", "/repos/g/h/labels?per_page=2")
    assert status == 200 and len(labels) == 2
    assert 'rel="next"' in headers["Link"] and "page=2" in headers["Link"]


async def test_app_endpoints_want_a_valid_jwt(forge: FakeForge) -> None:
    forge.configure_app(1, "not used")
    forge.install_app(7, "g/h")
    path = "/app/installations/7/access_tokens"
    status, answer, _ = await send(forge, "POST", path)
    assert status == 401 and "Bearer" in answer["message"]
    status, answer, _ = await send(forge, "POST", path, token="not-a-jwt", scheme="Bearer")
    assert status == 401 and "JSON web token" in answer["message"]
