"""`GET /metrics` over real HTTP: deliveries, runs, queue, backoff, freeze and forge calls."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.store.runs import RunState
from tests.deliveries import load_fixture, signed_headers
from tests.engine_world import REPO, EngineWorld, make_world
from tests.fake_forge import FakeForge
from tests.harness import SECRETS, Bot, make_settings, running_bot

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(target: Bot | str) -> Samples:
    """The bot's /metrics, from an in-process bot or from a base URL."""
    if isinstance(target, Bot):
        response = await target.client.get("/metrics")
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return parse(await response.text())
    async with aiohttp.ClientSession() as session, session.get(f"{target}/metrics") as response:
        assert response.status == 200
        return parse(await response.text())


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def comment_payload(body: str, number: int = 3, comment_id: int | None = None) -> dict:
    payload = copy.deepcopy(load_fixture("gitea/issue_comment.created.modern.json"))
    payload["comment"]["body"] = body
    payload["issue"]["number"] = number
    if comment_id is not None:
        payload["comment"]["id"] = comment_id
    return payload


async def test_deliveries_runs_queue_backoff_and_forge_calls(
    bot: Bot, fake_forge: FakeForge
) -> None:
    fake_forge.add_repo("kostekIV/test", family="gitea")
    fake_forge.set_permission("kostekIV/test", "kostekIV", "write")
    fake_forge.add_issue("kostekIV/test", 3, "Fix the README", "It has typos.", author="kostekIV")
    comment_id = fake_forge.add_comment("kostekIV/test", 3, "/dispatch claude fix it", "kostekIV")
    # The permission check meets one 503 and succeeds on the retry.
    fake_forge.fail("GET", r"/collaborators/[^/]+/permission$", 503, times=1)
    payload = comment_payload("/dispatch claude fix it", 3, comment_id)
    deliveries = [
        await bot.deliver("gitea", payload, "issue_comment", "issue_comment", delivery="d-1"),
        await bot.deliver("gitea", payload, "issue_comment", "issue_comment", delivery="d-1"),
        await bot.deliver("gitea", payload, "issue_comment", secret="wrong-secret"),
        await bot.deliver("github", load_fixture("github/ping.json"), "ping"),
        await bot.deliver("gitea", payload, "push"),
    ]
    assert [response.status for response in deliveries] == [202, 200, 401, 200, 202]
    body = b"{}"
    headers = signed_headers("gitea", SECRETS["gitea"], body, "issue_comment")
    assert (await bot.client.post("/webhook/nope", data=body, headers=headers)).status == 404
    form = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
    assert (await bot.client.post("/webhook/gitea", data=body, headers=form)).status == 415
    await bot.services.flags.set_backoff("codex", 0, time.time() + 600)

    samples = await scrape(bot)

    def deliveries_of(forge: str, event: str, outcome: str) -> float | None:
        return value(
            samples, "bot_webhook_deliveries_total", forge=forge, event=event, outcome=outcome
        )

    assert deliveries_of("gitea", "issue_comment", "accepted") == 1
    assert deliveries_of("gitea", "issue_comment", "duplicate") == 1
    assert deliveries_of("gitea", "", "unauthorized") == 1  # headers not trusted before the check
    assert deliveries_of("github", "ping", "ping") == 1
    assert deliveries_of("gitea", "push", "ignored") == 1
    assert deliveries_of("unknown", "", "not_found") == 1  # no label per made-up forge name
    assert deliveries_of("gitea", "", "unsupported_media_type") == 1
    assert value(samples, "bot_webhook_intake_seconds_count") == 7

    # The run is queued: the bot fixture keeps dispatch frozen.
    assert value(samples, "bot_runs", state="queued", agent="claude") == 1
    assert value(samples, "bot_runs", state="running", agent="claude") == 0
    assert value(samples, "bot_queue_depth") == 1
    assert value(samples, "bot_running_runs", pool="claude") == 0
    assert value(samples, "bot_dispatch_frozen") == 1
    assert value(samples, "bot_pool_backoff_active", pool="codex") == 1
    assert value(samples, "bot_pool_backoff_active", pool="claude") == 0
    assert value(samples, "bot_concurrency_limit", pool="total") == 4

    def calls(method: str, status: str) -> float | None:
        return value(
            samples, "bot_forge_api_calls_total", forge="gitea", method=method, status=status
        )

    assert calls("GET", "503") == 1
    assert calls("GET", "200") >= 1  # the retry, and any other reads
    assert calls("POST", "201") >= 1  # the status comment (and the reaction)
    assert (
        value(samples, "bot_forge_api_errors_total", forge="gitea", method="GET", status="503") == 1
    )
    assert not any(
        name == "bot_forge_api_errors_total" and dict(labels)["status"] in ("200", "201")
        for name, labels in samples
    )
    # Paths never become labels: the series stay few whatever the repositories.
    assert all(
        set(dict(labels)) == {"forge", "method", "status"}
        for name, labels in samples
        if name.startswith("bot_forge_api_")
    )

    await bot.services.flags.set_frozen(False)
    samples = await scrape(bot)
    assert value(samples, "bot_dispatch_frozen") == 0


