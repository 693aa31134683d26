"""A fake `docker`/`podman`/`container` CLI: runs the `sh -c` body on the host, mounts mapped.

Invoked as `fake_docker.py PROGRAM ARGUMENT...` (a wrapper named docker/podman/container does
that). Every call is appended to $FAKE_DOCKER_STATE/calls.jsonl. `run` rewrites the container
paths of the `-v` mounts (`/workspace`, `/workspace/.meta`, …) to their host folders in the
`-w` folder and the body, passes `-e NAME` / `-e NAME=VALUE`, and starts `sh -c BODY` in its
own session, like a container whose PID 1 is that `sh`: SIGTERM sent to the container (by
`kill --signal TERM`, `stop` or the CLI's signal proxy) reaches only that root process, which
ignores it (as PID 1 does); SIGKILL, or the root's end, ends the whole group (the namespace).
Per container NAME the state folder holds NAME.pid (while
running), NAME.exit (its exit code), NAME.removed (`--rm`) and NAME.env.json.
`kill [--signal S]`, `stop`, `inspect`, `wait` act on that.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

SUBCOMMANDS = {"run", "kill", "stop", "inspect", "wait"}
VALUE_OPTIONS = {
    "-v",
    "-w",
    "-e",
    "--name",
    "--network",
    "--memory",
    "--ulimit",
    "--type",
    "--format",
    "--signal",
    "--cpus",
    "--user",
}
STATE = Path(os.environ.get("FAKE_DOCKER_STATE", "."))
AS_PID_ONE = (
    "import os, signal, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return True
    return state not in ("Z", "X")


def running_pid(name: str) -> int | None:
    pid_file = STATE / f"{name}.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text())
    return pid if alive(pid) else None


def split_options(arguments: list[str]) -> tuple[list[tuple[str, str | None]], list[str]]:
    """Options up to the first positional argument, and the positional rest."""
    options: list[tuple[str, str | None]] = []
    index = 0
    while index < len(arguments) and arguments[index].startswith("-"):
        option = arguments[index]
        if option in VALUE_OPTIONS:
            options.append((option, arguments[index + 1]))
            index += 2
        else:
            options.append((option, None))
            index += 1
    return options, arguments[index:]


def run(arguments: list[str]) -> int:
    options, rest = split_options(arguments)
    image, command = rest[0], rest[1:]
    mounts: dict[str, str] = {}
    environment = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")}
    name, workdir, remove = "unnamed", "/", False
    for option, value in options:
        if option == "-v" and value:
            source, target = value.split(":")[:2]
            mounts[target] = source
        elif option == "-e" and value:
            key, equals, setting = value.partition("=")
            if equals:
                environment[key] = setting
            elif key in os.environ:
                environment[key] = os.environ[key]
        elif option == "--name" and value:
            name = value
        elif option == "-w" and value:
            workdir = value
        elif option == "--rm":
            remove = True
    targets = sorted(mounts, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w/.])(" + "|".join(map(re.escape, targets)) + r")(?=$|[/\s'\";])")

    def to_host(text: str) -> str:
        return pattern.sub(lambda match: mounts[match.group(1)], text) if targets else text

    record = {"image": image, "env": environment, "mounts": mounts, "workdir": workdir}
    (STATE / f"{name}.env.json").write_text(json.dumps(record))
    Path(to_host(workdir)).mkdir(parents=True, exist_ok=True)  # as docker does for -w
    container = subprocess.Popen(
        [sys.executable, "-c", AS_PID_ONE, *(to_host(part) for part in command)],
        cwd=to_host(workdir),
        env=environment,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    (STATE / f"{name}.pid").write_text(str(container.pid))

    def forward(signal_number: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(container.pid, signal_number)

    signal.signal(signal.SIGTERM, forward)
    code = container.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(container.pid, signal.SIGKILL)
    code = 128 - code if code < 0 else code
    (STATE / f"{name}.exit").write_text(str(code))
    if remove:
        (STATE / f"{name}.removed").write_text("")
    (STATE / f"{name}.pid").unlink()
    return code


def main() -> int:
    program, arguments = Path(sys.argv[1]).name, sys.argv[2:]
    with open(STATE / "calls.jsonl", "a", encoding="utf-8") as calls:
        calls.write(json.dumps({"program": program, "argv": arguments}) + "\n")
    subcommand = next(argument for argument in arguments if argument in SUBCOMMANDS)
    after = arguments[arguments.index(subcommand) + 1 :]
    if subcommand == "run":
        return run(after)
    options, rest = split_options(after)
    name = rest[-1]
    pid = running_pid(name)
    exited = (STATE / f"{name}.exit").exists() and not (STATE / f"{name}.removed").exists()
    if subcommand in ("kill", "stop"):
        if pid is None:
            print(f"Error: No such container: {name}", file=sys.stderr)
            return 1
        chosen = dict(options).get("--signal") or ("TERM" if subcommand == "stop" else "KILL")
        signal_number = signal.Signals["SIG" + chosen.removeprefix("SIG")]
        if signal_number == signal.SIGKILL:
            os.killpg(pid, signal_number)
        else:
            os.kill(pid, signal_number)
        if subcommand == "stop":
            time.sleep(0.2)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        print(name)
        return 0
    if subcommand == "inspect":
        if pid is None and not exited:
            print(f"Error: No such object: {name}", file=sys.stderr)
            return 1
        if program == "container":
            print(json.dumps([{"status": "running" if pid else "stopped"}]))
        else:
            print("true" if pid else "false")
        return 0
    if pid is None and not exited:
        print(f"Error: No such container: {name}", file=sys.stderr)
        return 1
    while not (STATE / f"{name}.exit").exists():
        time.sleep(0.02)
    print((STATE / f"{name}.exit").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
