"""Run-control commands end to end: /review on a PR (report, no commits, no PR) and /retry."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.store.runs import RunState
from tests.engine_world import REPO, EngineWorld, make_world, send_comment
from tests.fake_forge import FakeForge
from tests.harness import Bot, make_settings, running_bot


@pytest.fixture
def world(tmp_path: Path, fake_forge: FakeForge, monkeypatch: pytest.MonkeyPatch) -> EngineWorld:
    created = make_world(tmp_path, fake_forge, monkeypatch)
    head = created.origin.commit(branch="feature", files={"feature.txt": "new\n"})
    created.origin.create_pull_ref(7, head)
    fake_forge.add_pull_request(
        REPO, 7, "Add a feature", "please review", head_ref="feature", head_sha=head
    )
    return created


async def say(bot: Bot, world: EngineWorld, body: str, number: int) -> None:
    await send_comment(bot, world, body, number=number, is_pull_request=number == 7)


async def test_review_runs_the_review_agent_on_the_pr_head_and_posts_its_report(
    world: EngineWorld,
) -> None:
    world.act("")
    async with running_bot(make_settings(world.root, world.forge.url), world.forge) as bot:
        await say(bot, world, "/review", 7)
        [run] = await bot.services.runs.list()
    assert (run.agent, run.model, run.template, run.is_pull_request) == (
        "codex",
        "review",
        "review",
        True,
    )
    assert run.state is RunState.COMPLETED and run.branch == "feature"
    [agent] = world.agent_runs()
    assert agent["argv"][:2] == ["exec", "--dangerously-bypass-approvals-and-sandbox"]
    assert agent["argv"][2].startswith("Review the last 2 commits via git diff HEAD~2.")
    assert agent["branch"] == "feature"
    assert not [c for c in world.forge.calls if c.method == "POST" and c.path.endswith("/pulls")]
    assert run.pushed_branch is None and run.pr_url is None
    [status] = [c.body for c in world.forge.comments_on(REPO, 7) if c.author == "agent-bot"]
    assert "final message: done" in status  # the agent's report is the outcome


async def test_review_on_an_issue_is_refused_with_usage(world: EngineWorld) -> None:
    async with running_bot(make_settings(world.root, world.forge.url), world.forge) as bot:
        await say(bot, world, "/review", 3)
        assert await bot.services.runs.list() == []
    [reply] = [c.body for c in world.forge.comments_on(REPO, 3) if c.author == "agent-bot"]
    assert "Usage:" in reply


async def test_retry_runs_the_latest_run_again_with_the_same_parameters(
    world: EngineWorld,
) -> None:
    world.act("exit:2")
    async with running_bot(make_settings(world.root, world.forge.url), world.forge) as bot:
        await say(bot, world, "/dispatch claude template=security fix it", 3)
        world.act("")
        await say(bot, world, "/retry", 3)
        second, first = await bot.services.runs.list()
    assert first.state is RunState.FAILED and second.state is RunState.COMPLETED
    assert (second.agent, second.template, second.instructions) == ("claude", "security", "fix it")
    assert len(world.agent_runs()) == 2
