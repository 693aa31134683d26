"""`codex` dispatched end to end into a real podman container (skipped, loudly, without podman)."""

from __future__ import annotations

import asyncio
import copy
import fcntl
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.engine.agents import LOCAL_HOST_CHOICE
from bot.store.runs import Run, RunState
from tests import podman_image
from tests.deliveries import load_fixture
from tests.engine_world import REPO, EngineWorld, make_world
from tests.fake_forge import FakeForge
from tests.harness import Bot, make_settings, running_bot

SECRET = "sk-test-openai-key-value"  # make_world sets OPENAI_API_KEY to this
REQUIRE_VARIABLE = "REQUIRE_PODMAN"  # CI sets it: there, no podman is a failure, not a skip


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The test image, for one test session at a time on this machine: runs are numbered
    from 1 in every session, so two at once would both name a container `agent-run-1`."""
    with open(Path(tempfile.gettempdir()) / "agent-dispatch-podman-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            built = podman_image.build_image(tmp_path_factory.mktemp("podman-image"))
        except podman_image.PodmanUnavailable as error:
            message = f"REAL PODMAN TESTS SKIPPED: {error}"
            if os.environ.get(REQUIRE_VARIABLE):
                pytest.fail(f"{message} ({REQUIRE_VARIABLE} is set)", pytrace=False)
            warnings.warn(message, pytest.PytestWarning, stacklevel=1)
            pytest.skip(message)
        podman_image.remove_test_containers()  # left by an interrupted session
        yield built
        podman_image.remove_image(built)


@pytest.fixture
def world(
    image: str, tmp_path: Path, fake_forge: FakeForge, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EngineWorld]:
    created = make_world(tmp_path, fake_forge, monkeypatch)
    for fake in ("docker", "podman"):  # the real podman, not the world's fake one
        (created.bin_dir / fake).unlink()
    yield created
    podman_image.remove_test_containers()


def settings_for(world: EngineWorld, image: str, **dispatch: object) -> Settings:
    section = {
        "runtime": "podman",
        "image": image,
        "global_args": podman_image.GLOBAL_ARGS,
        "extra_args": podman_image.RUN_ARGS,
        "pass_env": ["OPENAI_API_KEY"],
        **dispatch,
    }
    return make_settings(world.root, world.forge.url, dispatch=section)


async def comment(bot: Bot, world: EngineWorld, body: str) -> None:
    payload = copy.deepcopy(load_fixture("gitea/issue_comment.created.modern.json"))
    comment_id = world.forge.add_comment(REPO, 3, body, "alice")
    payload["comment"].update({"id": comment_id, "body": body})
    payload["comment"]["user"]["login"] = payload["sender"]["login"] = "alice"
    response = await bot.deliver("forgejo", payload, "issue_comment", "issue_comment")
    assert response.status == 202


async def dispatched(bot: Bot, world: EngineWorld, task: str) -> Run:
    await comment(bot, world, f"/dispatch codex {task}")
    await bot.services.scheduler.idle()
    [run] = await bot.services.runs.list()
    return run


def workspace_of(world: EngineWorld) -> Path:
    return world.root / "workspaces" / "forgejo" / "kostekIV" / "test" / "issue-3"


def record_of(world: EngineWorld) -> dict[str, list[str]]:
    path = workspace_of(world) / ".meta" / podman_image.RECORD
    return podman_image.parse_record(path.read_text())


async def until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not in {timeout} s"
        await asyncio.sleep(0.1)


async def test_codex_runs_in_a_podman_container_on_the_mounted_checkout(
    world: EngineWorld, image: str
) -> None:
    async with running_bot(settings_for(world, image), world.forge) as bot:
        run = await dispatched(bot, world, "fix the README")
    assert (run.state, run.reason, run.exit_code) == (RunState.COMPLETED, None, 0)
    assert (run.runtime, run.container_name) == ("podman", f"agent-run-{run.id}")
    workspace = workspace_of(world)
    record = record_of(world)
    assert record["pwd"] == ["/workspace/repo"]
    # The checkout is mounted at /workspace/repo, credentials read-only beside it.
    assert {".git", "README.md", "f0.txt", "f1.txt"} <= set(record["repo"])
    assert (record["mount"], record["credentials"]) == (["/home/agent/.codex"], ["read-only"])
    # The argv as the built-in codex command, the prompt last (its own file to compare).
    assert record["arg"] == [
        "exec",
        "--dangerously-bypass-approvals-and-sandbox",
        "-o",
        "../.meta/agent-codex.log",
    ]
    assert record["argc"] == ["5"]
    prompt = (workspace / ".meta" / "prompt.md").read_text()
    assert (workspace / ".meta" / "agent-prompt.txt").read_text() == prompt
    # The key arrived by name; the configured environment beside it; no forge token.
    environment = dict(line.partition("=")[::2] for line in record["env"])
    assert environment["OPENAI_API_KEY"] == SECRET
    assert "ANTHROPIC_API_KEY" not in environment  # not in pass_env
    expected = {"TERM": "dumb", "CI": "true", "NO_COLOR": "1", "GIT_AUTHOR_NAME": "Agent Bot"}
    assert expected.items() <= environment.items()
    assert "test-token" not in json.dumps(environment)
    # What the agent wrote in the container is in the workspace on the host.
    assert (workspace / "repo" / "agent-note.txt").read_text() == "written in the container\n"
    assert (workspace / ".meta" / "agent-codex.log").read_text() == "final message: done\n"
    assert "agent done" in (workspace / ".meta" / "agent-codex.output.log").read_text()
    assert not podman_image.container_exists(run.container_name)  # `--rm`


async def test_cancel_kills_the_named_container(world: EngineWorld, image: str) -> None:
    settings = settings_for(world, image, cancel_grace_seconds=1)
    async with running_bot(settings, world.forge) as bot:
        await comment(bot, world, "/dispatch codex mode-sleep")
        record = workspace_of(world) / ".meta" / podman_image.RECORD
        await until(record.exists, "the agent started in its container")
        [run] = await bot.services.runs.list()
        name = f"agent-run-{run.id}"
        assert (run.state, run.container_name) == (RunState.RUNNING, name)
        assert podman_image.running_names() == [name]
        inspected = podman_image.podman("inspect", "--type", "container", name)
        [container] = json.loads(inspected.stdout)
        assert container["Config"]["WorkingDir"] == "/workspace/repo"
        command = container["Config"]["CreateCommand"]
        assert command[command.index("OPENAI_API_KEY") - 1] == "-e"  # by name ...
        assert SECRET not in json.dumps(command)  # ... never by value on the command line
        started = time.monotonic()
        await comment(bot, world, "/cancel")
        await bot.services.scheduler.idle()
        [run] = await bot.services.runs.list()
    assert (run.state, run.reason) == (RunState.CANCELLED, "cancelled by @alice")
    assert time.monotonic() - started < 20
    assert podman_image.running_names() == []
    await until(lambda: not podman_image.container_exists(name), "the container removed", 10)


async def test_blocked_md_written_in_the_container_blocks_the_run(
    world: EngineWorld, image: str
) -> None:
    async with running_bot(settings_for(world, image), world.forge) as bot:
        run = await dispatched(bot, world, "mode-blocked")
    assert (run.state, run.question) == (RunState.BLOCKED, podman_image.BLOCKED_QUESTION)
    assert (workspace_of(world) / "repo" / "BLOCKED.md").exists()


async def test_the_agents_exit_code_comes_back_through_podman(
    world: EngineWorld, image: str
) -> None:
    async with running_bot(settings_for(world, image), world.forge) as bot:
        run = await dispatched(bot, world, "mode-exit-3")
    assert (run.state, run.reason, run.exit_code) == (
        RunState.FAILED,
        "agent exited with code 3",
        3,
    )


async def test_a_restarted_bot_follows_the_container_by_name(
    world: EngineWorld, image: str
) -> None:
    settings = settings_for(world, image)
    async with running_bot(settings, world.forge) as bot:
        await comment(bot, world, "/dispatch codex mode-nap")
        record = workspace_of(world) / ".meta" / podman_image.RECORD
        await until(record.exists, "the agent started in its container")
    [name] = podman_image.running_names()  # the bot stopped; the container goes on
    async with running_bot(settings, world.forge) as bot:
        await bot.services.scheduler.idle()
        [run] = await bot.services.runs.list()
    assert (run.state, run.exit_code, run.container_name) == (RunState.COMPLETED, 0, name)
    assert (workspace_of(world) / "repo" / "agent-note.txt").read_text() == "written after a nap\n"


@pytest.mark.parametrize(
    ("add_host", "expected"),
    [
        ([], None),  # whichever name this podman gives the host
        (["--add-host=host.docker.internal:10.0.0.1"], "host.docker.internal"),  # as docker runs
    ],
)
def test_the_local_agent_proxy_names_the_host_as_the_container_knows_it(
    image: str, add_host: list[str], expected: str | None
) -> None:
    script = f'{LOCAL_HOST_CHOICE}; echo "$host"; cat /etc/hosts'
    result = podman_image.podman(
        "run", "--rm", *podman_image.RUN_ARGS, *add_host, image, "sh", "-c", script
    )
    assert result.returncode == 0, result.stderr
    chosen, _, hosts = result.stdout.partition("\n")
    assert chosen in hosts.split()  # a name the container's /etc/hosts resolves
    if expected is not None:
        assert chosen == expected
