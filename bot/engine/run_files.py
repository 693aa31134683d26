"""Each run's own files in a workspace: what earlier runs left is set aside, a run's found.

A workspace (and its `.meta/`) is kept between the runs on an issue or PR. Before a run, what
the last one left goes to `.meta/previous-runs/run-<id>/`, so a run is never reported with
another's log, final message or question.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bot.engine.agents import FINAL_MESSAGE_FILES
from bot.engine.git import PreparedWorkspace
from bot.engine.outcome import BLOCKED_FILE_NAME, set_aside_blocked_file
from bot.engine.workspace import meta_dir, read_status
from bot.store.runs import Run

# Where the files of earlier runs in a workspace go (inside `.meta/`), and how many are kept.
PREVIOUS_RUNS_DIR_NAME = "previous-runs"
KEPT_PREVIOUS_RUNS = 5


def _remove_entry(path: Path) -> None:
    """Delete a file, link or folder tree (links are removed, never followed)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def _plain_directory(path: Path) -> Path:
    """`path` as a real folder, made when missing (a link or file an agent planted goes)."""
    if path.is_symlink() or not path.is_dir():
        _remove_entry(path)
    path.mkdir(exist_ok=True)
    return path


def _previous_run_label(meta: Path, run_id: int) -> str:
    """`run-<id>` of the run whose files are in `meta` (from its status.json), when known."""
    previous = (read_status(meta) or {}).get("run_id")
    if isinstance(previous, int) and not isinstance(previous, bool) and previous != run_id:
        return f"run-{previous}"
    return f"before-run-{run_id}"


def _label_run_id(name: str) -> int:
    """The run id at the end of a `run-<id>` / `before-run-<id>` folder name (-1 otherwise)."""
    number = name.rpartition("-")[2]
    return int(number) if number.isdigit() else -1


def _prune_previous_runs(root: Path) -> None:
    """Keep the files of the newest KEPT_PREVIOUS_RUNS earlier runs only."""
    folders = sorted(root.iterdir(), key=lambda entry: _label_run_id(entry.name))
    for folder in folders[:-KEPT_PREVIOUS_RUNS]:
        _remove_entry(folder)


def set_aside_previous_run(checkout: PreparedWorkspace, run_id: int) -> Path | None:
    """Move what earlier runs left into `.meta/previous-runs/run-<their id>/`; return that folder.

    The workspace (and its `.meta/`) is kept between runs on an issue/PR, so without this a
    run that writes no log or final message would be reported with the previous run's. All
    of `.meta/` moves (prompt, agent logs and final-message files, QA log, status.json), and
    the checkout's `BLOCKED.md`: a resumed run gets its question in the prompt, and a
    `BLOCKED.md` found when a run ends is then always that run's own question.
    """
    meta = checkout.meta_dir
    leftovers = [entry for entry in meta.iterdir() if entry.name != PREVIOUS_RUNS_DIR_NAME]
    if not leftovers and not os.path.lexists(checkout.repo_dir / BLOCKED_FILE_NAME):
        return None
    root = _plain_directory(meta / PREVIOUS_RUNS_DIR_NAME)
    folder = _plain_directory(root / _previous_run_label(meta, run_id))
    for entry in leftovers:
        _remove_entry(folder / entry.name)
        os.replace(entry, folder / entry.name)
    set_aside_blocked_file(checkout.repo_dir, folder)
    _prune_previous_runs(root)
    return folder


def run_output_folder(workspace: Path | str, run_id: int) -> Path | None:
    """Where run `run_id`'s files (agent log, final message, QA log) are: `.meta/` while it
    is the workspace's latest run (its status.json says so), its `previous-runs/` folder once
    a later run set them aside, or None when neither holds them."""
    meta = meta_dir(Path(workspace))
    if meta.is_symlink() or not meta.is_dir():
        return None
    set_aside = meta / PREVIOUS_RUNS_DIR_NAME / f"run-{run_id}"
    if set_aside.is_dir() and not set_aside.is_symlink():
        return set_aside
    return meta if (read_status(meta) or {}).get("run_id") == run_id else None


def run_log_files(run: Run) -> tuple[Path | None, Path | None]:
    """(the run's streamed log, the file its agent wrote its final message to, if another),
    both of this run only: an earlier run's files in the same workspace were set aside when
    this one was prepared, and a later run's are never taken for this one's."""
    folder = run_output_folder(run.workspace_path, run.id) if run.workspace_path else None
    if folder is None:
        return None, None
    stream = folder / f"agent-{run.agent}.output.log"
    if not stream.exists():
        stream = folder / f"agent-{run.agent}.log"
    final_name = FINAL_MESSAGE_FILES.get(run.agent)
    final = folder / final_name if final_name else None
    return stream, (final if final != stream else None)
