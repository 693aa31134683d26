"""The text of a run's status comment in every state, and of the notice of a paused pool."""

from __future__ import annotations

import html
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.redaction import Redactor
from bot.replies import MARKER_PREFIX, format_duration, quote, reply, run_marker
from bot.store.runs import Run, RunState

# queued, running, completed, blocked, failed, cancelled
EMOJI = dict(zip(RunState, ("⏳", "🏃", "✅", "❓", "❌", "🚫"), strict=True))
# Caps that keep a comment far below the forges' 64 KB limit, whatever the run produced.
LOG_TAIL = (60, 6000)  # (lines, characters)
FINAL_MESSAGE_CHARACTERS = 4000
QUESTION_CHARACTERS = 4000
REASON_CHARACTERS = 1000
REDACTION_MARGIN = 4096  # text kept past a cap until redacted, so a secret across it is seen
LINE_CHARACTERS = 300  # a command, a branch, a URL, a note
DIFF_STAT = (60, 4000)
QA_COMMANDS_SHOWN = 20
QA_OUTPUTS_SHOWN = 5
QA_OUTPUT = (20, 1500)

FROZEN = "dispatch is frozen by an admin"
ANSWER_HINT = "Reply with `/answer <your answer>` to resume this run in the same workspace."
RETRY_HINT = "Use `/retry` to run it again with the same parameters."
PAUSE_MARKER_PREFIX = "<!-- agent-bot:pause="

ANSI_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
MENTION = re.compile(r"(?<![\w.`/@-])@(?=[A-Za-z0-9])")


@dataclass(frozen=True)
class StatusView:
    """What the status comment shows beyond the run itself."""

    log_tail: str = ""  # the tail of the agent's log
    waiting_reason: str = ""  # queued: why it waits
    expected_start: float | None = None  # epoch seconds when a pause/backoff ends
    previous_run_url: str = ""  # a resumed run: the earlier run's status comment
    time_tracking_note: str = ""  # e.g. "12m 05s added to the tracked time"
    frozen: bool = False  # queued: dispatch is frozen by an admin


Clean = Callable[..., str]


def _cleaner(redactor: Redactor) -> Clean:
    """Make text from an agent or a forge safe to embed: no terminal escapes, no secrets, no
    second run marker, and (in prose) no @mentions that would notify people."""

    def clean(text: str | None, *, prose: bool = False, limit: int = LINE_CHARACTERS) -> str:
        """`limit` 0: the whole text (the callers cut long texts to a cap + REDACTION_MARGIN)."""
        text = (text or "")[: limit + REDACTION_MARGIN if limit else None].replace("\r\n", "\n")
        text = "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))
        text = CONTROL_CHARACTERS.sub("", ANSI_ESCAPE.sub("", text).replace("\t", "    "))
        text = redactor.redact(text).replace(MARKER_PREFIX, "<!-- (quoted) agent-bot:run=")
        text = _first(text, limit) if limit else text
        return MENTION.sub("@\u200b", text) if prose else text

    return clean


