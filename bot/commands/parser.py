"""Turn a comment body into the commands it contains, in order; never raises."""

from __future__ import annotations

from collections import Counter

from .lexer import Invocation, find_invocations
from .models import ArgumentError, Command, CommandError, ParseContext
from .registry import REGISTRY, CommandSpec, Where

ParsedCommand = Command | CommandError


def parse_comment(body: str, context: ParseContext) -> list[ParsedCommand]:
    """Parse every recognised command line of a comment, in order.

    Unknown `/words` are ignored; a known command with bad arguments becomes a CommandError.
    """
    return [
        _parse_invocation(REGISTRY[invocation.name], invocation, context)
        for invocation in find_invocations(body, REGISTRY)
    ]


def commands_added_by_edit(
    previous_body: str, new_body: str, context: ParseContext
) -> list[ParsedCommand]:
    """The commands of new_body that previous_body did not already have.

    Commands are matched on (name, normalised command line), counting repeats: a command
    line that appears once before and twice after the edit counts as added once.
    """
    already_seen = Counter(_identity(parsed) for parsed in parse_comment(previous_body, context))
    added: list[ParsedCommand] = []
    for parsed in parse_comment(new_body, context):
        identity = _identity(parsed)
        if already_seen[identity] > 0:
            already_seen[identity] -= 1
        else:
            added.append(parsed)
    return added


def _identity(parsed: ParsedCommand) -> tuple[str, str]:
    """(name, command line with whitespace collapsed and the /name lower-cased)."""
    words = parsed.line.split()
    if words:
        words[0] = words[0].lower()
    return parsed.name, " ".join(words)


def _parse_invocation(
    spec: CommandSpec, invocation: Invocation, context: ParseContext
) -> ParsedCommand:
    """Run the command's argument parser, turning any problem into a CommandError."""
    try:
        if spec.where is Where.PR and not context.is_pull_request:
            raise ArgumentError(f"/{spec.name} works only on pull requests, not on issues")
        return spec.parse_arguments(invocation, context)
    except ArgumentError as problem:
        return CommandError(
            name=spec.name, line=invocation.line, message=str(problem), usage=spec.usage
        )
