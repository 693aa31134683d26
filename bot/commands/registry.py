"""The one registry of slash commands, used both to parse comments and to write `/help`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from .arguments import parse_answer, parse_no_arguments, parse_review
from .dispatch import parse_dispatch
from .lexer import Invocation
from .models import Command, ParseContext

ArgumentParser = Callable[[Invocation, ParseContext], Command]


class Where(StrEnum):
    """Where a command may be used."""

    ISSUE_OR_PR = "issue, PR"
    PR = "PR"
    ANYWHERE = "anywhere"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command: its usage, what it does, where it works, examples, and its parser."""

    name: str
    usage: str
    summary: str
    where: Where
    examples: tuple[str, ...]
    parse_arguments: ArgumentParser  # raises ArgumentError on bad arguments


_SPECS = (
    CommandSpec(
        name="dispatch",
        usage="/dispatch [AGENT[:MODEL]] [key=value …] [instructions…]",
        summary=(
            "Run an agent (the default agent unless AGENT is given). Instructions are the rest"
            " of the line plus the following lines up to the next command; without them the"
            " task is the issue's title and body."
        ),
        where=Where.ISSUE_OR_PR,
        examples=(
            "/dispatch codex:gpt-5.4-mini timeout=30 fix the flaky test in tests/test_api.py",
            "/dispatch claude template=security persona=careful-maintainer var.TICKET=OPS-12",
            '/dispatch plan=feature var.feature="dark mode" persona=test-first',
        ),
        parse_arguments=parse_dispatch,
    ),
    CommandSpec(
        name="review",
        usage="/review [AGENT]",
        summary=(
            "Run a review agent (`codex:review` by default, or `coderabbit`) on the pull"
            " request's head and post its report. Makes no commits."
        ),
        where=Where.PR,
        examples=("/review", "/review coderabbit"),
        parse_arguments=parse_review,
    ),
    CommandSpec(
        name="answer",
        usage="/answer TEXT…",
        summary=(
            "Resume the latest blocked run here, in the same workspace, with TEXT as the"
            " answer to its question. TEXT may continue on the following lines."
        ),
        where=Where.ISSUE_OR_PR,
        examples=("/answer Use PostgreSQL 16; keep SQLite for the tests.",),
        parse_arguments=parse_answer,
    ),
    CommandSpec(
        name="retry",
        usage="/retry",
        summary="Run the latest run here again with the same parameters.",
        where=Where.ISSUE_OR_PR,
        examples=("/retry",),
        parse_arguments=parse_no_arguments,
    ),
    CommandSpec(
        name="cancel",
        usage="/cancel",
        summary="Cancel the queued or running run here.",
        where=Where.ISSUE_OR_PR,
        examples=("/cancel",),
        parse_arguments=parse_no_arguments,
    ),
    CommandSpec(
        name="status",
        usage="/status",
        summary="Reply with the runs of this issue or pull request: state, agent, duration, links.",
        where=Where.ISSUE_OR_PR,
        examples=("/status",),
        parse_arguments=parse_no_arguments,
    ),
    CommandSpec(
        name="help",
        usage="/help",
        summary="Reply with this list of commands.",
        where=Where.ANYWHERE,
        examples=("/help",),
        parse_arguments=parse_no_arguments,
    ),
)

REGISTRY: Mapping[str, CommandSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})
