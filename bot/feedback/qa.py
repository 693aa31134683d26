"""After-run QA: the admin's shell commands, run in the checkout with a clean environment."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

OUTPUT_TAIL_CHARACTERS = 4000
SHELL = "/bin/sh"


@dataclass(frozen=True)
class QaResult:
    """One command: its exit code (None when it timed out or could not start) and output tail."""

    command: str
    exit_code: int | None
    output_tail: str
    timed_out: bool = False

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def describe_failure(self) -> str:
        """`cmd` exited with N / timed out / could not start, for a run's failure reason."""
        if self.timed_out:
            return f"`{self.command}` timed out"
        if self.exit_code is None:
            return f"`{self.command}` could not start"
        if self.exit_code < 0:
            return f"`{self.command}` was killed by signal {-self.exit_code}"
        return f"`{self.command}` exited with {self.exit_code}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "exit_code": self.exit_code,
            "output_tail": self.output_tail,
            "timed_out": self.timed_out,
        }


@dataclass(frozen=True)
class QaReport:
    """Every command's result; `passed` when all of them exited with 0."""

    passed: bool
    results: list[QaResult] = field(default_factory=list)

    @property
    def first_failure(self) -> QaResult | None:
        return next((result for result in self.results if not result.passed), None)

    def to_dict(self) -> dict[str, Any]:
        """The shape stored in `run.qa_report`."""
        return {"passed": self.passed, "results": [result.to_dict() for result in self.results]}


def _kill_group(pid: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _tail(output: BinaryIO, start: int) -> str:
    """The last characters written to `output` after offset `start`."""
    end = output.seek(0, os.SEEK_END)
    output.seek(max(start, end - 4 * OUTPUT_TAIL_CHARACTERS))  # at most 4 bytes a character
    data = output.read()
    output.seek(0, os.SEEK_END)
    return data.decode("utf-8", "replace")[-OUTPUT_TAIL_CHARACTERS:]


async def run_command(
    command: str,
    repo_dir: Path,
    *,
    env: Mapping[str, str],
    timeout_seconds: float = 600,
    output: BinaryIO | None = None,
) -> QaResult:
    """`sh -c command` in `repo_dir` in its own process group, its stdout and stderr appended
    to `output` (an unbuffered file; a temporary one by default). The group is killed at the
    timeout and when the command ends, so no background process of it lives on."""
    with ExitStack() as stack:
        if output is None:
            output = stack.enter_context(tempfile.TemporaryFile(buffering=0))
        start = output.seek(0, os.SEEK_END)
        try:
            process = await asyncio.create_subprocess_exec(
                SHELL, "-c", command, cwd=repo_dir, env=dict(env), stdin=subprocess.DEVNULL,
                stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        except OSError as error:
            return QaResult(command, None, f"could not start: {error}")
        timed_out = False
        try:
            await asyncio.wait_for(process.wait(), timeout_seconds)
        except TimeoutError:
            timed_out = True
        finally:  # also when the delivery is cancelled
            _kill_group(process.pid)
            await process.wait()
        if timed_out:
            output.write(f"\n[timed out after {timeout_seconds:g} s]\n".encode())
            return QaResult(command, None, _tail(output, start), timed_out=True)
        return QaResult(command, process.returncode, _tail(output, start))


def _open_log(path: Path) -> BinaryIO:
    """A new, unbuffered log file; never written through a link planted in its place."""
    path.unlink(missing_ok=True)
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    return os.fdopen(os.open(path, flags, 0o644), "a+b", buffering=0)


async def run_qa(
    commands: Sequence[str],
    repo_dir: Path,
    *,
    env: Mapping[str, str],
    timeout_seconds: float = 600,
    log_path: Path | None = None,
) -> QaReport:
    """Run every command (a failure does not stop the next: the report shows them all) with
    exactly `env` (the caller passes one without forge tokens). `log_path` gets the full output."""
    results = []
    log = _open_log(Path(log_path)) if log_path is not None else None
    try:
        for command in commands:
            if log is not None:
                log.write(f"$ {command}\n".encode())
            result = await run_command(
                command, Path(repo_dir), env=env, timeout_seconds=timeout_seconds, output=log
            )
            if log is not None and not result.timed_out:  # a timeout is noted in the output
                status = f"exit code {result.exit_code}"
                if result.exit_code is None:
                    status = result.output_tail
                log.write(f"[{status}]\n\n".encode())
            results.append(result)
    finally:
        if log is not None:
            log.close()
    return QaReport(all(result.passed for result in results), results)
