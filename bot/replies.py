"""The text of the bot's replies: pure functions, every reply quoting what it answers."""

from __future__ import annotations

import time

from bot.store.runs import Run

MARKER_PREFIX = "<!-- agent-bot:run="


def run_marker(run_id: int) -> str:
    """The hidden marker that lets the bot find and edit a run's status comment in place."""
    return f"{MARKER_PREFIX}{run_id} -->"


def marker_run_id(body: str) -> int | None:
    start = body.find(MARKER_PREFIX)
    if start < 0:
        return None
    digits = body[start + len(MARKER_PREFIX) :].split(" ", 1)[0]
    return int(digits) if digits.isdigit() else None


def quote(line: str) -> str:
    return "\n".join(f"> {part}" for part in line.splitlines() or [""])


def reply(command_line: str | None, login: str, text: str) -> str:
    """A reply that quotes the command it answers and addresses the person."""
    head = f"{quote(command_line)}\n\n" if command_line else ""
    return f"{head}@{login} {text}"


def refusal(command_line: str | None, login: str, reason: str) -> str:
    return reply(command_line, login, f"I can't do that: {reason}.")


def command_error(command_line: str, login: str, message: str, usage: str) -> str:
    return reply(command_line, login, f"{message}\n\nUsage: `{usage}`")


def busy(command_line: str | None, login: str, active: Run) -> str:
    return reply(
        command_line,
        login,
        f"run #{active.id} ({active.agent_spec}) is still {active.state.value} here. "
        "Use `/cancel` first, or wait for it to finish.",
    )


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minute:02d}m"
    return f"{minute}m {second:02d}s" if minute else f"{second}s"


def status_comment(run: Run, login: str, command_line: str | None) -> str:
    """The run's status comment (edited in place as the run moves), addressed to `login` and
    quoting `command_line`; bot.feedback.messages renders it (token shapes redacted)."""
    from bot.feedback.messages import StatusView, render_status_comment
    from bot.redaction import Redactor

    shown = run.model_copy(update={"actor": login, "command_line": command_line})
    return render_status_comment(shown, StatusView(), Redactor(()), now=time.time())


def status_table(runs: list[Run], issue_url: str = "", public_url: str = "") -> str:
    """`/status`: one row per run with its links: the pull request it opened, its status
    comment on the issue (`issue_url`), and its page on the bot (when `public_url` is set)."""
    if not runs:
        return "there are no runs on this issue yet."
    rows = ["| run | state | agent | trigger | duration | links |", "|---|---|---|---|---|---|"]
    for run in runs:
        rows.append(
            f"| #{run.id} | {run.state.value} | `{run.agent_spec}` | {run.trigger} by "
            f"@{run.actor} | {format_duration(run.duration_seconds)} | "
            f"{run_links(run, issue_url, public_url)} |"
        )
    return "runs on this issue, newest first:\n\n" + "\n".join(rows)


def run_links(run: Run, issue_url: str, public_url: str) -> str:
    links = []
    if run.pr_url:
        links.append(f"[pull request]({run.pr_url})")
    if issue_url and run.status_comment_id is not None:
        links.append(f"[status]({issue_url}#issuecomment-{run.status_comment_id})")
    if public_url:
        links.append(f"[page]({public_url.rstrip('/')}/runs/{run.id})")
    return ", ".join(links) or "–"
