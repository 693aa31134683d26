"""The dispatch engine end to end: signed comment → workspace → fake agent → final run row."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.store.runs import RunState
from tests.engine_world import REPO, EngineWorld, make_world, send_comment
from tests.fake_forge import FakeForge
from tests.harness import Bot, make_settings, running_bot

SANDBOX = (
    "SANDBOX: You are restricted to the current directory only. Do NOT use absolute paths. "
    "Do NOT navigate outside this repository."
)


@pytest.fixture
def world(tmp_path: Path, fake_forge: FakeForge, monkeypatch: pytest.MonkeyPatch) -> EngineWorld:
    return make_world(tmp_path, fake_forge, monkeypatch)


async def dispatch(bot: Bot, world: EngineWorld, body: str):
    await send_comment(bot, world, body)
    return await bot.services.runs.list()


def settings_for(world: EngineWorld, **sections):
    return make_settings(world.root, world.forge.url, **sections)


async def test_claude_runs_natively_in_the_issue_workspace_and_completes(
    world: EngineWorld,
) -> None:
    async with running_bot(settings_for(world), world.forge) as bot:
        [run] = await dispatch(bot, world, "/dispatch claude fix the README")
    workspace = world.root / "workspaces" / "forgejo" / "kostekIV" / "test" / "issue-3"
    assert run.reason is None, run.reason
    [agent] = world.agent_runs()
    prompt = (workspace / ".meta" / "prompt.md").read_text()
    assert agent["name"] == "claude"
    assert agent["argv"] == [
        "-p",
        prompt,
        "--output-format",
        "text",
        "--dangerously-skip-permissions",
        "--no-session-persistence",
        "--append-system-prompt",
        SANDBOX,
    ]
    assert agent["cwd"] == str(workspace / "repo")
    assert agent["branch"] == "agent/issue-3-fix-the-readme"
    assert "fix the README" in prompt and "BLOCKED.md" in prompt
    # No forge token, and nothing of the bot's environment beyond what agents may have.
    assert "test-token" not in str(agent["env"])
    assert (run.state, run.reason, run.exit_code) == (RunState.COMPLETED, None, 0)
    assert run.branch == "agent/issue-3-fix-the-readme"
    assert run.workspace_path == str(workspace)
    log = (workspace / ".meta" / "agent-claude.log").read_text()
    assert "final message: done" in log
    status = (workspace / ".meta" / "status.json").read_text()
    assert '"state": "completed"' in status
    commits = subprocess.run(
        ["git", "-C", str(workspace / "repo"), "log", "--format=%s", f"{run.base_sha}..HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    assert commits[0] == "Fix the README"
    # The status comment was edited in place to the final state.
    [status_comment] = [c for c in world.forge.comments_on(REPO, 3) if c.author == "agent-bot"]
    assert f"run #{run.id}: **completed**" in status_comment.body


async def test_blocked_md_makes_a_blocked_run_with_the_question(world: EngineWorld) -> None:
    world.act("blocked:Which README do you mean?")
    async with running_bot(settings_for(world), world.forge) as bot:
        [run] = await dispatch(bot, world, "/dispatch claude fix the README")
    assert (run.state, run.question) == (RunState.BLOCKED, "Which README do you mean?")


async def test_nonzero_exit_fails_with_the_reason(world: EngineWorld) -> None:
    world.act("exit:3")
    async with running_bot(settings_for(world), world.forge) as bot:
        [run] = await dispatch(bot, world, "/dispatch claude fix the README")
    assert (run.state, run.reason, run.exit_code) == (
        RunState.FAILED,
        "agent exited with code 3",
        3,
    )


async def test_codex_runs_through_the_docker_runtime(world: EngineWorld) -> None:
    settings = settings_for(world, dispatch={"runtime": "docker", "image": "agents:1"})
    async with running_bot(settings, world.forge) as bot:
        [run] = await dispatch(bot, world, "/dispatch codex:gpt-5.4-mini fix the README")
    workspace = world.root / "workspaces" / "forgejo" / "kostekIV" / "test" / "issue-3"
    prompt = (workspace / ".meta" / "prompt.md").read_text()
    [call] = [argv for argv in world.docker_calls() if argv[1:2] == ["run"] or "run" in argv[:3]]
    home = world.root / "home"
    codex_argv = [
        "codex",
        "exec",
        "--dangerously-bypass-approvals-and-sandbox",
        "-o",
        "../.meta/agent-codex.log",
        "--model",
        "gpt-5.4-mini",
        prompt,
    ]
    quoted = " ".join("'" + part.replace("'", "'\\''") + "'" for part in codex_argv[1:])
    assert call[-4:-1] == ["agents:1", "sh", "-c"]
    body = call[-1]
    assert body.startswith(
        "if [ ! -d /workspace/repo ]; then echo 'missing /workspace/repo' >&2; exit 1; fi; "
    )
    assert f"codex {quoted}" in body
    assert (
        call[:-1]
        == [
            "run",
            "--rm",
            "--name",
            f"agent-run-{run.id}",
            "--add-host=host.docker.internal:host-gateway",
            "-v",
            f"{workspace}:/workspace",
            "-v",
            f"{workspace}/.meta:/workspace/.meta",
            "-w",
            "/workspace/repo",
            "-v",
            f"{home}/.codex:/home/agent/.codex:ro",
            "-e",
            "OPENAI_API_KEY",
            "-e",
            "ANTHROPIC_API_KEY",
            "-e",
            "GEMINI_API_KEY",
            "-e",
            "GOOGLE_API_KEY",
            "-e",
            "TERM=dumb",
            "-e",
            "NO_COLOR=1",
            "-e",
            "CI=true",
            "-e",
            "GIT_USER_NAME=Agent Bot",
            "-e",
            "GIT_USER_EMAIL=agent-bot@example.org",
            "-e",
            "GIT_AUTHOR_NAME=Agent Bot",
            "-e",
            "GIT_AUTHOR_EMAIL=agent-bot@example.org",
            "-e",
            "GIT_COMMITTER_NAME=Agent Bot",
            "-e",
            "GIT_COMMITTER_EMAIL=agent-bot@example.org",
            "agents:1",
            "sh",
            "-c",
        ][: len(call) - 1]
    )
    [agent] = world.agent_runs()
    assert agent["name"] == "codex" and agent["argv"] == codex_argv[1:]
    assert agent["env"]["OPENAI_API_KEY"] == "sk-test-openai-key-value"  # passed by name
    assert (run.state, run.container_name, run.runtime) == (
        RunState.COMPLETED,
        f"agent-run-{run.id}",
        "docker",
    )


async def test_a_run_that_writes_nothing_never_shows_the_previous_runs_log_or_summary(
    world: EngineWorld,
) -> None:
    """Two codex runs in one issue workspace: the second crashes before it prints anything or
    writes its `-o` summary; its outcome is its own (empty), not the first run's."""
    world.act("say:first run streamed this,summary:first run summary")
    settings = settings_for(world, dispatch={"runtime": "docker"})
    async with running_bot(settings, world.forge) as bot:
        await dispatch(bot, world, "/dispatch codex fix the README")
        world.act("quiet,exit:1")
        second, first = await dispatch(bot, world, "/dispatch codex fix the README")
        assert bot.services.feedback is not None
        await bot.services.feedback.post_status(first.id)  # rendered again after the second
        await bot.services.outbox.deliver_due()
    assert (first.state, first.final_message) == (RunState.COMPLETED, "first run summary")
    first_body = world.status_comment(first.id, 3)
    assert "first run summary" in first_body and "first run streamed this" in first_body
    assert (second.state, second.reason) == (RunState.FAILED, "agent exited with code 1")
    assert second.final_message is None and second.workspace_path == first.workspace_path
    body = world.status_comment(second.id, 3)
    assert "agent exited with code 1" in body
    assert "first run" not in body and "Agent log" not in body
    meta = Path(second.workspace_path) / ".meta"
    assert not (meta / "agent-codex.log").exists()  # no summary: none is reported
    assert (meta / "agent-codex.output.log").read_text() == ""
    # The first run's files are kept for people, under its id, never reported as the second's.
    kept = meta / "previous-runs" / f"run-{first.id}"
    assert (kept / "agent-codex.log").read_text() == "first run summary\n"
    assert "first run streamed this" in (kept / "agent-codex.output.log").read_text()
    assert f'"run_id": {first.id}' in (kept / "status.json").read_text()
    assert f'"run_id": {second.id}' in (meta / "status.json").read_text()
