"""The BLOCKED.md round trip: a blocked run, `/answer …`, and the resumed run in the same workspace."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.store.runs import RunState
from tests.engine_world import REPO, EngineWorld, make_world, send_comment
from tests.fake_forge import FakeForge
from tests.harness import Bot, make_settings, running_bot


@pytest.fixture
def world(tmp_path: Path, fake_forge: FakeForge, monkeypatch: pytest.MonkeyPatch) -> EngineWorld:
    return make_world(tmp_path, fake_forge, monkeypatch)


async def comment(bot: Bot, world: EngineWorld, body: str) -> None:
    await send_comment(bot, world, body)


async def test_answer_resumes_the_blocked_run_in_the_same_workspace(world: EngineWorld) -> None:
    world.act("commit,blocked:Which README do you mean: the root one or docs/?")
    async with running_bot(make_settings(world.root, world.forge.url), world.forge) as bot:
        await comment(bot, world, "/dispatch claude fix the README")
        [blocked] = await bot.services.runs.list()
        assert blocked.state is RunState.BLOCKED
        workspace = Path(blocked.workspace_path)
        world.act("answered,commit")
        await comment(bot, world, "/answer the root one\nand keep the title")
        resumed, first = await bot.services.runs.list()
    assert first.id == blocked.id and first.state is RunState.BLOCKED
    assert (
        resumed.resumed_from == blocked.id and resumed.answer == "the root one\nand keep the title"
    )
    assert resumed.state is RunState.COMPLETED, resumed.reason
    assert resumed.workspace_path == str(workspace) and resumed.branch == blocked.branch
    repo = workspace / "repo"
    assert (repo / "ANSWER.md").read_text() == "the root one\nand keep the title\n"
    prompt = (workspace / ".meta" / "prompt.md").read_text()
    assert "Which README do you mean: the root one or docs/?" in prompt
    assert "the root one" in prompt and "fix the README" in prompt
    # The first run's commit was kept (not reset) and the resumed run added its own.
    log = subprocess.run(
        ["git", "-C", str(repo), "log", "--format=%s", f"{blocked.base_sha}..HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert log.count("Fix") == 2
    status = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "ANSWER.md" not in status and "BLOCKED.md" not in status  # never committed by accident
    agents = world.agent_runs()
    assert [agent["cwd"] for agent in agents] == [str(repo), str(repo)]


async def test_answer_without_a_blocked_run_says_so(world: EngineWorld) -> None:
    async with running_bot(make_settings(world.root, world.forge.url), world.forge) as bot:
        await comment(bot, world, "/answer something")
        assert await bot.services.runs.list() == []
    replies = [c.body for c in world.forge.comments_on(REPO, 3) if c.author == "agent-bot"]
    assert any("there is no blocked run here" in body for body in replies)


QUESTION = "Which README do you mean: the root one or docs/?"


async def block_then_answer(bot: Bot, world: EngineWorld, resumed_actions: str):
    """A blocked run, then `/answer` resuming it with the fake agent doing `resumed_actions`;
    returns (the resumed run, the blocked run)."""
    world.act(f"commit,blocked:{QUESTION}")
    await comment(bot, world, "/dispatch claude fix the README")
    world.act(resumed_actions)
    await comment(bot, world, "/answer the root one")
    resumed, blocked = await bot.services.runs.list()
    assert (blocked.state, blocked.question) == (RunState.BLOCKED, QUESTION)
    assert resumed.resumed_from == blocked.id
    return resumed, blocked


async def test_a_resumed_run_that_exits_1_fails_and_is_not_blocked_again(
    world: EngineWorld,
) -> None:
    async with running_bot(make_settings(world.root, world.forge.url), world.forge) as bot:
        resumed, blocked = await block_then_answer(bot, world, "exit:1")
        backoff = await bot.services.flags.backoff("claude")
    assert (resumed.state, resumed.reason, resumed.question) == (
        RunState.FAILED,
        "agent exited with code 1",
        None,
    )
    assert backoff.failure_count == 1  # a quick failure counts: it is not a "blocked" success
    workspace = Path(resumed.workspace_path)
    assert not (workspace / "repo" / "BLOCKED.md").exists()
    kept = workspace / ".meta" / "previous-runs" / f"run-{blocked.id}" / "BLOCKED.md"
    assert kept.read_text() == f"{QUESTION}\n"  # the old question is kept, out of the checkout
    prompt = (workspace / ".meta" / "prompt.md").read_text()
    assert QUESTION in prompt and "moved that `BLOCKED.md` out of the checkout" in prompt
    marker = f"<!-- agent-bot:run={resumed.id} -->"
    [status] = [c.body for c in world.forge.comments_on(REPO, 3) if marker in c.body]
    assert "agent exited with code 1" in status and QUESTION not in status


async def test_a_resumed_run_that_times_out_fails_with_the_timeout(world: EngineWorld) -> None:
    settings = make_settings(
        world.root,
        world.forge.url,
        dispatch={"timeout_minutes": 0.1, "cancel_grace_seconds": 1},
    )
    async with running_bot(settings, world.forge) as bot:
        resumed, _ = await block_then_answer(bot, world, "sleep:60")
    assert (resumed.state, resumed.reason, resumed.question) == (
        RunState.FAILED,
        "timed out after 0.1 min",
        None,
    )


async def test_a_resumed_run_that_asks_again_is_blocked_with_the_new_question(
    world: EngineWorld,
) -> None:
    new_question = "The root README has two titles: keep which one?"
    async with running_bot(make_settings(world.root, world.forge.url), world.forge) as bot:
        resumed, blocked = await block_then_answer(bot, world, f"blocked:{new_question}")
    assert (resumed.state, resumed.question) == (RunState.BLOCKED, new_question)
    marker = f"<!-- agent-bot:run={resumed.id} -->"
    [status] = [c.body for c in world.forge.comments_on(REPO, 3) if marker in c.body]
    assert new_question in status and QUESTION not in status
    # It links the run it resumes, by that run's status comment on this issue.
    earlier = f"{world.forge.url}/{REPO}/issues/3#issuecomment-{blocked.status_comment_id}"
    assert f"Resumes [run #{blocked.id}]({earlier})" in status
