"""The container runtime: `docker|podman|container run` as a local CLI process per run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import Awaitable, Callable, Mapping

from bot.engine.runtime_processes import ProcessGroupRuntime, signal_group, wait_until
from bot.engine.runtimes import (
    DEFAULT_GRACE_SECONDS,
    KIND_CONTAINER,
    LaunchSpec,
    RunHandle,
    RunResult,
    read_output_tail,
)

APPLE_BINARY = "container"


class ContainerRuntime(ProcessGroupRuntime):
    """Runs the argv of `container.container_command` and finds the container by its name.

    The CLI (`docker run`, attached) streams the output into the log; cancel stops the
    container through the CLI (`kill --signal TERM`, apple `stop`) and the CLI's process
    group, then kills both after the grace. After a restart the container is followed by
    name: `wait NAME` gives its exit code while it can (not with apple's `container`).
    """

    kind = KIND_CONTAINER

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        timeout_grace_seconds: float = DEFAULT_GRACE_SECONDS,
        poll_interval_seconds: float = 0.25,
        command_timeout_seconds: float = 30.0,
    ) -> None:
        super().__init__(
            timeout_grace_seconds=timeout_grace_seconds,
            poll_interval_seconds=poll_interval_seconds,
        )
        self.environ = dict(os.environ if environ is None else environ)
        self.command_timeout_seconds = command_timeout_seconds

    async def start(self, spec: LaunchSpec) -> RunHandle:
        if not spec.container_name or not spec.runtime_binary:
            raise ValueError("a container launch needs container_name and runtime_binary")
        return await self._spawn(spec)

    async def wait(self, handle: RunHandle, timeout_seconds: float | None) -> RunResult:
        timed_out = False
        try:
            exit_code = await asyncio.wait_for(self._wait_run(handle), timeout_seconds)
        except TimeoutError:
            timed_out = True
            await self.cancel(handle, self.timeout_grace_seconds)
            exit_code = None
            if self._own_process(handle) is not None:
                try:
                    exit_code = await asyncio.wait_for(self._wait_process(handle), 5)
                except TimeoutError:
                    exit_code = None
        self._kill_leftovers(handle)
        cancelled = self._forget(handle)
        return RunResult(
            exit_code, timed_out or cancelled, timed_out, read_output_tail(handle.log_path)
        )

    async def cancel(self, handle: RunHandle, grace_seconds: float = DEFAULT_GRACE_SECONDS) -> None:
        self._cancelled.add(handle.run_id)
        binary, name = self._target(handle)
        polite = ["stop", name] if binary == APPLE_BINARY else ["kill", "--signal", "TERM", name]
        await self._control(binary, polite, timeout=max(grace_seconds, 1.0))
        self._signal_client(handle, signal.SIGTERM)
        if await wait_until(self._finished(handle), grace_seconds, self.poll_interval_seconds):
            return
        await self._control(binary, ["kill", name], timeout=self.command_timeout_seconds)
        finished = self._finished(handle)
        if not await wait_until(finished, min(grace_seconds, 5.0), self.poll_interval_seconds):
            self._signal_client(handle, signal.SIGKILL)

    async def is_alive(self, handle: RunHandle) -> bool:
        return self._process_alive(handle) or await self.container_running(handle)

    async def container_running(self, handle: RunHandle) -> bool:
        """Whether the runtime reports the run's container as running."""
        binary, name = self._target(handle)
        if binary == APPLE_BINARY:
            status, output = await self._control(
                binary, ["inspect", name], timeout=self.command_timeout_seconds
            )
            return status == 0 and _apple_running(output)
        status, output = await self._control(
            binary,
            ["inspect", "--type", "container", "--format", "{{.State.Running}}", name],
            timeout=self.command_timeout_seconds,
        )
        return status == 0 and output.strip().lower() == "true"

    async def _wait_run(self, handle: RunHandle) -> int | None:
        """Our CLI's exit code; for an adopted run, `wait NAME` (retried while the container
        is not there yet), else poll until it has ended (exit code unknown)."""
        if self._own_process(handle) is not None:
            return await self._wait_process(handle)
        binary, name = self._target(handle)
        while True:
            if binary != APPLE_BINARY:
                exit_code = await self._container_exit_code(binary, name, timeout=None)
                if exit_code is not None:
                    await wait_until(lambda: not self._process_alive(handle), 5, 0.05)
                    return exit_code
            if not await self.is_alive(handle):
                return None
            await asyncio.sleep(self.poll_interval_seconds)

    def _finished(self, handle: RunHandle) -> Callable[[], Awaitable[bool]]:
        async def finished() -> bool:
            return not await self.is_alive(handle)

        return finished

    async def _container_exit_code(
        self, binary: str, name: str, *, timeout: float | None
    ) -> int | None:
        status, output = await self._control(binary, ["wait", name], timeout=timeout)
        if status != 0:
            return None
        lines = output.strip().splitlines()
        try:
            return int(lines[-1]) if lines else None
        except ValueError:
            return None

    @staticmethod
    def _signal_client(handle: RunHandle, signal_number: int) -> None:
        """Signal the process group of the local CLI (`docker run`), if it is ours."""
        if handle.pid is not None:
            signal_group(handle.pid, handle.process_identity, signal_number)

    @staticmethod
    def _target(handle: RunHandle) -> tuple[str, str]:
        if not handle.container_name or not handle.runtime_binary:
            raise ValueError(f"run {handle.run_id}: the handle has no container name or binary")
        return handle.runtime_binary, handle.container_name

    async def _control(
        self, binary: str, arguments: list[str], *, timeout: float | None
    ) -> tuple[int | None, str]:
        """Run one CLI command (kill, stop, inspect, wait); (None, "") if it fails to finish."""
        try:
            process = await asyncio.create_subprocess_exec(
                binary,
                *arguments,
                env=self.environ,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            return None, ""
        try:
            output, _ = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            return None, ""
        except asyncio.CancelledError:
            if process.returncode is None:
                process.kill()
            raise
        return process.returncode, output.decode("utf-8", errors="replace")


def _apple_running(output: str) -> bool:
    """Apple's `container inspect` prints JSON: running when a `status` says so."""
    try:
        data = json.loads(output)
    except ValueError:
        return False
    items = data if isinstance(data, list) else [data]
    return any(isinstance(item, dict) and item.get("status") == "running" for item in items)
