"""Test helpers for runtimes: a temporary world with fake `docker` and fake agents on PATH."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bot.engine.runtime_processes import leader_state
from bot.engine.runtimes import RunHandle

FAKES = Path(__file__).parent
HAVE_PROC = Path("/proc/self/stat").exists()


@dataclass
class World:
    root: Path
    bin_dir: Path
    state: Path
    workspace: Path
    env: dict[str, str]
    handles: list[RunHandle] = field(default_factory=list)

    @property
    def repo(self) -> Path:
        return self.workspace / "repo"

    @property
    def meta(self) -> Path:
        return self.workspace / ".meta"

    def calls(self) -> list[list[str]]:
        path = self.state / "calls.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [json.loads(line)["argv"] for line in lines]

    def record(self) -> dict:
        return json.loads((self.root / "record.json").read_text())


def wrapper(path: Path, script: Path, name: str) -> None:
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" {name} "$@"\n')
    path.chmod(0o755)


def world_fixture(tmp_path: Path) -> Iterator[World]:
    """A fixture body: folders, wrappers and env; kills what is left at the end."""
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    for folder in (
        bin_dir,
        state,
        tmp_path / "ws" / "repo",
        tmp_path / "ws" / ".meta",
        tmp_path / "home" / ".codex",
    ):
        folder.mkdir(parents=True)
    for program in ("docker", "podman", "container"):
        wrapper(bin_dir / program, FAKES / "fake_docker.py", program)
    for agent in ("codex", "claude", "gemini"):
        wrapper(bin_dir / agent, FAKES / "fake_agent.py", agent)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path / "home"),
        "FAKE_DOCKER_STATE": str(state),
        "FAKE_AGENT_RECORD": str(tmp_path / "record.json"),
    }
    created = World(tmp_path, bin_dir, state, tmp_path / "ws", env)
    yield created
    pids = [handle.pid for handle in created.handles if handle.pid]
    pids += [int(path.read_text()) for path in state.glob("*.pid")]
    pids += [int(path.read_text()) for path in tmp_path.glob("*.child")]
    for pid in pids:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def gone(pid: int) -> bool:
    return leader_state(pid, None) == "gone"


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def log_has(path: Path, text: str) -> Callable[[], bool]:
    return lambda: path.exists() and text in path.read_text(errors="replace")
