"""Parse the arguments of `/review`, `/answer` and the commands that take none."""

from __future__ import annotations

import re

from .lexer import Invocation
from .models import ArgumentError, Command, ParseContext

DEFAULT_REVIEW_AGENT = "codex:review"
REVIEW_AGENT_BASES = ("codex", "coderabbit")
_REVIEW_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]*")


def parse_review(invocation: Invocation, context: ParseContext) -> Command:
    """Parse `/review [AGENT]`: `codex` / `codex:review` (default), `coderabbit[:MODEL]`."""
    words = invocation.rest.split()
    if len(words) > 1:
        raise ArgumentError("/review takes at most one argument, the review agent")
    agent_spec = _review_agent_spec(words[0] if words else DEFAULT_REVIEW_AGENT)
    base = agent_spec.split(":", 1)[0]
    if base not in context.agent_bases():
        raise ArgumentError(f"review agent '{base}' is not configured on this bot")
    return Command(name=invocation.name, line=invocation.line, agent_spec=agent_spec)


def _review_agent_spec(word: str) -> str:
    """Normalise a review agent word, or raise ArgumentError if it is not a review agent."""
    base, colon, model = word.partition(":")
    base = base.lower()
    if base == "codex" and (not colon or model.lower() == "review"):
        return DEFAULT_REVIEW_AGENT
    if base == "coderabbit" and not colon:
        return base
    if base == "coderabbit" and _REVIEW_MODEL.fullmatch(model):
        return f"{base}:{model}"
    raise ArgumentError(
        f"'{word}' is not a review agent; use codex, codex:review, coderabbit or coderabbit:MODEL"
    )


def parse_answer(invocation: Invocation, context: ParseContext) -> Command:
    """Parse `/answer TEXT…`; the text may continue on the following lines."""
    text = invocation.text_block()
    if not text:
        raise ArgumentError("/answer needs the answer text after it")
    return Command(name=invocation.name, line=invocation.line, text=text)


def parse_no_arguments(invocation: Invocation, context: ParseContext) -> Command:
    """Parse a command that takes no arguments; extra words are ignored."""
    return Command(name=invocation.name, line=invocation.line)
