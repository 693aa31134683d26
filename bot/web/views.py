"""What the pages and the API show of a run: redacted text, forge links, never a secret."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.appkeys import SERVICES
from bot.config import Settings
from bot.links import issue_url, status_comment_url
from bot.redaction import cached_redactor
from bot.replies import format_duration
from bot.store.runs import Run

Redact = Callable[[str], str]

# Columns shown; every string among them still goes through the redactor.
PLAIN_FIELDS = (
    "id",
    "forge",
    "repo",
    "number",
    "is_pull_request",
    "agent",
    "model",
    "template",
    "trigger",
    "actor",
    "exit_code",
    "branch",
    "base_branch",
    "pushed_branch",
    "pr_url",
    "runtime",
    "container_name",
    "timeout_minutes",
    "created_at",
    "started_at",
    "finished_at",
    "status_comment_id",
    "delivery_id",
    "resumed_from",
)
# Text that came from a person, the forge or the agent.
TEXT_FIELDS = ("task", "reason", "question", "diff_stat")
DETAIL_TEXT_FIELDS = ("instructions", "answer", "command_line", "final_message")
# Never shown anywhere: `handle` (runtime environment), `clone_url` (may embed credentials),
# `workspace_path` (server paths), `options`, `pid`.


def request_redactor(request: web.Request) -> Redact:
    """The redactor for the settings in force (built once per settings and environment)."""
    return cached_redactor(request.app[SERVICES].settings, os.environ).redact


def run_id_of(request: web.Request) -> int | None:
    """The `{id}` of the path when it can be a run's id (SQLite's integer range), else None."""
    raw = request.match_info.get("id", "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return None
    return int(raw)


def redact_tree(value: Any, redact: Redact) -> Any:
    """Redact every string inside a JSON-like value."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(key): redact_tree(item, redact) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(item, redact) for item in value]
    return value


def run_links(settings: Settings, run: Run) -> dict[str, str | None]:
    """Links to the issue or pull request, the bot's status comment and the opened PR."""
    issue, comment = issue_url(settings, run), status_comment_url(settings, run)
    pull_request = (
        run.pr_url if run.pr_url and run.pr_url.startswith(("https://", "http://")) else None
    )
    return {"issue": issue, "status_comment": comment, "pull_request": pull_request}


def run_json(settings: Settings, run: Run, redact: Redact, *, detail: bool = False) -> dict:
    """A run as the API shows it."""
    names = PLAIN_FIELDS + TEXT_FIELDS + (DETAIL_TEXT_FIELDS + ("qa_report",) if detail else ())
    data: dict[str, Any] = {name: getattr(run, name) for name in names}
    data["state"] = run.state.value
    data["agent_spec"] = run.agent_spec
    data["duration_seconds"] = run.duration_seconds
    data["links"] = {**run_links(settings, run), "page": f"/runs/{run.id}"}
    if detail:
        data["links"]["log_stream"] = f"/runs/{run.id}/log/stream"
    return redact_tree(data, redact)


def format_time(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_time(seconds: float | None) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat() if seconds is not None else ""


def template_helpers() -> dict[str, Any]:
    """Functions every template may call."""
    return {
        "format_time": format_time,
        "iso_time": iso_time,
        "format_duration": format_duration,
    }


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self';"
        " img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def secure(response: web.StreamResponse) -> web.StreamResponse:
    """Headers for every page: no framing (admin forms), no inline script, nothing cached."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
