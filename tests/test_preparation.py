"""Preparation of a run in a kept workspace: earlier runs' files set aside, a PR's diff stat."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine.git import PreparedWorkspace
from bot.engine.preparation import capped_diff_stat, pull_request_diff_stat
from bot.engine.run_files import (
    KEPT_PREVIOUS_RUNS,
    run_log_files,
    run_output_folder,
    set_aside_previous_run,
)
from bot.engine.workspace import write_status
from bot.store.runs import Run
from tests.gitrepos import make_origin, prepare

RUN_FILES = {
    "prompt.md": "the first prompt\n",
    "agent-codex.output.log": "codex streamed this\n",
    "agent-codex.log": "codex's final message\n",
    "qa.log": "pytest: 3 passed\n",
}


async def issue_workspace(tmp_path: Path) -> PreparedWorkspace:
    return await prepare(tmp_path, make_origin(tmp_path, commits=2), 3)


def leave_run_files(checkout: PreparedWorkspace, run_id: int, question: str = "") -> None:
    """What a finished run leaves: its `.meta` files, status.json and maybe a question."""
    for name, text in RUN_FILES.items():
        (checkout.meta_dir / name).write_text(text)
    write_status(checkout.meta_dir, {"run_id": run_id, "state": "completed"})
    if question:
        (checkout.repo_dir / "BLOCKED.md").write_text(question)


async def test_the_previous_runs_files_and_question_move_aside_under_its_id(
    tmp_path: Path,
) -> None:
    checkout = await issue_workspace(tmp_path)
    workspace = checkout.meta_dir.parent
    leave_run_files(checkout, 4, question="Which README?\n")
    assert run_output_folder(workspace, 4) == checkout.meta_dir
    folder = set_aside_previous_run(checkout, 5)
    assert folder == checkout.meta_dir / "previous-runs" / "run-4"
    assert [entry.name for entry in checkout.meta_dir.iterdir()] == ["previous-runs"]
    for name, text in RUN_FILES.items():
        assert (folder / name).read_text() == text
    assert '"run_id": 4' in (folder / "status.json").read_text()
    assert (folder / "BLOCKED.md").read_text() == "Which README?\n"
    assert not (checkout.repo_dir / "BLOCKED.md").exists()
    # Run 4's files are found where they went; run 5 has none until it writes its status.
    assert run_output_folder(workspace, 4) == folder
    assert run_output_folder(workspace, 5) is None
    write_status(checkout.meta_dir, {"run_id": 5})
    assert run_output_folder(workspace, 5) == checkout.meta_dir


async def test_a_fresh_workspace_has_nothing_to_set_aside(tmp_path: Path) -> None:
    checkout = await issue_workspace(tmp_path)
    assert set_aside_previous_run(checkout, 1) is None
    assert list(checkout.meta_dir.iterdir()) == []
    assert run_output_folder(checkout.meta_dir.parent, 1) is None


async def test_setting_aside_never_writes_or_reads_through_planted_links(tmp_path: Path) -> None:
    checkout = await issue_workspace(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret"
    secret.write_text("host secret\n")
    (checkout.meta_dir / "previous-runs").symlink_to(outside)
    (checkout.meta_dir / "agent-claude.log").symlink_to(secret)
    (checkout.repo_dir / "BLOCKED.md").symlink_to(secret)
    folder = set_aside_previous_run(checkout, 2)
    assert folder == checkout.meta_dir / "previous-runs" / "before-run-2"
    assert not (checkout.meta_dir / "previous-runs").is_symlink()
    assert [entry.name for entry in outside.iterdir()] == ["secret"]
    assert secret.read_text() == "host secret\n"
    assert (folder / "agent-claude.log").is_symlink()  # moved as a link, never followed
    assert not (folder / "BLOCKED.md").exists()  # a linked question is dropped, not kept
    assert not (checkout.repo_dir / "BLOCKED.md").is_symlink()


async def test_only_the_newest_earlier_runs_are_kept(tmp_path: Path) -> None:
    checkout = await issue_workspace(tmp_path)
    for run_id in range(1, 9):
        leave_run_files(checkout, run_id)
        set_aside_previous_run(checkout, run_id + 1)
    kept = sorted(entry.name for entry in (checkout.meta_dir / "previous-runs").iterdir())
    assert kept == [f"run-{run_id}" for run_id in range(9 - KEPT_PREVIOUS_RUNS, 9)]


async def test_a_pr_diff_stat_is_taken_from_the_merge_base(tmp_path: Path) -> None:
    origin = make_origin(tmp_path, commits=2)
    origin.create_branch("topic")
    origin.commit(branch="topic", files={"src/parser.py": "one\ntwo\nthree\n"})
    head = origin.commit(branch="topic", files={"README.md": "changed by the PR\n"})
    origin.create_pull_ref(6, head)
    origin.commit(files={"later.txt": "main moved on\n"})
    checkout = await prepare(
        tmp_path, origin, 6, is_pull=True, branch="topic", pull_request_number=6
    )
    stat = await pull_request_diff_stat(checkout, run_id=1)
    lines = [line.strip() for line in stat.splitlines()]
    assert lines == [
        "README.md     | 2 +-",
        "src/parser.py | 3 +++",
        "2 files changed, 4 insertions(+), 1 deletion(-)",
    ]


async def test_a_pr_without_a_merge_base_gets_no_diff_stat(tmp_path: Path) -> None:
    origin = make_origin(tmp_path, commits=2)
    unrelated = origin.make_commit(None, {"other.txt": "no shared history\n"})
    origin.create_pull_ref(6, unrelated)
    checkout = await prepare(
        tmp_path, origin, 6, is_pull=True, branch="agent/pr-6", pull_request_number=6
    )
    assert await pull_request_diff_stat(checkout, run_id=1) == ""


def test_a_long_diff_stat_keeps_its_first_files_and_its_summary() -> None:
    files = [f" src/module_{number:04}.py | 2 +-" for number in range(2000)]
    summary = " 2000 files changed, 2000 insertions(+), 2000 deletions(-)"
    text = "\n".join([*files, summary]) + "\n"
    capped = capped_diff_stat(text, limit=1000)
    assert len(capped) <= 1000
    lines = capped.splitlines()
    assert lines[0] == files[0] and lines[-1] == summary
    kept = len(lines) - 2
    assert lines[-2] == f" [… {2000 - kept} more files left out …]" and kept > 10
    short = "\n".join([*files[:3], summary])
    assert capped_diff_stat(short + "\n", limit=1000) == short


@pytest.mark.parametrize(
    ("agent", "files", "expected"),
    [
        # codex streams to .output.log and leaves its final message in agent-codex.log
        (
            "codex",
            ["agent-codex.output.log", "agent-codex.log"],
            ("agent-codex.output.log", "agent-codex.log"),
        ),
        # codex run without `-o` (an admin's override): its log is all there is
        ("codex", ["agent-codex.log"], ("agent-codex.log", None)),
        # local runs codex inside: the final message is codex's file, the stream its own
        ("local", ["agent-local.log", "agent-codex.log"], ("agent-local.log", "agent-codex.log")),
        ("claude", ["agent-claude.log"], ("agent-claude.log", None)),
    ],
)
def test_run_log_files_name_the_stream_and_the_final_message_file(
    tmp_path: Path, agent: str, files: list[str], expected: tuple[str, str | None]
) -> None:
    meta = tmp_path / ".meta"
    meta.mkdir()
    for name in files:
        (meta / name).write_text("text\n")
    write_status(meta, {"run_id": 8})
    run = Run(
        id=8, forge="forgejo", repo="o/r", number=3, agent=agent, trigger="comment",
        actor="alice", created_at=1.0, workspace_path=str(tmp_path),
    )  # fmt: skip
    stream, final = run_log_files(run)
    assert (stream, final) == (meta / expected[0], meta / expected[1] if expected[1] else None)
    other_run = run.model_copy(update={"id": 9})  # not this workspace's latest run
    assert run_log_files(other_run) == (None, None)
