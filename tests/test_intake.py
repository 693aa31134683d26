"""Webhook intake over real HTTP: signatures, status codes, inbox, de-duplication, restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.appkeys import SERVICES
from bot.store import open_database
from bot.store.inbox import Inbox
from tests.deliveries import FIXTURE_HEADERS, load_fixture, signed_headers
from tests.fake_forge import FakeForge
from tests.harness import SECRETS, Bot, make_settings, running_bot

# fixture → (HTTP status, stored in the inbox, normalised type, repo, number, actor)
EXPECTED = {
    "github/issues.labeled.json": (202, True, "label", "Codertocat/Hello-World", 1, "Codertocat"),
    "github/issues.unlabeled.json": (202, True, "label", "Codertocat/Hello-World", 1, "Codertocat"),
    "github/issue_comment.created.json": (
        202,
        True,
        "comment",
        "Codertocat/Hello-World",
        1,
        "Codertocat",
    ),
    "github/issue_comment.created.on_pr.json": (
        202,
        True,
        "comment",
        "abc/def-ci-webhook-test",
        2,
        "lts-def",
    ),
    "github/issue_comment.edited.json": (
        202,
        True,
        "comment",
        "Codertocat/Hello-World",
        1,
        "Codertocat",
    ),
    "github/pull_request.labeled.json": (
        202,
        True,
        "label",
        "Codertocat/Hello-World",
        2,
        "Codertocat",
    ),
    "github/pull_request_review_comment.created.json": (
        202,
        True,
        "comment",
        "Codertocat/Hello-World",
        2,
        "Codertocat",
    ),
    "github/ping.json": (200, False, "ping", None, None, None),
    "gitea/issue_comment.created.json": (202, True, "comment", "gogits/hello-world", 1, "unknwon"),
    "gitea/issue_comment.created.modern.json": (
        202,
        True,
        "comment",
        "kostekIV/test",
        3,
        "kostekIV",
    ),
    "gitea/issue_comment.edited.json": (202, True, "comment", "kostekIV/test", 3, "kostekIV"),
    "gitea/pull_request_comment.created.json": (
        202,
        True,
        "comment",
        "gogits/hello-world",
        2,
        "unknwon",
    ),
    "gitea/pull_request.label_updated.json": (
        202,
        True,
        "label",
        "a_nice_user/hello_world_ci",
        7,
        "a_nice_user",
    ),
    "forgejo/pull_request.label_updated.json": (
        202,
        True,
        "label",
        "test_it/test_ci_thing",
        1,
        "6543",
    ),
}


def test_every_fixture_has_an_expectation() -> None:
    assert set(EXPECTED) == set(FIXTURE_HEADERS)


async def inbox_rows(bot: Bot) -> list[tuple]:
    rows = await bot.services.database.fetch_all(
        "SELECT forge, delivery_id, event, event_type, outcome FROM inbox"
        " LEFT JOIN inbox_outcomes ON inbox_outcomes.inbox_id = inbox.id ORDER BY id"
    )
    return [tuple(row) for row in rows]


@pytest.mark.parametrize("name", sorted(FIXTURE_HEADERS))
async def test_fixture_is_accepted_stored_and_normalised(bot: Bot, name: str) -> None:
    forge_name = name.split("/")[0]
    event, event_type = FIXTURE_HEADERS[name]
    status, stored, kind, repo, number, actor = EXPECTED[name]
    payload = load_fixture(name)
    if kind == "comment":  # comments without a command are acknowledged but not stored
        payload["comment"]["body"] = "/status\n" + (payload["comment"]["body"] or "")
    response = await bot.deliver(forge_name, payload, event, event_type, delivery="delivery-1")
    assert response.status == status, await response.text()
    rows = await inbox_rows(bot)
    if not stored:
        assert rows == []
        assert await response.text() == "pong"
        return
    assert len(rows) == 1
    assert rows[0][:4] == (forge_name, "delivery-1", event, event_type)
    assert rows[0][4] is not None  # processed
    row = (await Inbox(bot.services.database).unprocessed()) or None
    assert row is None
    from bot.normalise import normalise

    stored_body = await bot.services.database.fetch_one("SELECT body FROM inbox")
    normalised = normalise(
        forge=forge_name,
        forge_kind=forge_name,
        event_name=event,
        event_type=event_type,
        payload=json.loads(stored_body[0]),
    )
    assert (normalised.type, normalised.repo.full_name, normalised.number) == (kind, repo, number)
    assert normalised.actor_login == actor


@pytest.mark.parametrize("name", sorted(FIXTURE_HEADERS))
@pytest.mark.parametrize("signature", ["wrong", "missing", "other-forge-secret"])
async def test_bad_signature_is_401_and_nothing_stored(bot: Bot, name: str, signature: str) -> None:
    forge_name = name.split("/")[0]
    event, event_type = FIXTURE_HEADERS[name]
    body = json.dumps(load_fixture(name)).encode()
    headers = signed_headers(forge_name, SECRETS[forge_name], body, event, event_type)
    if signature == "wrong":
        for header in ("X-Hub-Signature-256", "X-Gitea-Signature", "X-Forgejo-Signature"):
            if header in headers:
                headers[header] = headers[header][:-4] + "0000"
    elif signature == "missing":
        for header in ("X-Hub-Signature-256", "X-Gitea-Signature", "X-Forgejo-Signature"):
            headers.pop(header, None)
    else:
        other = "github" if forge_name != "github" else "gitea"
        headers = signed_headers(forge_name, SECRETS[other], body, event, event_type)
    response = await bot.client.post(f"/webhook/{forge_name}", data=body, headers=headers)
    assert response.status == 401
    assert await inbox_rows(bot) == []


@pytest.mark.parametrize(
    ("headers", "body", "status", "reason"),
    [
        (
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"payload=%7B%7D",
            415,
            "content type",
        ),
        ({"Content-Type": "text/plain"}, b"{}", 415, "content type"),
        ({}, b"{not json", 400, "malformed JSON"),
        ({}, b"[1, 2]", 400, "payload"),
        ({}, b'{"action": "created"}', 400, "payload"),
        ({"X-GitHub-Event": ""}, b"{}", 400, "X-GitHub-Event"),
        ({"X-GitHub-Delivery": ""}, b"{}", 400, "X-GitHub-Delivery"),
    ],
)
async def test_bad_requests_get_a_4xx_with_a_reason(
    bot: Bot, headers: dict[str, str], body: bytes, status: int, reason: str
) -> None:
    base = signed_headers("gitea", SECRETS["gitea"], body, "issue_comment", "issue_comment")
    response = await bot.client.post("/webhook/gitea", data=body, headers={**base, **headers})
    assert response.status == status
    assert reason in (await response.json())["reason"]
    assert await inbox_rows(bot) == []


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
async def test_json_is_accepted_whatever_the_parameters_or_case(
    bot: Bot, content_type: str
) -> None:
    body = b'{"zen": "x"}'
    headers = signed_headers("gitea", SECRETS["gitea"], body, "ping")
    response = await bot.client.post(
        "/webhook/gitea", data=body, headers={**headers, "Content-Type": content_type}
    )
    assert response.status == 200


async def test_unknown_forge_is_404(bot: Bot) -> None:
    response = await bot.deliver("gitea", {}, "issue_comment", wait=False)
    assert response.status != 404
    body = b"{}"
    headers = signed_headers("gitea", SECRETS["gitea"], body, "issue_comment")
    response = await bot.client.post("/webhook/nope", data=body, headers=headers)
    assert response.status == 404


async def test_body_over_the_limit_is_413(tmp_path: Path, fake_forge: FakeForge) -> None:
    settings = make_settings(tmp_path, fake_forge.url, server={"max_body_mb": 0.001})
    async with running_bot(settings, fake_forge, frozen=True) as bot:
        payload = load_fixture("gitea/issue_comment.created.modern.json")
        payload["comment"]["body"] = "x" * 5000
        response = await bot.deliver("gitea", payload, "issue_comment", "issue_comment")
        assert response.status == 413
        assert await inbox_rows(bot) == []


@pytest.mark.parametrize("body", ["thanks!", "see /usr/bin/env", "> /dispatch quoted", ""])
async def test_a_comment_without_a_command_is_acknowledged_and_not_stored(
    bot: Bot, body: str
) -> None:
    payload = load_fixture("gitea/issue_comment.created.modern.json")
    payload["comment"]["body"] = body
    response = await bot.deliver("gitea", payload, "issue_comment", "issue_comment")
    assert response.status == 202
    assert (await response.json())["reason"] == "ignored: a comment without a command"
    assert await inbox_rows(bot) == []


async def test_ignored_event_is_acknowledged_and_not_stored(bot: Bot) -> None:
    payload = load_fixture("gitea/issue_comment.created.modern.json")
    response = await bot.deliver("gitea", payload, "push", None)
    assert response.status == 202
    assert "ignored" in (await response.json())["reason"]
    assert await inbox_rows(bot) == []


async def test_repeated_delivery_id_is_processed_once(bot: Bot) -> None:
    payload = load_fixture("gitea/issue_comment.created.modern.json")
    payload["comment"]["body"] = "/status"
    first = await bot.deliver("gitea", payload, "issue_comment", "issue_comment", delivery="d-1")
    again = await bot.deliver("gitea", payload, "issue_comment", "issue_comment", delivery="d-1")
    assert (first.status, again.status) == (202, 200)
    assert len(await inbox_rows(bot)) == 1


async def test_gitea_replay_with_new_delivery_id_runs_the_command_once(
    bot: Bot, fake_forge: FakeForge
) -> None:
    fake_forge.add_repo("kostekIV/test", family="gitea")
    fake_forge.set_permission("kostekIV/test", "kostekIV", "write")
    payload = load_fixture("gitea/issue_comment.created.modern.json")
    payload["comment"]["body"] = "/dispatch claude fix it"
    for delivery in ("d-1", "d-2"):
        response = await bot.deliver(
            "gitea", payload, "issue_comment", "issue_comment", delivery=delivery
        )
        assert response.status == 202
    outcomes = [row[4] for row in await inbox_rows(bot)]
    assert outcomes == ["dispatch:queued", "replayed-comment"]
    assert len(await bot.services.runs.list()) == 1


async def test_leftover_inbox_rows_are_processed_at_start_up(
    tmp_path: Path, fake_forge: FakeForge
) -> None:
    fake_forge.add_repo("kostekIV/test", family="gitea")
    fake_forge.set_permission("kostekIV/test", "kostekIV", "write")
    settings = make_settings(tmp_path, fake_forge.url)
    payload = load_fixture("gitea/issue_comment.created.modern.json")
    payload["comment"]["body"] = "/dispatch codex:gpt-5.4-mini add tests"
    # A delivery stored by a process that died before processing it.
    database = await open_database(settings.database.path)
    await Inbox(database).add(
        "gitea", "d-9", "issue_comment", "issue_comment", json.dumps(payload).encode()
    )
    await database.close()
    async with running_bot(settings, fake_forge, frozen=True) as bot:
        await bot.idle()
        runs = await bot.client.server.app[SERVICES].runs.list()
        assert [(run.agent, run.model, run.instructions) for run in runs] == [
            ("codex", "gpt-5.4-mini", "add tests")
        ]
        assert (await inbox_rows(bot))[0][4] == "dispatch:queued"


async def test_healthz(bot: Bot) -> None:
    response = await bot.client.get("/healthz")
    assert response.status == 200
    assert (await response.json()) == {"status": "ok"}
