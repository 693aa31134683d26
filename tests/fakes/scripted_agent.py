"""A fake coding agent for end-to-end tests: records how it was run, then acts as told.

Usage: scripted_agent.py NAME [ARGUMENT...]. It appends {name, argv, cwd, branch, env} to the
JSON-lines file $SCRIPTED_AGENT_RECORD, then does what $SCRIPTED_AGENT_ACTION_FILE says:
`commit` (a change to README.md, committed), `blocked:QUESTION` (writes BLOCKED.md), `exit:N`,
`sleep:SECONDS`, `say:TEXT` (prints it), `summary:TEXT` (writes it to the file after `-o`, as
codex does with its final message), `quiet` (prints nothing at all), or several joined by `,`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()


def main() -> int:
    record = {
        "name": sys.argv[1],
        "argv": sys.argv[2:],
        "cwd": os.getcwd(),
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "env": dict(os.environ),
        "pid": os.getpid(),
        "started": time.time(),
    }
    with open(os.environ["SCRIPTED_AGENT_RECORD"], "a", encoding="utf-8") as file:
        file.write(json.dumps(record) + "\n")
    code = 0
    action_file = os.environ.get("SCRIPTED_AGENT_ACTION_FILE", "")
    actions = ""
    if action_file:
        with open(action_file, encoding="utf-8") as file:
            actions = file.read().strip()
    quiet = "quiet" in actions.split(",")
    if not quiet:
        print(f"{record['name']} working in {record['cwd']}", flush=True)
    for action in filter(None, actions.split(",")):
        verb, _, argument = action.partition(":")
        if verb == "commit":
            with open("README.md", "a", encoding="utf-8") as readme:
                readme.write("fixed by the agent\n")
            git("add", "README.md")
            git("commit", "--quiet", "-m", "Fix the README")
        elif verb == "blocked":
            with open("BLOCKED.md", "w", encoding="utf-8") as blocked:
                blocked.write(argument + "\n")
        elif verb == "answered":  # a resumed run: act on ANSWER.md, clear any question left
            with open("ANSWER.md", encoding="utf-8") as answer:
                print(f"answer: {answer.read().strip()}", flush=True)
            if os.path.lexists("BLOCKED.md"):
                os.remove("BLOCKED.md")
        elif verb == "say":
            print(argument, flush=True)
        elif verb == "summary":  # codex's `-o FILE`: its final message goes there
            with open(sys.argv[sys.argv.index("-o") + 1], "w", encoding="utf-8") as summary:
                summary.write(argument + "\n")
        elif verb == "print":  # print an environment variable's value (to test redaction)
            print(f"debug: {os.environ.get(argument, '')}", flush=True)
        elif verb == "exit":
            code = int(argument)
        elif verb == "sleep":
            time.sleep(float(argument))
    if not quiet:
        print("final message: done", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
