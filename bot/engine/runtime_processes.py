"""Process groups for runtimes: start with the log on disk, find, signal and wait for them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

from bot.engine.runtimes import DEFAULT_GRACE_SECONDS, LaunchSpec, RunHandle

LeaderState = Literal["ours", "gone", "other"]


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks) from /proc on Linux; None elsewhere or when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()
    return (fields[0], fields[19]) if len(fields) > 19 else None


def process_identity(pid: int) -> str | None:
    """A marker that differs between two processes that had the same pid (Linux: start time)."""
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def leader_state(pid: int, identity: str | None) -> LeaderState:
    """Whether `pid` is still the process we started (`ours`), has ended, or is another one."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "gone"
    except PermissionError:
        pass
    stat = _proc_stat(pid)
    if stat is None:
        return "ours"
    state, started = stat
    if state in ("Z", "X"):
        return "gone"
    return "ours" if identity is None or identity == started else "other"


def group_alive(process_group: int) -> bool:
    """True while a live (not zombie) process is left in the group."""
    try:
        os.killpg(process_group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    members = _proc_group_states(process_group)
    return members is None or any(state not in ("Z", "X") for state in members)


def _proc_group_states(process_group: int) -> list[str] | None:
    """States of the group's members from /proc (zombies included); None without /proc."""
    try:
        entries = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return None
    states: list[str] = []
    for entry in entries:
        try:
            text = Path(f"/proc/{entry}/stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        fields = text.rpartition(")")[2].split()
        if len(fields) > 2 and fields[2] == str(process_group):
            states.append(fields[0])
    return states


def signal_group(pid: int, identity: str | None, signal_number: int) -> bool:
    """Signal the process group led by `pid` unless the pid now belongs to someone else.

    With the leader gone the group id cannot be handed out again while members remain, so
    what is left of the group is still ours.
    """
    if leader_state(pid, identity) == "other":
        return False
    try:
        os.killpg(pid, signal_number)
    except (ProcessLookupError, PermissionError):
        return False
    return True


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], timeout: float | None, interval: float
) -> bool:
    """Poll `condition` (plain or async) until true; False when `timeout` passes first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        outcome = condition()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)


class ProcessGroupRuntime:
    """Shared part of the native and container runtimes: one local process group per run."""

    kind = "process"

    def __init__(
        self,
        *,
        timeout_grace_seconds: float = DEFAULT_GRACE_SECONDS,
        poll_interval_seconds: float = 0.1,
    ) -> None:
        self.timeout_grace_seconds = timeout_grace_seconds
        self.poll_interval_seconds = poll_interval_seconds
        self._processes: dict[int, asyncio.subprocess.Process] = {}
        self._cancelled: set[int] = set()

    async def _spawn(self, spec: LaunchSpec) -> RunHandle:
        """Start `spec.argv` in its own session, stdin closed, stdout+stderr appended to the log.

        The preparation moves an earlier run's log aside, so the log is this run's alone. It
        is never opened through a symbolic link (an agent can write in `.meta/`).
        """
        log_path = Path(spec.log_path)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
        with os.fdopen(os.open(log_path, flags, 0o644), "ab") as log:
            process = await asyncio.create_subprocess_exec(
                *spec.argv,
                cwd=spec.cwd,
                env=dict(spec.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._processes[spec.run_id] = process
        self._cancelled.discard(spec.run_id)
        return RunHandle(
            run_id=spec.run_id,
            kind=self.kind,
            pid=process.pid,
            container_name=spec.container_name,
            runtime_binary=spec.runtime_binary,
            log_path=str(log_path),
            process_identity=process_identity(process.pid),
        )

    def _own_process(self, handle: RunHandle) -> asyncio.subprocess.Process | None:
        """Our child for this handle, or None for a handle from an earlier bot process."""
        process = self._processes.get(handle.run_id)
        return process if process is not None and process.pid == handle.pid else None

    def _process_alive(self, handle: RunHandle) -> bool:
        process = self._own_process(handle)
        if process is not None:
            return process.returncode is None
        if handle.pid is None:
            return False
        return leader_state(handle.pid, handle.process_identity) == "ours"

    async def _wait_process(self, handle: RunHandle) -> int | None:
        """The exit code of our child; for an adopted pid, poll until it is gone (None)."""
        process = self._own_process(handle)
        if process is not None:
            return await process.wait()
        await wait_until(lambda: not self._process_alive(handle), None, self.poll_interval_seconds)
        return None

    async def _stop_group(self, handle: RunHandle, grace_seconds: float) -> None:
        """SIGTERM the local process group, SIGKILL whatever is left after the grace."""
        if handle.pid is None or not signal_group(
            handle.pid, handle.process_identity, signal.SIGTERM
        ):
            return
        if not await wait_until(
            lambda: not group_alive(handle.pid), grace_seconds, self.poll_interval_seconds
        ):
            signal_group(handle.pid, handle.process_identity, signal.SIGKILL)

    def _kill_leftovers(self, handle: RunHandle) -> None:
        """Once the leader has ended, kill what it left running in its group."""
        if handle.pid is not None and not self._process_alive(handle):
            signal_group(handle.pid, handle.process_identity, signal.SIGKILL)

    def _forget(self, handle: RunHandle) -> bool:
        """Drop the bookkeeping of a finished run; True when it had been cancelled."""
        process = self._own_process(handle)
        if process is not None and process.returncode is not None:
            del self._processes[handle.run_id]
        cancelled = handle.run_id in self._cancelled
        self._cancelled.discard(handle.run_id)
        return cancelled
