"""An end-to-end world for the engine: a local origin on the fake forge, fake agents and docker."""

from __future__ import annotations

import copy
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.replies import run_marker
from tests.deliveries import load_fixture
from tests.fake_forge import FakeForge
from tests.gitrepos import Origin, make_origin
from tests.harness import Bot

FAKES = Path(__file__).parent / "fakes"
REPO = "kostekIV/test"
AGENTS = ("codex", "claude", "gemini", "coderabbit")


@dataclass
class EngineWorld:
    root: Path
    origin: Origin
    forge: FakeForge
    bin_dir: Path
    docker_state: Path

    def status_comment(self, run_id: int, number: int) -> str:
        """The body of the bot's status comment for one run (found by its hidden marker)."""
        marker = run_marker(run_id)
        [body] = [c.body for c in self.forge.comments_on(REPO, number) if marker in c.body]
        return body

    def act(self, actions: str) -> None:
        """What the fake agents do on their next runs (see tests/fakes/scripted_agent.py)."""
        (self.root / "action").write_text(actions)

    def agent_runs(self) -> list[dict]:
        path = self.root / "agent-runs.jsonl"
        if not path.exists():
            return []
        runs = []
        for line in path.read_text().splitlines():
            try:
                runs.append(json.loads(line))
            except json.JSONDecodeError:  # a line the agent is still writing
                break
        return runs

    def docker_calls(self) -> list[list[str]]:
        path = self.docker_state / "calls.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [json.loads(line)["argv"] for line in lines]


def _wrapper(path: Path, environment: dict[str, str], script: Path, name: str) -> None:
    exports = " ".join(f"{key}='{value}'" for key, value in environment.items())
    path.write_text(
        f'#!/bin/sh\nexport {exports}\nexec "{sys.executable}" "{script}" {name} "$@"\n'
    )
    path.chmod(0o755)


def make_world(
    tmp_path: Path, forge: FakeForge, monkeypatch: pytest.MonkeyPatch, family: str = "gitea"
) -> EngineWorld:
    origin = make_origin(tmp_path, commits=2)
    forge.add_repo(REPO, family=family, clone_url=str(origin.path))
    forge.add_issue(REPO, 3, "Fix the README", "It has typos.", author="alice")
    forge.set_permission(REPO, "alice", "write")
    bin_dir, state, home = tmp_path / "bin", tmp_path / "docker-state", tmp_path / "home"
    for folder in (bin_dir, state, home / ".codex", home / ".claude"):
        folder.mkdir(parents=True)
    agent_environment = {
        "SCRIPTED_AGENT_RECORD": str(tmp_path / "agent-runs.jsonl"),
        "SCRIPTED_AGENT_ACTION_FILE": str(tmp_path / "action"),
    }
    for agent in AGENTS:
        _wrapper(bin_dir / agent, agent_environment, FAKES / "scripted_agent.py", agent)
    for program in ("docker", "podman"):
        _wrapper(
            bin_dir / program, {"FAKE_DOCKER_STATE": str(state)}, FAKES / "fake_docker.py", program
        )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-key-value")
    monkeypatch.delenv("CORE_AGENT_RUNTIME", raising=False)
    monkeypatch.delenv("AGENT_DOCKER_IMAGE", raising=False)
    world = EngineWorld(tmp_path, origin, forge, bin_dir, state)
    world.act("commit")
    return world


def comment_payload(
    world: EngineWorld,
    body: str,
    *,
    number: int = 3,
    author: str = "alice",
    github: bool = False,
    is_pull_request: bool = False,
) -> dict:
    """A real comment webhook (Gitea's modern fixture, or GitHub's), re-pointed at a comment that
    exists on the fake forge, on issue `number` of the world's repository."""
    name = (
        "github/issue_comment.created.json" if github else "gitea/issue_comment.created.modern.json"
    )
    payload = copy.deepcopy(load_fixture(name))
    comment_id = world.forge.add_comment(REPO, number, body, author)
    payload["comment"].update({"id": comment_id, "body": body})
    payload["comment"]["user"]["login"] = payload["sender"]["login"] = author
    payload["repository"]["full_name"] = REPO
    payload["issue"]["number"] = number
    if is_pull_request and not github:
        payload["is_pull"] = True
    return payload


async def send_comment(
    bot: Bot,
    world: EngineWorld,
    body: str,
    *,
    number: int = 3,
    author: str = "alice",
    settle: bool = True,
    is_pull_request: bool = False,
) -> dict:
    """Deliver a signed Forgejo comment; with `settle`, wait until its runs have ended and the
    forge updates have gone out."""
    payload = comment_payload(
        world, body, number=number, author=author, is_pull_request=is_pull_request
    )
    response = await bot.deliver("forgejo", payload, "issue_comment", "issue_comment")
    assert response.status == 202, await response.text()
    if settle:
        await bot.services.scheduler.idle()
        await bot.services.outbox.deliver_due()
    return payload
