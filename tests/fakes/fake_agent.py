"""A fake agent for runtime tests: records argv/cwd/env, then behaves as FAKE_AGENT_* says.

Usage: fake_agent.py NAME [ARGUMENT...]. Environment:
FAKE_AGENT_RECORD (JSON file to write), FAKE_AGENT_SLEEP (seconds), FAKE_AGENT_EXIT (code),
FAKE_AGENT_CHILD_PIDFILE (spawn a child that ignores SIGTERM, write its pid there),
FAKE_AGENT_IGNORE_TERM (ignore SIGTERM itself), FAKE_AGENT_BLOCKED (write BLOCKED.md).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

STUBBORN_CHILD = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
)


def main() -> int:
    environment = os.environ
    record = {
        "name": sys.argv[1],
        "argv": sys.argv[2:],
        "cwd": os.getcwd(),
        "env": dict(environment),
    }
    if environment.get("FAKE_AGENT_RECORD"):
        with open(environment["FAKE_AGENT_RECORD"], "w", encoding="utf-8") as file:
            json.dump(record, file)
    if environment.get("FAKE_AGENT_IGNORE_TERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if environment.get("FAKE_AGENT_CHILD_PIDFILE"):
        child = subprocess.Popen([sys.executable, "-c", STUBBORN_CHILD])
        with open(environment["FAKE_AGENT_CHILD_PIDFILE"], "w", encoding="utf-8") as file:
            file.write(str(child.pid))
    if environment.get("FAKE_AGENT_BLOCKED"):
        with open("BLOCKED.md", "w", encoding="utf-8") as file:
            file.write(environment["FAKE_AGENT_BLOCKED"])
    print(f"{record['name']} started", flush=True)
    print(f"{record['name']} says hello on stderr", file=sys.stderr, flush=True)
    time.sleep(float(environment.get("FAKE_AGENT_SLEEP", "0")))
    print(f"{record['name']} done", flush=True)
    return int(environment.get("FAKE_AGENT_EXIT", "0"))


if __name__ == "__main__":
    sys.exit(main())