def _head(text: str | None, limit: int, clean: Clean) -> str:
    """The start of `text`, at most `limit` characters, saying when it was cut."""
    raw = (text or "").strip()
    shown = clean(raw[: limit + REDACTION_MARGIN], prose=True, limit=0).strip()
    if len(shown) <= limit and len(raw) <= limit + REDACTION_MARGIN:
        return shown
    cut = shown[:limit]
    cut = cut[: cut.rfind("\n")] if "\n" in cut[limit // 2 :] else cut
    return f"{cut.rstrip()}\n\n*(truncated after {len(cut):,} characters)*"


def _backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


def _tail_block(text: str | None, lines: int, characters: int, clean: Clean) -> str:
    """A code block of the last lines of `text` within both caps, after a note when cut; ""
    when blank. The fence is longer than any backtick run inside, so nothing can close it."""
    raw = (text or "").replace("\r\n", "\n").strip("\n")
    total = raw.count("\n") + 1
    all_lines = clean(raw[-(characters + REDACTION_MARGIN) :], limit=0).split("\n")
    if not "".join(all_lines).strip():
        return ""
    kept = all_lines[-lines:]
    while len(kept) > 1 and sum(len(line) + 1 for line in kept) > characters:
        kept = kept[1:]
    whole = len(kept[0]) <= characters and (len(kept) < len(all_lines) or len(all_lines) == total)
    kept[0] = kept[0][-characters:]
    fence = "`" * max(3, _backtick_run("\n".join(kept)) + 1)
    block = f"{fence}text\n" + "\n".join(kept) + f"\n{fence}"
    if whole and len(kept) == total:
        return block
    cut = "" if whole else ", the first of them cut short"
    return f"*Truncated: the last {len(kept)} of {total:,} lines{cut}.*\n\n{block}"


def _code(text: str) -> str:
    """Inline code that holds any text (one line)."""
    text = " ".join(text.split())
    ticks = "`" * (_backtick_run(text) + 1)
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{padding}{text}{padding}{ticks}"


def _details(summary: str, body: str) -> str:
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"


def _first(text: str, limit: int) -> str:
    """At most `limit` characters of a short text, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _utc(moment: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(moment))


def _countdown(moment: float, now: float) -> str:
    minutes = math.ceil((moment - now) / 60)
    return f"in {minutes} min" if minutes > 0 else "any moment now"


def _log_section(log_tail: str, clean: Clean) -> str:
    block = _tail_block(log_tail, *LOG_TAIL, clean)
    return _details("Agent log (last lines)", block) if block else ""


def _describe_exit(result: dict[str, Any]) -> str:
    exit_code = result.get("exit_code")
    if result.get("timed_out"):
        return "timed out"
    if not isinstance(exit_code, int):
        return "could not start"
    if exit_code < 0:
        return f"killed by signal {-exit_code}"
    return f"exit code {exit_code}"


def _qa_section(report: dict[str, Any] | None, clean: Clean) -> str:
    results = [result for result in (report or {}).get("results", []) if isinstance(result, dict)]
    if not results:
        return ""
    failed = [
        result for result in results if result.get("exit_code") != 0 or result.get("timed_out")
    ]
    passed = bool((report or {}).get("passed")) and not failed
    verdict = "✅ passed" if passed else f"❌ failed ({len(failed)} of {len(results)} commands)"
    lines = [f"**QA:** {verdict}", ""]
    for result in results[:QA_COMMANDS_SHOWN]:
        mark = "❌" if result in failed else "✅"
        command = _code(clean(str(result.get("command", ""))))
        lines.append(f"- {mark} {command}: {_describe_exit(result)}")
    if len(results) > QA_COMMANDS_SHOWN:
        lines.append(f"- … and {len(results) - QA_COMMANDS_SHOWN} more commands")
    parts = ["\n".join(lines)]
    for result in failed[:QA_OUTPUTS_SHOWN]:
        block = _tail_block(str(result.get("output_tail") or ""), *QA_OUTPUT, clean)
        if block:
            command = html.escape(clean(str(result.get("command", ""))))
            parts.append(_details(f"Output of <code>{command}</code>", block))
    return "\n\n".join(parts)


def _final_message_section(run: Run, clean: Clean) -> str:
    text = _head(run.final_message, FINAL_MESSAGE_CHARACTERS, clean)
    return f"**The agent's summary:**\n\n{quote(text)}" if text else ""


def _headline(run: Run, clean: Clean, now: float) -> str:
    facts = [f"{EMOJI[run.state]} run #{run.id}: **{run.state.value}**"]
    facts.append(_code(clean(run.agent_spec)))
    facts.append(f"template {_code(clean(run.template))}")
    if run.started_at is not None:
        ended = run.finished_at if run.finished_at is not None else now
        facts.append(format_duration(max(0.0, ended - run.started_at)))
    if run.branch:
        facts.append(f"branch {_code(clean(run.branch))}")
    return " · ".join(facts)


def _queued(run: Run, view: StatusView, clean: Clean, now: float) -> list[str]:
    why = clean(view.waiting_reason, prose=True, limit=REASON_CHARACTERS).strip()
    line = f"Waiting: {FROZEN if view.frozen else why or 'for a free slot'}."
    if view.frozen:
        line += " It starts once an admin unfreezes dispatch."
    elif view.expected_start is not None:
        when = view.expected_start
        line += f" Expected to start at {_utc(when)} ({_countdown(when, now)})."
    else:
        line += " It starts on its own as soon as it can."
    return [line]


def _running(run: Run, view: StatusView, clean: Clean, now: float) -> list[str]:
    started = f"Started at {_utc(run.started_at)}." if run.started_at is not None else "Starting…"
    return [started, _log_section(view.log_tail, clean)]


def _completed(run: Run, view: StatusView, clean: Clean, now: float) -> list[str]:
    if run.pr_url:
        delivery = f"**Pull request:** {clean(run.pr_url)}"
    elif run.pushed_branch:
        branch = _code(clean(run.pushed_branch))
        delivery = f"**Pushed** the commits to branch {branch}."
    elif run.diff_stat:
        delivery = "The commits were not pushed; they stay in the run's workspace."
    else:
        delivery = "The agent made no commits."
    changes = _tail_block(run.diff_stat, *DIFF_STAT, clean)
    changes = f"**Changes:**\n\n{changes}" if changes else ""
    return [
        delivery,
        changes,
        _qa_section(run.qa_report, clean),
        _final_message_section(run, clean),
        _log_section(view.log_tail, clean),
    ]


def _blocked(run: Run, view: StatusView, clean: Clean, now: float) -> list[str]:
    question = _head(run.question, QUESTION_CHARACTERS, clean) or "(BLOCKED.md gave no question)"
    return [
        "**The agent needs an answer to go on:**",
        quote(question),
        ANSWER_HINT,
        _log_section(view.log_tail, clean),
    ]


def _failed(run: Run, view: StatusView, clean: Clean, now: float) -> list[str]:
    reason = _head(run.reason, REASON_CHARACTERS, clean)
    qa = run.qa_report if run.qa_report and not run.qa_report.get("passed") else None
    return [
        f"**Reason:** {reason or 'unknown (see the log)'}",
        _qa_section(qa, clean),
        _final_message_section(run, clean),
        _log_section(view.log_tail, clean),
        RETRY_HINT,
    ]


def _cancelled(run: Run, view: StatusView, clean: Clean, now: float) -> list[str]:
    reason = _head(run.reason, REASON_CHARACTERS, clean)
    return [f"**Reason:** {reason or 'cancelled'}", _log_section(view.log_tail, clean)]


SECTIONS = {
    RunState.QUEUED: _queued,
    RunState.RUNNING: _running,
    RunState.COMPLETED: _completed,
    RunState.BLOCKED: _blocked,
    RunState.FAILED: _failed,
    RunState.CANCELLED: _cancelled,
}


def render_status_comment(run: Run, view: StatusView, redactor: Redactor, *, now: float) -> str:
    """The whole status comment of `run` (deterministic for a given `now`)."""
    clean = _cleaner(redactor)
    command_line = clean(run.command_line, prose=True) or None
    parts = [run_marker(run.id), reply(command_line, run.actor, _headline(run, clean, now))]
    if run.resumed_from is not None:
        url = clean(view.previous_run_url).strip().replace(" ", "%20").replace(")", "%29")
        earlier = f"[run #{run.resumed_from}]({url})" if url else f"run #{run.resumed_from}"
        parts.append(f"↩️ Resumes {earlier} in the same workspace, with the answer given.")
    parts += SECTIONS[run.state](run, view, clean, now)
    if view.time_tracking_note and not run.state.is_active:
        parts.append(f"⏱️ {clean(view.time_tracking_note, prose=True).strip()}")
    return "\n\n".join(part for part in parts if part) + "\n"


def render_pause_notice(pool: str, until: float, failures: int, *, now: float) -> str:
    """A short comment on an issue whose run waits because its agent pool is paused."""
    name = _code(pool)
    return (
        f"{PAUSE_MARKER_PREFIX}{re.sub(r'[^A-Za-z0-9_.:-]', '', pool)} -->\n"
        f"⏸️ The {name} agents are paused until {_utc(until)} ({_countdown(until, now)}): "
        f"the last {failures} runs of {name} failed soon after they started.\n\n"
        f"Runs queued for {name} wait and start on their own when the pause ends; "
        "other agents are not affected.\n"
    )
