"""After-run QA commands: real shells in a real directory, with only the given environment."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bot.feedback.qa import OUTPUT_TAIL_CHARACTERS, QaReport, QaResult, run_qa

ENV = {"PATH": os.environ["PATH"], "LC_ALL": "C"}


@pytest.mark.parametrize(
    ("command", "passed", "exit_code", "timed_out", "output"),
    [
        ("echo hello", True, 0, False, "hello\n"),
        ("echo oops >&2; exit 3", False, 3, False, "oops\n"),
        ("printf 'out\\n'; printf 'err\\n' >&2", True, 0, False, "out\nerr\n"),
        ("no-such-command-anywhere", False, 127, False, "not found"),
        ("sleep 30", False, None, True, "[timed out after 0.5 s]"),
        ("kill -9 $$", False, -9, False, ""),
    ],
)
async def test_one_command(
    tmp_path: Path,
    command: str,
    passed: bool,
    exit_code: int | None,
    timed_out: bool,
    output: str,
) -> None:
    report = await run_qa([command], tmp_path, env=ENV, timeout_seconds=0.5)
    [result] = report.results
    assert (report.passed, result.passed) == (passed, passed)
    assert (result.command, result.exit_code, result.timed_out) == (command, exit_code, timed_out)
    assert output in result.output_tail


async def test_runs_every_command_and_reports_each(tmp_path: Path) -> None:
    commands = ["true", "exit 2", "echo third > third.txt"]
    report = await run_qa(commands, tmp_path, env=ENV)
    assert not report.passed
    assert [result.exit_code for result in report.results] == [0, 2, 0]
    assert (tmp_path / "third.txt").read_text() == "third\n"  # ran in the checkout
    assert report.first_failure == report.results[1]
    assert report.results[1].describe_failure() == "`exit 2` exited with 2"


async def test_no_commands_pass(tmp_path: Path) -> None:
    assert await run_qa([], tmp_path, env=ENV) == QaReport(passed=True, results=[])


async def test_output_keeps_only_the_tail(tmp_path: Path) -> None:
    command = "i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done"
    [result] = (await run_qa([command], tmp_path, env=ENV)).results
    assert len(result.output_tail) == OUTPUT_TAIL_CHARACTERS
    assert result.output_tail.endswith("line-2999\n")
    assert "line-0\n" not in result.output_tail


async def test_the_environment_is_exactly_the_one_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORGE_TOKEN", "secret-token-value")
    env = ENV | {"VISIBLE": "yes"}
    command = 'echo "visible=$VISIBLE token=${FORGE_TOKEN:-unset}"'
    [result] = (await run_qa([command], tmp_path, env=env)).results
    assert result.output_tail == "visible=yes token=unset\n"


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "survived"
    command = f"(sleep 1.5; touch {marker}) & sleep 30"
    started = time.monotonic()
    [result] = (await run_qa([command], tmp_path, env=ENV, timeout_seconds=0.3)).results
    assert result.timed_out and time.monotonic() - started < 5
    assert result.describe_failure() == f"`{command}` timed out"
    time.sleep(2)
    assert not marker.exists()


async def test_background_process_does_not_hold_up_a_finished_command(tmp_path: Path) -> None:
    started = time.monotonic()
    [result] = (await run_qa(["sleep 30 & echo done"], tmp_path, env=ENV)).results
    assert (result.exit_code, result.output_tail) == (0, "done\n")
    assert time.monotonic() - started < 5


async def test_log_file_gets_the_full_output(tmp_path: Path) -> None:
    log = tmp_path / "qa.log"
    log.symlink_to(tmp_path / "elsewhere")  # a planted link is replaced, not written through
    await run_qa(["echo one", "echo two; exit 1"], tmp_path, env=ENV, log_path=log)
    assert not log.is_symlink() and not (tmp_path / "elsewhere").exists()
    assert (
        log.read_text()
        == "$ echo one\none\n[exit code 0]\n\n$ echo two; exit 1\ntwo\n[exit code 1]\n\n"
    )


async def test_missing_directory_is_a_failed_result_not_a_crash(tmp_path: Path) -> None:
    report = await run_qa(["true"], tmp_path / "missing", env=ENV)
    [result] = report.results
    assert not report.passed and result.exit_code is None and not result.timed_out
    assert "could not start" in result.output_tail
    assert result.describe_failure() == "`true` could not start"


def test_to_dict_is_the_stored_shape() -> None:
    report = QaReport(
        False, [QaResult("make test", 2, "boom\n"), QaResult("sleep", None, "", True)]
    )
    assert report.to_dict() == {
        "passed": False,
        "results": [
            {"command": "make test", "exit_code": 2, "output_tail": "boom\n", "timed_out": False},
            {"command": "sleep", "exit_code": None, "output_tail": "", "timed_out": True},
        ],
    }
