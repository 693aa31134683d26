"""Run-control commands end to end: /review on a PR (report, no commits, no PR) and /retry."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.store.runs import RunState
from tests.engine_world import REPO, EngineWorld, make_world, send_comment
from tests.fake_forge import FakeForge
from tests.gitrepos import git
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


async def test_a_review_after_a_codex_run_reports_only_its_own_output(world: EngineWorld) -> None:
    """`/dispatch codex` leaves its stream and its `-o` summary in the PR workspace's `.meta`;
    the `/review` after it (which writes neither) must not show them as its own."""
    world.act("say:dispatch run streamed this,summary:dispatch run summary")
    async with running_bot(make_settings(world.root, world.forge.url), world.forge) as bot:
        await say(bot, world, "/dispatch codex fix it", 7)
        world.act("quiet")
        await say(bot, world, "/review", 7)
        review, dispatched = await bot.services.runs.list()
    assert (dispatched.state, dispatched.final_message) == (
        RunState.COMPLETED,
        "dispatch run summary",
    )
    assert (review.template, review.state) == ("review", RunState.COMPLETED)
    assert review.workspace_path == dispatched.workspace_path
    assert review.final_message is None
    body = world.status_comment(review.id, 7)
    assert "dispatch run" not in body and "Agent log" not in body
    assert "dispatch run summary" in world.status_comment(dispatched.id, 7)


async def test_a_pr_prompt_holds_the_diff_stat_against_the_merge_base(world: EngineWorld) -> None:
    world.origin.create_branch("topic")
    world.origin.commit(branch="topic", files={"docs/guide.md": "one\ntwo\n"})
    head = world.origin.commit(branch="topic", files={"src/app.py": "print('hi')\n"})
    world.origin.create_pull_ref(8, head)
    world.forge.add_pull_request(REPO, 8, "Add a guide", head_ref="topic", head_sha=head)
    world.origin.commit(files={"main-only.txt": "main moved on after the PR branched\n"})
    world.act("")
    async with running_bot(make_settings(world.root, world.forge.url), world.forge) as bot:
        await send_comment(
            bot, world, "/dispatch claude tidy it up", number=8, is_pull_request=True
        )
        [run] = await bot.services.runs.list()
    assert run.state is RunState.COMPLETED, run.reason
    prompt = (Path(run.workspace_path) / ".meta" / "prompt.md").read_text()
    heading = "### Files this pull request changes (`git diff --stat` against `main`)"
    assert heading in prompt
    section = prompt.split(heading)[1].split("## Rules")[0]
    expected = git("--git-dir", str(world.origin.path), "diff", "--stat=120", "main...topic")
    for line in expected.splitlines():
        assert line.strip() in section, line
    assert "docs/guide.md | 2 ++" in section and "src/app.py    | 1 +" in section
    assert "2 files changed, 3 insertions(+)" in section
    assert "main-only.txt" not in prompt  # from the merge base, not from the base branch's tip


async def test_a_pr_whose_diff_stat_git_cannot_tell_still_runs(world: EngineWorld) -> None:
    """The fixture's PR #7 head shares no history with `main` (no merge base): the prompt goes
    without the diff stat and the run goes on."""
    world.act("")
    async with running_bot(make_settings(world.root, world.forge.url), world.forge) as bot:
        await say(bot, world, "/dispatch claude tidy it up", 7)
        [run] = await bot.services.runs.list()
    assert run.state is RunState.COMPLETED, run.reason
    prompt = (Path(run.workspace_path) / ".meta" / "prompt.md").read_text()
    assert "Files this pull request changes" not in prompt and "tidy it up" in prompt
