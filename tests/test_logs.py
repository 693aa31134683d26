"""Structured logs, captured from the handler: one line per event with delivery/run/repo/issue
fields, in JSON or key=value, and no secret values in them."""

from __future__ import annotations

import copy
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.logs import LOGGER_NAME, configure_logging, get_logger, log_event
from bot.reload import apply_reload
from bot.signatures import sign
from tests.deliveries import load_fixture
from tests.engine_world import REPO, EngineWorld, make_world
from tests.fake_forge import FakeForge
from tests.harness import SECRETS, TOKEN, Bot, make_settings, running_bot

PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_line(line: str, log_format: str) -> dict[str, Any]:
    if log_format == "json":
        data = json.loads(line)
        assert isinstance(data, dict), line
        return data
    pairs = {
        key: json.loads(raw) if raw.startswith('"') else raw for key, raw in PAIR.findall(line)
    }
    assert line.startswith("time=") and "event" in pairs, line
    return pairs


@pytest.fixture
def capture() -> Iterator[Callable[[str], io.StringIO]]:
    """Point the bot's logging at a string buffer (DEBUG), and put it back afterwards."""
    root = logging.getLogger(LOGGER_NAME)
    saved = (root.handlers[:], root.level, root.propagate)

    def configure(log_format: str) -> io.StringIO:
        stream = io.StringIO()
        configure_logging(log_format, "DEBUG", stream=stream)
        return stream

    yield configure
    root.handlers[:], level, root.propagate = saved
    root.setLevel(level)


@pytest.fixture
def world(tmp_path: Path, fake_forge: FakeForge, monkeypatch: pytest.MonkeyPatch) -> EngineWorld:
    return make_world(tmp_path, fake_forge, monkeypatch)


async def comment(bot: Bot, world: EngineWorld, body: str, delivery: str) -> None:
    payload = copy.deepcopy(load_fixture("gitea/issue_comment.created.modern.json"))
    comment_id = world.forge.add_comment(REPO, 3, body, "alice")
    payload["comment"].update({"id": comment_id, "body": body})
    payload["comment"]["user"]["login"] = payload["sender"]["login"] = "alice"
    response = await bot.deliver(
        "forgejo", payload, "issue_comment", "issue_comment", delivery=delivery
    )
    assert response.status == 202


def find(lines: list[dict[str, Any]], event: str) -> dict[str, Any]:
    matching = [line for line in lines if line["event"] == event]
    assert matching, f"no {event!r} line in {[line['event'] for line in lines]}"
    return matching[0]


@pytest.mark.parametrize("log_format", ["json", "keyvalue"])
async def test_intake_and_run_lines_carry_delivery_run_repo_issue(
    world: EngineWorld, capture: Callable[[str], io.StringIO], log_format: str
) -> None:
    stream = capture(log_format)
    async with running_bot(make_settings(world.root, world.forge.url), world.forge) as bot:
        await comment(bot, world, "/dispatch claude fix it", "delivery-42")
        await bot.services.scheduler.idle()
    text = stream.getvalue()
    assert text.endswith("\n")
    lines = [parse_line(line, log_format) for line in text.splitlines()]
    assert all({"time", "level", "event"} <= set(line) for line in lines)

    def fields(line: dict[str, Any], *keys: str) -> tuple[str, ...]:
        return tuple(str(line.get(key)) for key in keys)

    accepted = find(lines, "accepted")
    assert fields(accepted, "delivery", "forge", "repo", "issue") == (
        "delivery-42",
        "forgejo",
        REPO,
        "3",
    )
    assert fields(find(lines, "processed"), "delivery", "forge") == ("delivery-42", "forgejo")
    queued = find(lines, "run queued")
    assert fields(queued, "run", "delivery", "repo", "issue") == ("1", "delivery-42", REPO, "3")
    for event in ("run running", "run completed"):
        assert fields(find(lines, event), "run", "forge", "repo", "issue") == (
            "1",
            "forgejo",
            REPO,
            "3",
        )


async def test_no_secret_values_in_the_logs(
    world: EngineWorld, capture: Callable[[str], io.StringIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = capture("json")
    agent_token = "ghp_agent-token-in-the-environment-0123456789"
    monkeypatch.setenv("GITHUB_TOKEN", agent_token)
    config = make_settings(
        world.root, world.forge.url, dispatch={"pass_env": ["OPENAI_API_KEY", "GITHUB_TOKEN"]}
    )
    payload = load_fixture("gitea/issue_comment.created.modern.json")
    body = json.dumps(payload).encode()
    wrong_signature = sign("not-the-secret", body)
    async with running_bot(config, world.forge) as bot:
        response = await bot.deliver(
            "forgejo", body, "issue_comment", "issue_comment", secret="not-the-secret"
        )
        assert response.status == 401
        world.forge.fail("GET", r"/collaborators/", 503, times=1)  # a forge failure is logged
        await comment(bot, world, "/dispatch codex fix it", "delivery-7")  # a container run
        await bot.services.scheduler.idle()
        [run] = await bot.services.runs.list()
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    rejected = find(lines, "signature rejected")
    assert rejected["forge"] == "forgejo" and rejected["level"] == "warning"
    assert any("503" in line["event"] for line in lines)  # the retried forge call
    assert find(lines, "run completed")["run"] == run.id
    # The container got the keys by name; their values reached neither it nor the log.
    assert any("GITHUB_TOKEN" in argv for argv in world.docker_calls())
    for secret in (
        *SECRETS.values(),
        TOKEN,
        "sk-test-openai-key-value",
        agent_token,
        wrong_signature,
    ):
        assert secret not in text, f"{secret!r} is in the log"


async def test_a_reloaded_logging_section_applies_to_the_same_stream(
    bot: Bot, capture: Callable[[str], io.StringIO]
) -> None:
    stream = capture("keyvalue")
    old = bot.services.settings
    new_logging = old.logging.model_copy(update={"format": "json", "level": "WARNING"})
    result = await apply_reload(bot.services, old.model_copy(update={"logging": new_logging}))
    assert result.changed == ("logging",)
    log_event(get_logger("test"), logging.INFO, "hidden now", run=1)
    log_event(get_logger("test"), logging.WARNING, "shown", run=2, repo="o/r", issue=5)
    [line] = stream.getvalue().splitlines()  # "config reloaded" is info: below the new level
    assert json.loads(line) | {"time": None} == {
        "time": None,
        "level": "warning",
        "event": "shown",
        "run": 2,
        "repo": "o/r",
        "issue": 5,
    }