async def test_each_app_has_its_own_registry(tmp_path: Path, fake_forge: FakeForge) -> None:
    first = make_settings(tmp_path / "one", fake_forge.url)
    second = make_settings(tmp_path / "two", fake_forge.url, concurrency={"total": 9})
    async with running_bot(first, frozen=True) as one, running_bot(second, frozen=True) as two:
        await one.deliver("github", load_fixture("github/ping.json"), "ping")
        samples_one, samples_two = await scrape(one), await scrape(two)
    ping = {"forge": "github", "event": "ping", "outcome": "ping"}
    assert value(samples_one, "bot_webhook_deliveries_total", **ping) == 1
    assert value(samples_two, "bot_webhook_deliveries_total", **ping) is None
    assert value(samples_one, "bot_concurrency_limit", pool="total") == 4
    assert value(samples_two, "bot_concurrency_limit", pool="total") == 9


@pytest.fixture
def world(tmp_path: Path, fake_forge: FakeForge, monkeypatch: pytest.MonkeyPatch) -> EngineWorld:
    return make_world(tmp_path, fake_forge, monkeypatch)


async def test_finished_runs_are_timed_and_counted(world: EngineWorld) -> None:
    world.act("sleep:0.3")
    config = make_settings(world.root, world.forge.url, concurrency={"claude": {"total": 2}})
    async with running_bot(config, world.forge) as bot:
        comment_id = world.forge.add_comment(REPO, 3, "/dispatch claude go", "alice")
        payload = comment_payload("/dispatch claude go", 3, comment_id)
        payload["comment"]["user"]["login"] = payload["sender"]["login"] = "alice"
        assert (await bot.deliver("forgejo", payload, "issue_comment", "issue_comment")).ok
        await bot.services.scheduler.idle()
        [run] = await bot.services.runs.list()
        samples = await scrape(bot)
    assert run.state is RunState.COMPLETED
    labels = {"agent": "claude", "state": "completed"}
    assert value(samples, "bot_run_duration_seconds_count", **labels) == 1
    observed = value(samples, "bot_run_duration_seconds_sum", **labels)
    assert observed == pytest.approx(run.finished_at - run.started_at)
    assert observed >= 0.3
    assert value(samples, "bot_runs", state="completed", agent="claude") == 1
    assert value(samples, "bot_queue_depth") == 0
    assert value(samples, "bot_running_runs", pool="claude") == 0
    assert value(samples, "bot_concurrency_limit", pool="claude") == 2
    calls = [
        labels
        for (name, labels), count in samples.items()
        if name == "bot_forge_api_calls_total" and count
    ]
    assert {dict(labels)["forge"] for labels in calls} == {"forgejo"}
