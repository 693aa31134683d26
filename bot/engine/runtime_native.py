"""The native runtime: the agent runs on the host, in its own process group."""

from __future__ import annotations

import asyncio

from bot.engine.runtime_processes import ProcessGroupRuntime
from bot.engine.runtimes import (
    DEFAULT_GRACE_SECONDS,
    KIND_NATIVE,
    LaunchSpec,
    RunHandle,
    RunResult,
    read_output_tail,
)


class NativeRuntime(ProcessGroupRuntime):
    """Runs `spec.argv` directly; cancel and timeout signal the whole process group.

    A run outlives a bot restart (own session, log written by the process itself); a handle
    from an earlier bot process is followed by its pid, and its exit code is then unknown.
    """

    kind = KIND_NATIVE

    async def start(self, spec: LaunchSpec) -> RunHandle:
        return await self._spawn(spec)

    async def wait(self, handle: RunHandle, timeout_seconds: float | None) -> RunResult:
        timed_out = False
        try:
            exit_code = await asyncio.wait_for(self._wait_process(handle), timeout_seconds)
        except TimeoutError:
            timed_out = True
            await self.cancel(handle, self.timeout_grace_seconds)
            try:
                exit_code = await asyncio.wait_for(self._wait_process(handle), 5)
            except TimeoutError:
                exit_code = None
        self._kill_leftovers(handle)
        cancelled = self._forget(handle)
        killed = timed_out or cancelled or (exit_code is not None and exit_code < 0)
        return RunResult(exit_code, killed, timed_out, read_output_tail(handle.log_path))

    async def cancel(self, handle: RunHandle, grace_seconds: float = DEFAULT_GRACE_SECONDS) -> None:
        self._cancelled.add(handle.run_id)
        await self._stop_group(handle, grace_seconds)

    async def is_alive(self, handle: RunHandle) -> bool:
        return self._process_alive(handle)
