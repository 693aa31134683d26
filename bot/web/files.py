"""Reads a run's prompt and agent log safely: its own files only, no symbolic links, bounded."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from bot.engine.prompts import PROMPT_FILE_NAME
from bot.engine.run_files import run_log_files, run_output_folder
from bot.store.runs import Run

SHOWN_BYTES = 64 * 1024
SAFE_AGENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def meta_folder(run: Run) -> Path | None:
    """The folder holding this run's files: `.meta/` while it is the workspace's latest run,
    `.meta/previous-runs/run-<id>/` once a later run set them aside; None when missing or a
    symbolic link (agents can write there)."""
    if not run.workspace_path:
        return None
    return run_output_folder(run.workspace_path, run.id)


def log_path(run: Run) -> Path | None:
    """The run's streamed log (`agent-<agent>.output.log` when codex writes its final message
    to `agent-<agent>.log`)."""
    if not SAFE_AGENT.fullmatch(run.agent):
        return None
    return run_log_files(run)[0]


def prompt_path(run: Run) -> Path | None:
    folder = meta_folder(run)
    return folder / PROMPT_FILE_NAME if folder else None


def read_range(path: Path | None, start: int, limit: int) -> tuple[bytes, int] | None:
    """Up to `limit` bytes from `start` and the file's size; None when it is not a plain file.

    The file is opened without following a symbolic link, so an agent that replaced its log
    with a link to another file on the host cannot make the page show that file.
    """
    if path is None:
        return None
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            return None
        start = max(0, min(start, info.st_size))
        os.lseek(descriptor, start, os.SEEK_SET)
        chunks, wanted = [], min(limit, info.st_size - start)
        while wanted > 0:
            chunk = os.read(descriptor, wanted)
            if not chunk:
                break
            chunks.append(chunk)
            wanted -= len(chunk)
        return b"".join(chunks), info.st_size
    except OSError:
        return None
    finally:
        os.close(descriptor)


def read_tail(
    path: Path | None, limit: int = SHOWN_BYTES, *, whole_lines: bool = False
) -> tuple[str, int, bool] | None:
    """The last `limit` bytes as text (from a line start), the offset where that text ends, and
    whether older text was left out. `whole_lines` leaves out an unfinished last line, so that
    a live stream that goes on from the returned offset sends it whole."""
    probe = read_range(path, 0, 0)
    if probe is None:
        return None
    size = probe[1]
    start = max(0, size - limit)
    result = read_range(path, start, limit)
    if result is None:
        return None
    data, _ = result
    if whole_lines:
        data = data[: data.rfind(b"\n") + 1]
    end = start + len(data)
    if start:
        newline = data.find(b"\n")
        data = data[newline + 1 :] if newline >= 0 else data
    return data.decode("utf-8", "replace"), end, start > 0
