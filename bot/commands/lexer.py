"""Split a comment into command invocations, skipping code fences and quoted lines."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_COMMAND_LINE = re.compile(r"^\s*/([A-Za-z][A-Za-z0-9_-]*)(?=\s|$)(.*)$")
_FENCE_OPENER = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
_QUOTED_LINE = re.compile(r"^\s*>")


@dataclass(frozen=True, slots=True)
class Invocation:
    """A recognised command line and the lines that follow it up to the next command."""

    name: str  # lower case
    line: str  # the command line, stripped
    rest: str  # what follows the name on the command line
    following: tuple[str, ...]  # later lines up to the next recognised command

    def text_block(self) -> str:
        """The rest of the command line plus the following lines, trimmed of blank edges."""
        return join_block(self.rest, self.following)


def join_block(first_line: str, following: Sequence[str]) -> str:
    """Join a first line and following lines, dropping leading and trailing blank lines."""
    lines = [first_line.strip(), *(line.rstrip() for line in following)]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def find_invocations(body: str, command_names: Collection[str]) -> list[Invocation]:
    """Find every line starting with `/name` for a name in command_names, in order.

    Lines inside code fences (an unclosed fence runs to the end) and quoted lines are never
    commands, but they do belong to the text block of the command before them.
    """
    invocations: list[Invocation] = []
    current: tuple[str, str, str] | None = None
    following: list[str] = []
    open_fence: str | None = None

    def finish_current() -> None:
        if current is not None:
            invocations.append(Invocation(*current, following=tuple(following)))

    for line in _LINE_BREAK.split(body):
        if open_fence is not None:
            if _closes_fence(line, open_fence):
                open_fence = None
            following.append(line)
            continue
        if _QUOTED_LINE.match(line):
            following.append(line)
            continue
        open_fence = _fence_opened_by(line)
        if open_fence is not None:
            following.append(line)
            continue
        command = _COMMAND_LINE.match(line)
        if command is not None and command[1].lower() in command_names:
            finish_current()
            current = (command[1].lower(), line.strip(), command[2])
            following = []
            continue
        following.append(line)
    finish_current()
    return invocations


def _fence_opened_by(line: str) -> str | None:
    """The fence marker (e.g. "```") if the line opens a code fence, else None."""
    opener = _FENCE_OPENER.match(line)
    if opener is None:
        return None
    marker, info = opener[1], opener[2]
    if marker.startswith("`") and "`" in info:
        return None  # inline code such as ```x```, not a fence
    return marker


def _closes_fence(line: str, marker: str) -> bool:
    """Whether the line closes a fence opened with marker (same char, at least as long)."""
    stripped = line.strip()
    return len(stripped) >= len(marker) and set(stripped) == {marker[0]}
