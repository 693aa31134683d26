"""Typed results of parsing slash commands, and the context the parser needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_TEMPLATES: frozenset[str] = frozenset({"coding", "conventions", "security", "review"})


@runtime_checkable
class TemplateNames(Protocol):
    """The template, persona and plan names `/dispatch` accepts; the engine's TemplateLibrary.

    The parser asks only when a command names one, so most comments cost no folder listing.
    """

    def names(self) -> frozenset[str]: ...

    def persona_names(self) -> frozenset[str]: ...

    def plan_names(self) -> frozenset[str]: ...


@dataclass(frozen=True, slots=True)
class FixedTemplateNames:
    """Names given up front; by default the built-in templates and no personas or plans."""

    templates: frozenset[str] = DEFAULT_TEMPLATES
    personas: frozenset[str] = frozenset()
    plans: frozenset[str] = frozenset()

    def names(self) -> frozenset[str]:
        return self.templates

    def persona_names(self) -> frozenset[str]:
        return self.personas

    def plan_names(self) -> frozenset[str]:
        return self.plans


class DispatchArgs(BaseModel):
    """The arguments of one `/dispatch` command."""

    model_config = ConfigDict(frozen=True)

    agent: str | None = None  # agent base, lower case; None = the configured default
    model: str | None = None  # the part after ':' in AGENT:MODEL
    template: str | None = None
    persona: str | None = None
    plan: str | None = None
    base: str | None = None  # branch to start from
    timeout_minutes: int | None = None
    variables: dict[str, str] = Field(default_factory=dict)  # from var.NAME=VALUE
    instructions: str = ""  # empty = use the issue title and body as the task


class Command(BaseModel):
    """One recognised, well-formed command found in a comment."""

    model_config = ConfigDict(frozen=True)

    name: str  # "dispatch" | "review" | "answer" | "retry" | "cancel" | "status" | "help"
    line: str  # the command line as typed (stripped), for quoting in replies
    dispatch: DispatchArgs | None = None  # for dispatch
    agent_spec: str | None = None  # for review, e.g. "codex:review"
    text: str = ""  # for answer


class CommandError(BaseModel):
    """A recognised command whose arguments are wrong; reply with the message and usage."""

    model_config = ConfigDict(frozen=True)

    name: str
    line: str
    message: str  # one line, says what was wrong
    usage: str  # the command's usage string, e.g. "/review [AGENT]"


class ParseContext(BaseModel):
    """What the parser validates against: configured agents, template names, and where it is."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    known_agents: frozenset[str]
    template_names: TemplateNames = FixedTemplateNames()
    is_pull_request: bool = False

    def agent_bases(self) -> frozenset[str]:
        """The known agent bases in lower case (a ':model' suffix, if given, is dropped)."""
        return frozenset(agent.split(":", 1)[0].lower() for agent in self.known_agents)


class ArgumentError(ValueError):
    """Raised inside argument parsers for bad arguments; turned into a CommandError."""
