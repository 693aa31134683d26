"""Render `/help` and per-command usage as Markdown, from the command registry."""

from __future__ import annotations

from collections.abc import Iterable

from .dispatch import DISPATCH_OPTIONS
from .registry import REGISTRY, Where

_WHERE_TEXT = {
    Where.ISSUE_OR_PR: "issues and pull requests",
    Where.PR: "pull requests only",
    Where.ANYWHERE: "anywhere",
}


def render_usage(name: str) -> str:
    """Markdown for one command: usage, where it works, summary, examples.

    Raises KeyError for a name that is not in the registry.
    """
    spec = REGISTRY[name]
    examples = ", ".join(f"`{example}`" for example in spec.examples)
    return (
        f"Usage: `{spec.usage}` ({_WHERE_TEXT[spec.where]}). {spec.summary}\n"
        f"Example{'s' if len(spec.examples) > 1 else ''}: {examples}"
    )


def render_help(*, min_permission: str, default_agent: str, known_agents: Iterable[str]) -> str:
    """The `/help` reply: every command with usage, where, who may use it, and examples."""
    agents = ", ".join(
        f"`{agent}`" + (" (default)" if agent == default_agent else "")
        for agent in sorted(set(known_agents))
    )
    lines = [
        "### Agent bot commands",
        "",
        "Write a command at the start of a line in an issue or pull request comment. Several"
        " commands in one comment run in order; lines in code blocks and quoted lines"
        " (`> …`) are never commands.",
        "",
        f"**Who:** people with at least `{min_permission}` permission on the repository.  ",
        f"**Agents:** {agents or '(none configured)'}; choose a model with `AGENT:MODEL`.",
        "",
        "| command | where | what |",
        "|---|---|---|",
    ]
    lines.extend(
        f"| `{spec.usage}` | {_WHERE_TEXT[spec.where]} | {spec.summary} |"
        for spec in REGISTRY.values()
    )
    lines.extend(["", "**`/dispatch` options** (`key=value`; quote values with spaces):", ""])
    lines.extend(f"- `{option}`: {meaning}" for option, meaning in DISPATCH_OPTIONS.items())
    lines.extend(["", "**Examples:**", "", "```"])
    lines.extend(example for spec in REGISTRY.values() for example in spec.examples)
    lines.append("```")
    return "\n".join(lines) + "\n"
