"""The runtime interface: launch specs, plain-data run handles, run results, the log tail."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

KIND_NATIVE = "native"
KIND_CONTAINER = "container"
OUTPUT_TAIL_CHARACTERS = 4000
DEFAULT_GRACE_SECONDS = 30.0


@dataclass(frozen=True)
class LaunchSpec:
    """What to run for one run: argv (for a container, the full `docker run …`), cwd, log, env.

    `env` is the whole environment of the started process (nothing is inherited), so it must
    hold PATH and, for containers, the variables passed by name with `-e NAME`.
    """

    run_id: int
    argv: Sequence[str]
    cwd: Path
    log_path: Path
    env: Mapping[str, str]
    container_name: str | None = None
    runtime_binary: str | None = None


@dataclass(frozen=True)
class RunHandle:
    """How to find a run again, also from a later bot process: plain data, JSON-serialisable.

    `kind` names the runtime that owns it (`native`, `container`, later e.g. `kubernetes`);
    `process_identity` guards against a reused pid; `details` is free for other runtimes.
    """

    run_id: int
    kind: str
    pid: int | None = None
    container_name: str | None = None
    runtime_binary: str | None = None
    log_path: str | None = None
    process_identity: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["details"] = dict(self.details)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunHandle:
        def optional(key: str, kind: type) -> Any:
            value = data.get(key)
            if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
                raise ValueError(f"run handle field {key!r} must be {kind.__name__} or null")
            return value

        run_id, kind = data.get("run_id"), data.get("kind")
        if not isinstance(run_id, int) or isinstance(run_id, bool):
            raise ValueError("run handle field 'run_id' must be an integer")
        if not isinstance(kind, str) or not kind:
            raise ValueError("run handle field 'kind' must be a non-empty string")
        details = data.get("details") or {}
        if not isinstance(details, Mapping) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in details.items()
        ):
            raise ValueError("run handle field 'details' must map strings to strings")
        return cls(
            run_id=run_id,
            kind=kind,
            pid=optional("pid", int),
            container_name=optional("container_name", str),
            runtime_binary=optional("runtime_binary", str),
            log_path=optional("log_path", str),
            process_identity=optional("process_identity", str),
            details=dict(details),
        )

    @classmethod
    def from_json(cls, text: str) -> RunHandle:
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True)
class RunResult:
    """How a run ended.

    `exit_code` is None when it is unknown (a run re-attached after a restart, or lost);
    a negative code is a native process ended by that signal. `killed` means we (cancel or
    timeout) or a signal ended it.
    """

    exit_code: int | None
    killed: bool = False
    timed_out: bool = False
    output_tail: str = ""


@runtime_checkable
class Runtime(Protocol):
    """Start, wait for, cancel and re-find agent runs; handles are plain data."""

    async def start(self, spec: LaunchSpec) -> RunHandle: ...

    async def wait(self, handle: RunHandle, timeout_seconds: float | None) -> RunResult:
        """Wait for the end; past the timeout, cancel with the runtime's grace (timed_out)."""
        ...

    async def cancel(self, handle: RunHandle, grace_seconds: float = DEFAULT_GRACE_SECONDS) -> None:
        """Ask the run to stop (SIGTERM), and kill it once `grace_seconds` have passed."""
        ...

    async def is_alive(self, handle: RunHandle) -> bool: ...


def read_output_tail(log_path: Path | str | None, characters: int = OUTPUT_TAIL_CHARACTERS) -> str:
    """The last `characters` characters of a log file ("" when it is missing)."""
    if not log_path:
        return ""
    try:
        with open(log_path, "rb") as log:
            log.seek(0, 2)
            size = log.tell()
            log.seek(max(0, size - characters * 4))
            data = log.read()
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")[-characters:]
