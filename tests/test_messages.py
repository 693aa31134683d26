"""Status comments for every run state: layout, redaction, safe fences, caps, determinism."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.feedback.messages import (
    ANSWER_HINT,
    RETRY_HINT,
    StatusView,
    render_pause_notice,
    render_status_comment,
)
from bot.redaction import Redactor
from bot.replies import MARKER_PREFIX, marker_run_id, run_marker, status_comment
from bot.store.runs import Run, RunState

NOW = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
SECRET = "planted-Secret-value-0042"
REDACTOR = Redactor([SECRET])
COMMAND = "/dispatch codex:gpt-5 fix the parser"


def make_run(**overrides: Any) -> Run:
    fields: dict[str, Any] = {
        "id": 7,
        "forge": "forgejo",
        "repo": "owner/repo",
        "number": 3,
        "agent": "codex",
        "model": "gpt-5",
        "trigger": "comment",
        "actor": "alice",
        "command_line": COMMAND,
        "created_at": NOW - 600,
        "branch": "agent/issue-3-fix-parser",
    }
    fields.update(overrides)
    state = fields.get("state", RunState.QUEUED)
    if state is not RunState.QUEUED:
        fields.setdefault("started_at", NOW - 300)
    if not RunState(state).is_active:
        fields.setdefault("finished_at", NOW - 115)
    return Run(**fields)


def render(run: Run, view: StatusView | None = None, now: float = NOW) -> str:
    return render_status_comment(run, view or StatusView(), REDACTOR, now=now)


FENCED_BLOCK = re.compile(r"^(`{3,})text\n(.*?)\n\1$", re.MULTILINE | re.DOTALL)
QA_FAILED = {
    "passed": False,
    "results": [
        {"command": "pytest -q", "exit_code": 0, "output_tail": "3 passed"},
        {"command": "ruff check", "exit_code": 1, "output_tail": "E501 line too long"},
    ],
}
QA_PASSED = {
    "passed": True,
    "results": [{"command": "pytest -q", "exit_code": 0, "output_tail": "ok"}],
}

PULL_REQUEST = "https://forge.example.org/owner/repo/pulls/9"
PREVIOUS = "https://forge.example.org/owner/repo/issues/3#issuecomment-41"
PAUSED = "pool codex is paused after repeated quick failures"
# fmt: off
STATE_CASES = [  # (name, run fields, view, should appear, should not appear)
    ("queued, waiting for a slot", {"state": RunState.QUEUED}, StatusView(waiting_reason="the codex pool is at its limit"),
     ["⏳ run #7: **queued**", "Waiting: the codex pool is at its limit."], ["Started at", "Reason"]),
    ("queued behind a paused pool", {"state": RunState.QUEUED}, StatusView(waiting_reason=PAUSED, expected_start=NOW + 25 * 60),
     [PAUSED, "Expected to start at 2023-11-14 22:38 UTC (in 25 min)."], ["frozen"]),
    ("queued while frozen", {"state": RunState.QUEUED}, StatusView(frozen=True),
     ["Waiting: dispatch is frozen by an admin.", "unfreezes"], ["Expected to start"]),
    ("running", {"state": RunState.RUNNING}, StatusView(log_tail="step 1\nstep 2"),
     ["🏃 run #7: **running**", "Started at 2023-11-14 22:08 UTC.", "5m 00s", "Agent log (last lines)", "step 2"], ["Waiting", RETRY_HINT]),
    ("completed with a pull request",
     {"state": RunState.COMPLETED, "pr_url": PULL_REQUEST, "diff_stat": " parser.py | 4 ++--\n 1 file changed", "qa_report": QA_PASSED, "final_message": "Fixed the parser."},
     StatusView(log_tail="all done", time_tracking_note="3m 05s added to the issue's tracked time"),
     ["✅ run #7: **completed**", "3m 05s", f"**Pull request:** {PULL_REQUEST}", " parser.py | 4 ++--", "**QA:** ✅ passed", "- ✅ `pytest -q`: exit code 0",
      "> Fixed the parser.", "<details><summary>Agent log (last lines)</summary>", "⏱️ 3m 05s added"], [RETRY_HINT, "Pushed"]),
    ("completed on a pull request's branch", {"state": RunState.COMPLETED, "pushed_branch": "feature/x", "diff_stat": " a | 1 +"}, StatusView(),
     ["**Pushed** the commits to branch `feature/x`."], ["Pull request:", "QA"]),
    ("completed without commits", {"state": RunState.COMPLETED, "final_message": "Nothing to change."}, StatusView(),
     ["The agent made no commits.", "> Nothing to change."], ["Changes:", "Agent log"]),
    ("blocked", {"state": RunState.BLOCKED, "question": "Which database?\nPostgres or SQLite?"}, StatusView(),
     ["❓ run #7: **blocked**", "> Which database?\n> Postgres or SQLite?", ANSWER_HINT], [RETRY_HINT]),
    ("failed with an exit code", {"state": RunState.FAILED, "reason": "the agent exited with code 2", "exit_code": 2}, StatusView(log_tail="Traceback: boom"),
     ["❌ run #7: **failed**", "**Reason:** the agent exited with code 2", "Traceback: boom", RETRY_HINT], ["QA"]),
    ("failed on timeout", {"state": RunState.FAILED, "reason": "timed out after 60 min"}, StatusView(),
     ["**Reason:** timed out after 60 min", RETRY_HINT], ["Agent log"]),
    ("failed QA", {"state": RunState.FAILED, "reason": "QA failed: `ruff check` exited with 1", "qa_report": QA_FAILED}, StatusView(),
     ["**QA:** ❌ failed (1 of 2 commands)", "- ❌ `ruff check`: exit code 1", "<summary>Output of <code>ruff check</code></summary>", "E501 line too long"], ["3 passed"]),
    ("failed in the bot itself", {"state": RunState.FAILED, "reason": "infrastructure error: docker is not running"}, StatusView(),
     ["**Reason:** infrastructure error: docker is not running", RETRY_HINT], []),
    ("cancelled", {"state": RunState.CANCELLED, "reason": "cancelled by @bob with /cancel"}, StatusView(),
     ["🚫 run #7: **cancelled**", "**Reason:** cancelled by @\u200bbob with /cancel"], [RETRY_HINT, ANSWER_HINT]),
    ("resumed", {"state": RunState.RUNNING, "resumed_from": 5, "command_line": "/answer use SQLite"}, StatusView(previous_run_url=PREVIOUS),
     ["> /answer use SQLite", f"↩️ Resumes [run #5]({PREVIOUS})"], []),
]
# fmt: on
CASE_IDS = [case[0] for case in STATE_CASES]


@pytest.mark.parametrize(
    ("name", "fields", "view", "should", "should_not"), STATE_CASES, ids=CASE_IDS
)
def test_every_state_renders_its_parts(
    name: str, fields: dict[str, Any], view: StatusView, should: list[str], should_not: list[str]
) -> None:
    run = make_run(**fields)
    body = render(run, view)
    assert body.startswith(run_marker(run.id) + "\n")
    assert body.count(MARKER_PREFIX) == 1 and marker_run_id(body) == run.id
    assert f"> {run.command_line}\n\n@alice " in body
    assert (
        "`codex:gpt-5` · template `coding`" in body and "branch `agent/issue-3-fix-parser`" in body
    )
    for part in should:
        assert part in body, part
    for part in should_not:
        assert part not in body, part


@pytest.mark.parametrize("state", list(RunState))
def test_a_planted_secret_never_appears(state: RunState) -> None:
    qa = {
        "passed": False,
        "results": [{"command": f"check {SECRET}", "exit_code": 1, "output_tail": f"out {SECRET}"}],
    }
    run = make_run(
        state=state, final_message=f"msg {SECRET}", question=f"q {SECRET}", reason=f"r {SECRET}",
        command_line=f"/dispatch {SECRET}", diff_stat=f" {SECRET} | 1 +", qa_report=qa,
        pr_url=f"https://x-access-token:{SECRET}@forge/pulls/1", branch=f"agent/{SECRET}",
    )  # fmt: skip
    view = StatusView(
        log_tail=f"log {SECRET}\nAuthorization: token ghp_{'a1' * 18}", waiting_reason=SECRET,
        previous_run_url=f"https://h/{SECRET}", time_tracking_note=SECRET,
    )  # fmt: skip
    body = render(run, view)
    assert SECRET not in body and "ghp_" not in body and "***" in body


@pytest.mark.parametrize("state", [RunState.COMPLETED, RunState.FAILED, RunState.BLOCKED])
def test_embedded_markers_and_mentions_are_neutralised(state: RunState) -> None:
    planted = f"{run_marker(99)} ping @bob and @carol"
    run = make_run(state=state, final_message=planted, question=planted, reason=planted)
    body = render(run, StatusView(log_tail=planted))
    assert body.count(MARKER_PREFIX) == 1 and marker_run_id(body) == 7
    prose = FENCED_BLOCK.sub("", body)  # code blocks notify nobody and are kept verbatim
    assert "@bob" not in prose and "@carol" not in prose and "@alice" in prose


@pytest.mark.parametrize(
    "log",
    ["plain", "```\ninside\n```", "````python\nx\n````", "a ``````` b", "```", "</details>\n```"],
)
def test_fences_hold_whatever_the_log_contains(log: str) -> None:
    body = render(make_run(state=RunState.FAILED, reason="exit 1"), StatusView(log_tail=log))
    [(fence, content)] = FENCED_BLOCK.findall(body)
    assert content == log
    assert all(len(run) < len(fence) for run in re.findall(r"`+", content))


@pytest.mark.parametrize(
    ("log", "kept", "dropped", "note"),
    [
        (
            "\n".join(f"line {n}" for n in range(500)),
            "line 499",
            "line 439\n",
            "Truncated: the last 60 of 500 lines.",
        ),
        (
            "\n".join(f"{n:03d} " + "x" * 196 for n in range(100)),
            "099 ",
            "070 ",
            "Truncated: the last 29 of 100 lines.",
        ),
        ("y" * 10_000, "y" * 6000, "y" * 6001, "the first of them cut short"),
    ],
)
def test_long_logs_are_capped_and_say_so(log: str, kept: str, dropped: str, note: str) -> None:
    body = render(make_run(state=RunState.FAILED, reason="exit 1"), StatusView(log_tail=log))
    assert kept in body and dropped not in body and note in body


@pytest.mark.parametrize(
    ("log", "should_note"),
    [("short\nlog", False), ("\n".join(["l"] * 60), False), ("\n".join(["l"] * 61), True)],
)
def test_short_logs_are_not_marked_truncated(log: str, should_note: bool) -> None:
    body = render(make_run(state=RunState.FAILED, reason="exit 1"), StatusView(log_tail=log))
    assert ("Truncated:" in body) is should_note


def test_a_long_final_message_is_cut_with_a_note() -> None:
    message = "\n".join(f"paragraph {n} " + "z" * 90 for n in range(100))
    body = render(make_run(state=RunState.COMPLETED, final_message=message))
    assert "paragraph 0 " in body and "paragraph 99 " not in body
    assert re.search(r"\*\(truncated after [\d,]+ characters\)\*", body)


@pytest.mark.parametrize(
    ("fields", "view"),
    [
        ({}, StatusView(log_tail="x" * 10_000 + SECRET + "y" * 5_990)),
        ({"final_message": "w" * 3_990 + SECRET + "w" * 100}, StatusView()),
        ({"reason": "r" * 995 + SECRET}, StatusView()),
        (
            {"state": RunState.COMPLETED, "diff_stat": "d" * 9_000 + SECRET + "d" * 3_990},
            StatusView(),
        ),
    ],
)
def test_a_secret_across_a_cap_is_redacted_before_the_cut(
    fields: dict[str, Any], view: StatusView
) -> None:
    body = render(make_run(**{"state": RunState.FAILED, "reason": "exit 1", **fields}), view)
    pieces = {SECRET[start : start + 8] for start in range(len(SECRET) - 7)}
    assert not any(piece in body for piece in pieces)


@pytest.mark.parametrize("character", ["x", "`", "😀"])
def test_huge_output_stays_under_the_comment_limit(character: str) -> None:
    huge = "\n".join(character * 300 for _ in range(2000))
    results = [{"command": huge, "exit_code": 1, "output_tail": huge} for _ in range(50)]
    for state in RunState:
        run = make_run(
            state=state, final_message=huge, question=huge, reason=huge, diff_stat=huge,
            command_line=huge, qa_report={"passed": False, "results": results},
        )  # fmt: skip
        body = render(run, StatusView(log_tail=huge, waiting_reason=huge))
        assert len(body) < 60_000  # characters; GitHub allows 65,536
        if character == "x":
            assert len(body.encode()) < 65_536


def test_output_is_deterministic_for_a_fixed_now() -> None:
    run = make_run(state=RunState.RUNNING)
    assert render(run, now=NOW) == render(run, now=NOW)
    assert "5m 00s" in render(run, now=NOW) and "6m 00s" in render(run, now=NOW + 60)


def test_a_label_triggered_run_addresses_the_actor_without_a_quote() -> None:
    body = render(make_run(trigger="label", command_line=None))
    assert body.split("\n\n")[1].startswith("@alice ⏳ run #7")
    assert "\n> " not in body


def test_terminal_escapes_and_carriage_returns_are_cleaned() -> None:
    log = "\x1b[31mred\x1b[0m text\nprogress 10%\rprogress 100%\n\x07bell"
    body = render(make_run(state=RunState.FAILED, reason="x"), StatusView(log_tail=log))
    assert "red text\nprogress 100%\nbell" in body and "\x1b" not in body and "10%" not in body


def test_status_comment_delegates_with_its_login_and_command() -> None:
    body = status_comment(make_run(state=RunState.COMPLETED), "bob", "/retry")
    assert body.startswith(run_marker(7)) and "> /retry\n\n@bob ✅ run #7: **completed**" in body


@pytest.mark.parametrize(
    ("until", "should"),
    [(NOW + 30 * 60, ["in 30 min", "2023-11-14 22:43 UTC"]), (NOW - 5, ["any moment now"])],
)
def test_pause_notice(until: float, should: list[str]) -> None:
    notice = render_pause_notice("codex", until, 3, now=NOW)
    assert notice.startswith("<!-- agent-bot:pause=codex -->\n")
    assert "`codex`" in notice and "the last 3 runs" in notice and MARKER_PREFIX not in notice
    for part in should:
        assert part in notice
