"""The whole story on each forge kind, and what a person sees when things go wrong.

`/dispatch` → 👀 + status comment + stopwatch → BLOCKED.md → stopwatch stopped + question
posted → `/answer …` → commits → branch pushed, PR opened with `Closes #N`, status comment
edited to completed with the PR link. Plus: a forge outage loses no comment, and no secret
from the environment ever reaches a posted body.
"""

from __future__ import annotations

import asyncio
import copy
import re
from pathlib import Path

import pytest

from bot.forge.http import RetryPolicy
from bot.store.runs import RunState
from tests.deliveries import load_fixture
from tests.engine_world import REPO, EngineWorld, make_world
from tests.fake_forge import FakeForge
from tests.harness import Bot, make_settings, running_bot

FAST = RetryPolicy(attempts=1, base_delay=0.01, max_delay=0.01, deadline=5, timeout=5)
FAMILY = {"forgejo": "gitea", "gitea": "gitea", "github": "github"}
EVENT_TYPE = {"forgejo": "issue_comment", "gitea": "issue_comment", "github": None}


def comment_payload(world: EngineWorld, kind: str, body: str, author: str = "alice") -> dict:
    name = (
        "github/issue_comment.created.json"
        if kind == "github"
        else ("gitea/issue_comment.created.modern.json")
    )
    payload = copy.deepcopy(load_fixture(name))
    comment_id = world.forge.add_comment(REPO, 3, body, author)
    payload["comment"].update({"id": comment_id, "body": body})
    payload["comment"]["user"]["login"] = payload["sender"]["login"] = author
    payload["repository"]["full_name"] = REPO
    payload["issue"]["number"] = 3
    return payload


async def say(bot: Bot, world: EngineWorld, kind: str, body: str) -> int:
    payload = comment_payload(world, kind, body)
    response = await bot.deliver(kind, payload, "issue_comment", EVENT_TYPE[kind])
    assert response.status == 202, await response.text()
    await bot.services.scheduler.idle()
    await bot.services.outbox.deliver_due()
    return payload["comment"]["id"]


def bot_comments(world: EngineWorld) -> list[str]:
    return [c.body for c in world.forge.comments_on(REPO, 3) if c.author == "agent-bot"]


def calls(world: EngineWorld, pattern: str) -> list[str]:
    return [f"{c.method} {c.path}" for c in world.forge.calls if re.search(pattern, c.path)]


@pytest.mark.parametrize("kind", ["forgejo", "gitea", "github"])
async def test_the_whole_story(
    tmp_path: Path, fake_forge: FakeForge, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    world = make_world(tmp_path, fake_forge, monkeypatch, family=FAMILY[kind])
    world.act("blocked:Which README do you mean?")
    async with running_bot(make_settings(tmp_path, fake_forge.url), fake_forge) as bot:
        first_comment = await say(bot, world, kind, "/dispatch claude fix the README")
        [blocked] = await bot.services.runs.list()
        assert blocked.state is RunState.BLOCKED
        assert fake_forge.reactions_on(first_comment) == ["eyes"]
        [status] = bot_comments(world)
        assert f"<!-- agent-bot:run={blocked.id} -->" in status
        assert "> Which README do you mean?" in status and "/answer" in status
        assert "@alice" in status and "> /dispatch claude fix the README" in status
        if kind == "github":
            assert calls(world, "stopwatch|/times") == []
        else:
            assert calls(world, "stopwatch") == [
                "POST /api/v1/repos/kostekIV/test/issues/3/stopwatch/start",
                "POST /api/v1/repos/kostekIV/test/issues/3/stopwatch/stop",
            ]
            assert len(fake_forge.times_on(REPO, 3)) == 1

        world.act("answered,commit")
        await say(bot, world, kind, "/answer the one at the root")
        resumed, first = await bot.services.runs.list()
    assert resumed.state is RunState.COMPLETED, resumed.reason
    assert resumed.pr_url and resumed.pushed_branch == "agent/issue-3-fix-the-readme"
    # The branch is in the origin with the agent's commit.
    assert world.origin.git("log", "--format=%s", "-1", "agent/issue-3-fix-the-readme") == (
        "Fix the README"
    )
    [pull_request] = [
        c for c in fake_forge.calls if c.method == "POST" and c.path.endswith("/pulls")
    ]
    assert "Closes #3" in pull_request.json["body"]
    assert pull_request.json["head"] == "agent/issue-3-fix-the-readme"
    assert pull_request.json["base"] == "main"
    if kind == "github":
        assert pull_request.json["draft"] is True
    else:
        assert pull_request.json["title"].startswith("WIP: ")
    statuses = bot_comments(world)
    assert len(statuses) == 2  # one per run, each edited in place
    assert "**completed**" in statuses[1] or "completed" in statuses[1].lower()
    assert resumed.pr_url in statuses[1]
    assert f"<!-- agent-bot:run={resumed.id} -->" in statuses[1]
    assert first.state is RunState.BLOCKED


@pytest.mark.parametrize(
    ("methods", "expected"),
    [
        # Comment writes fail while the agent works: the result is posted once they recover.
        (("POST", "PATCH"), "agent exited with code 3"),
        # The forge is down for reads too, so preparation fails: that is posted when it's back.
        (("*",), "preparation failed"),
    ],
)
async def test_a_forge_outage_loses_no_comment(
    tmp_path: Path,
    fake_forge: FakeForge,
    monkeypatch: pytest.MonkeyPatch,
    methods: tuple[str, ...],
    expected: str,
) -> None:
    world = make_world(tmp_path, fake_forge, monkeypatch)
    world.act("exit:3")
    settings = make_settings(tmp_path, fake_forge.url)
    async with running_bot(settings, fake_forge, retry_policy=FAST) as bot:
        bot.services.outbox.base_delay = bot.services.outbox.max_delay = 0.01
        # The forge answers 503 to every comment write for a while, from the start.
        for method in methods:
            fake_forge.fail(method, r"/issues/(\d+/comments|comments/\d+)$", 503, times=6)
        payload = comment_payload(world, "forgejo", "/dispatch claude fix the README")
        response = await bot.deliver("forgejo", payload, "issue_comment", "issue_comment")
        assert response.status == 202
        await bot.services.scheduler.idle()
        [run] = await bot.services.runs.list()
        assert run.state is RunState.FAILED
        for _ in range(500):  # the retries are due 10 ms apart: give them real time
            if not await bot.services.outbox.pending():
                break
            await bot.services.outbox.deliver_due()
            await asyncio.sleep(0.01)
    [status] = bot_comments(world)  # it arrived once the forge answered, exactly once
    assert expected in status


async def test_no_secret_from_the_environment_reaches_a_posted_body(
    tmp_path: Path, fake_forge: FakeForge, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(tmp_path, fake_forge, monkeypatch)
    secret = "sk-proj-PLANTEDsecretVALUE1234567890abcd"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    world.act("print:OPENAI_API_KEY,print:SCRIPTED_AGENT_RECORD,exit:1")
    async with running_bot(make_settings(tmp_path, fake_forge.url), fake_forge) as bot:
        await say(bot, world, "forgejo", "/dispatch claude fix the README")
        [run] = await bot.services.runs.list()
    log = (Path(run.workspace_path) / ".meta" / "agent-claude.log").read_text()
    assert secret in log  # the agent did print it...
    posted = [str(call.json) for call in fake_forge.calls if call.json]
    assert posted and not any(secret in body for body in posted)  # ...but nothing posted it
    assert any("debug: ***" in body for body in posted)
