"""Admin actions on the status pages: the token, refusals, and cancelling a real running agent."""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path

import pytest

from bot.store.runs import RunState
from tests.deliveries import load_fixture
from tests.engine_world import REPO, make_world
from tests.fake_forge import FakeForge
from tests.harness import Bot, make_settings
from tests.web_world import (
    ADMIN_TOKEN,
    BEARER,
    json_of,
    read_event,
    services_of,
    serving,
    until,
    with_admin_token,
)


async def test_admin_cancel_needs_the_right_token(web) -> None:
    client, seeded = web
    path = f"/admin/runs/{seeded.behind_limit.id}/cancel"
    missing = await client.post(path)
    assert missing.status == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = await client.post(path, headers={"Authorization": "Bearer nope"})
    assert (await json_of(wrong, 403))["message"] == "the admin token is wrong"
    form = await client.post(path, data={"token": "nope"})
    assert form.status == 403 and "the admin token is wrong" in await form.text()
    run = await services_of(client).runs.get(seeded.behind_limit.id)
    assert run.state is RunState.QUEUED
    done = await json_of(await client.post(path, headers=BEARER))
    assert done["run"]["state"] == "cancelled" and done["run"]["reason"] == "cancelled by an admin"
    again = await json_of(await client.post(path, headers=BEARER), 409)
    assert again["message"] == f"run {seeded.behind_limit.id} is already cancelled"
    unknown = await client.post("/admin/runs/999/cancel", headers=BEARER)
    assert unknown.status == 404
    assert (await client.get(path)).status == 405


async def test_admin_form_cancel_redirects_back_to_the_run(web) -> None:
    client, seeded = web
    run_id = seeded.behind_pause.id
    response = await client.post(
        f"/admin/runs/{run_id}/cancel",
        data={"token": ADMIN_TOKEN, "next": "/\t/evil.example.org/"},
        allow_redirects=False,
    )
    assert response.status == 303 and response.headers["Location"] == f"/runs/{run_id}"
    assert (await services_of(client).runs.get(run_id)).state is RunState.CANCELLED
    back = await client.post(
        "/admin/freeze",
        data={"token": ADMIN_TOKEN, "next": "/?state=queued"},
        allow_redirects=False,
    )
    assert back.headers["Location"] == "/?state=queued"
    for target in ("//evil.example.org", "https://evil.example.org/", "/\\evil.example.org"):
        response = await client.post(
            "/admin/unfreeze", data={"token": ADMIN_TOKEN, "next": target}, allow_redirects=False
        )
        assert response.headers["Location"] == "/"


async def test_admin_freeze_unfreeze_and_clear_backoff(web) -> None:
    client, seeded = web
    services = services_of(client)
    assert (await json_of(await client.post("/admin/freeze", headers=BEARER)))["frozen"] is True
    assert await services.flags.is_frozen()
    status = await json_of(await client.get("/api/status"))
    assert {entry["reason"] for entry in status["queue"]} == {"dispatch is frozen"}
    assert "dispatch frozen" in await (await client.get("/")).text()
    response = await client.post(
        "/admin/unfreeze", data={"token": ADMIN_TOKEN}, allow_redirects=False
    )
    assert response.status == 303 and not await services.flags.is_frozen()
    await services.flags.set_backoff("codex", 3, time.time() + 600)
    cleared = await client.post("/admin/pools/codex/clear-backoff", headers=BEARER)
    assert (await json_of(cleared))["pool"] == "codex"
    backoff = await services.flags.backoff("codex")
    assert (backoff.failure_count, backoff.paused_until) == (0, None)
    assert (await client.post("/admin/pools/nothing/clear-backoff", headers=BEARER)).status == 404
    assert (await client.post("/admin/freeze")).status == 401


async def test_admin_actions_are_refused_without_a_configured_token(
    tmp_path: Path, fake_forge: FakeForge
) -> None:
    settings = with_admin_token(make_settings(tmp_path, fake_forge.url), None)
    async with serving(settings) as client:
        refused = await json_of(await client.post("/admin/freeze", headers=BEARER), 403)
        assert "no admin token is configured" in refused["message"]
        assert not await services_of(client).flags.is_frozen()
        page = await (await client.get("/")).text()
        assert "Admin actions are off" in page and 'id="freeze-form"' not in page


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")


async def test_cancel_stops_a_really_running_agent_whose_log_streams_live(
    tmp_path: Path, fake_forge: FakeForge, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(tmp_path, fake_forge, monkeypatch)
    world.act("sleep:30")
    settings = make_settings(tmp_path, fake_forge.url, dispatch={"cancel_grace_seconds": 0.5})
    async with serving(with_admin_token(settings)) as client:
        bot = Bot(client, fake_forge)
        payload = copy.deepcopy(load_fixture("gitea/issue_comment.created.modern.json"))
        body = "/dispatch claude go"
        payload["comment"].update(
            {"id": fake_forge.add_comment(REPO, 3, body, "alice"), "body": body}
        )
        payload["comment"]["user"]["login"] = payload["sender"]["login"] = "alice"
        payload["issue"]["number"] = 3
        assert (
            await bot.deliver("forgejo", payload, "issue_comment", "issue_comment")
        ).status == 202

        async def agent_started() -> bool:
            return bool(world.agent_runs())

        await until(agent_started, 20)
        [run] = await services_of(client).runs.list()
        assert run.state is RunState.RUNNING
        stream = await client.get(f"/runs/{run.id}/log/stream")
        event, data = await read_event(stream)
        assert event == "log" and "claude working in" in data
        started = time.monotonic()
        cancelled = await json_of(await client.post(f"/admin/runs/{run.id}/cancel", headers=BEARER))
        assert time.monotonic() - started < 5
        assert (cancelled["run"]["state"], cancelled["run"]["reason"]) == (
            "cancelled",
            "cancelled by an admin",
        )
        while event != "end":
            event, data = await read_event(stream)
        assert data == "cancelled"
    assert gone(world.agent_runs()[0]["pid"])
