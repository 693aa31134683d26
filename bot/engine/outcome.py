"""The final state of a run from its result and `BLOCKED.md`, as the seed's detectFinalStatus."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Literal, NamedTuple

from bot.engine.runtimes import RunResult

BLOCKED_FILE_NAME = "BLOCKED.md"
MAX_BLOCKED_BYTES = 64 * 1024
FinalState = Literal["completed", "blocked", "failed", "cancelled"]


class FinalStatus(NamedTuple):
    """A run's end state and its reason (for `blocked`, the agent's question)."""

    state: FinalState
    reason: str


def read_blocked_question(repo_dir: Path | str) -> str:
    """The stripped text of `<repo>/BLOCKED.md`, or "".

    The agent controls the checkout, so a symlink or anything but a regular file is ignored
    (it could point at a host secret), and at most 64 KiB are read.
    """
    path = Path(repo_dir) / BLOCKED_FILE_NAME
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    with os.fdopen(descriptor, "rb") as blocked:
        if not stat.S_ISREG(os.fstat(blocked.fileno()).st_mode):
            return ""
        data = blocked.read(MAX_BLOCKED_BYTES)
    return data.decode("utf-8", errors="replace").strip()


def set_aside_blocked_file(repo_dir: Path | str, folder: Path) -> Path | None:
    """Move an earlier run's `BLOCKED.md` out of the checkout into `folder`; return where.

    Done before every run (a resumed one included: its prompt carries the question), so a
    `BLOCKED.md` found when a run ends was always written by that run. A symbolic link or
    anything but a regular file is removed instead of kept.
    """
    path = Path(repo_dir) / BLOCKED_FILE_NAME
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(mode):
        shutil.rmtree(path)
        return None
    if not stat.S_ISREG(mode):
        path.unlink()
        return None
    target = folder / BLOCKED_FILE_NAME
    os.replace(path, target)
    return target


def _minutes(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def detect_final_status(
    repo_dir: Path | str,
    result: RunResult,
    *,
    timeout_minutes: float,
    cancelled: bool = False,
    has_new_commits: bool | None = None,
) -> FinalStatus:
    """Decide how a run ended, in this order:

    1. a non-empty `BLOCKED.md` → blocked, with its text as the question (as in the seed); the
       preparation sets an earlier run's `BLOCKED.md` aside (`set_aside_blocked_file`), so
       this is always a question asked by this run, never a stale one;
    2. timed out → failed, "timed out after N min";
    3. cancelled (the caller asked for it) → cancelled; killed otherwise → failed, "killed";
    4. exit status unknown (the run ended while the bot was down, or was lost): completed when
       the agent left new commits (`has_new_commits`), else failed, with a reason saying so;
    5. a non-zero exit → failed, "agent exited with code N";
    6. otherwise completed.
    """
    question = read_blocked_question(repo_dir)
    if question:
        return FinalStatus("blocked", question)
    if result.timed_out:
        return FinalStatus("failed", f"timed out after {_minutes(timeout_minutes)} min")
    if cancelled:
        return FinalStatus("cancelled", "cancelled")
    if result.killed:
        return FinalStatus("failed", "killed")
    if result.exit_code is None:
        if has_new_commits:
            return FinalStatus("completed", "")
        if has_new_commits is None:
            return FinalStatus("failed", "the agent's exit status is unknown (bot restarted)")
        return FinalStatus(
            "failed", "the agent's exit status is unknown (bot restarted) and it made no commits"
        )
    if result.exit_code != 0:
        return FinalStatus("failed", f"agent exited with code {result.exit_code}")
    return FinalStatus("completed", "")
