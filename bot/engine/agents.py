"""Agent specs (`base[:model]`) and the argv of every built-in or admin-defined agent."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Where = Literal["native", "container"]

BUILTIN_AGENTS: tuple[str, ...] = ("codex", "claude", "gemini", "coderabbit", "local")
NATIVE_BY_DEFAULT = frozenset({"claude", "coderabbit"})
LEM_PROFILES = frozenset({"lemer", "lemma", "lemmy", "lemrd"})
DEFAULT_LOCAL_MODEL = "devstral-24b"
# Codex writes its final message to this file in `.meta/` (`-o`); `local` runs codex too.
CODEX_FINAL_MESSAGE_FILE = "agent-codex.log"
CODEX_OUTPUT_ARGUMENTS = ("-o", f"../.meta/{CODEX_FINAL_MESSAGE_FILE}")
# Built-in agents whose command writes their final message to a file in `.meta/`, by base.
FINAL_MESSAGE_FILES = {"codex": CODEX_FINAL_MESSAGE_FILE, "local": CODEX_FINAL_MESSAGE_FILE}
CODEX_REVIEW_PROMPT = (
    "Review the last 2 commits via git diff HEAD~2. Check for bugs, security issues, "
    "missing tests, naming issues. Report pass/fail with specifics. Do NOT make changes."
)
CLAUDE_SANDBOX_PROMPT = (
    "SANDBOX: You are restricted to the current directory only. Do NOT use absolute paths. "
    "Do NOT navigate outside this repository."
)
# The host's name inside the container, in `$host`: docker (given `--add-host`) and podman
# from 4.7 call it host.docker.internal; podman before 4.7 (Debian 12 has 4.3) only knows
# host.containers.internal, and rejects docker's `host-gateway` that would add the other name.
LOCAL_HOST_CHOICE = (
    "host=host.docker.internal; if ! grep -q host.docker.internal /etc/hosts"
    " && grep -q host.containers.internal /etc/hosts; then host=host.containers.internal; fi"
)
# The local agent's ollama on the host, reached from inside the container at localhost:11434.
LOCAL_PROXY_SCRIPT = (
    f'{LOCAL_HOST_CHOICE}; socat TCP-LISTEN:11434,fork,reuseaddr "TCP:$host:11434" & sleep 0.5'
)

BASE_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
MODEL_PATTERN = re.compile(r"[A-Za-z0-9._:/@+][A-Za-z0-9._:/@+-]{0,127}")
PLACEHOLDER_PATTERN = re.compile(r"\{(prompt|model)\}")


class AgentSpecError(ValueError):
    """An agent spec (`base[:model]`) that cannot be used."""


class UnknownAgentError(AgentSpecError):
    """The base of an agent spec names no built-in or configured agent."""

    def __init__(self, base: str, known: Iterable[str]) -> None:
        self.base = base
        self.known = tuple(sorted(set(known)))
        super().__init__(f"unknown agent {base!r}; known agents: {', '.join(self.known)}")


class InvalidModelError(AgentSpecError):
    """A model string with characters an agent command must never receive."""


@dataclass(frozen=True)
class AgentSpec:
    """One agent choice: its base (the pool, e.g. `codex`) and an optional model."""

    base: str
    model: str | None = None

    def __str__(self) -> str:
        return self.base if self.model is None else f"{self.base}:{self.model}"


@dataclass(frozen=True)
class CustomAgent:
    """An admin-defined agent: argv with `{prompt}`/`{model}` filled in per argument."""

    command: tuple[str, ...]
    where: Where = "container"
    default_model: str | None = None

    def __post_init__(self) -> None:
        if not self.command or not self.command[0]:
            raise AgentSpecError("a custom agent needs a non-empty command")
        object.__setattr__(self, "command", tuple(self.command))


@dataclass(frozen=True)
class AgentCommand:
    """The argv of an agent and whether it runs on the host or in a container."""

    argv: list[str]
    where: Where


@dataclass(frozen=True)
class AgentCatalog:
    """Built-in agents plus the admin's additions, overrides and default models."""

    custom_agents: Mapping[str, CustomAgent] = field(default_factory=dict)
    where_overrides: Mapping[str, Where] = field(default_factory=dict)
    default_models: Mapping[str, str] = field(default_factory=dict)

    def known_agents(self) -> frozenset[str]:
        return frozenset(BUILTIN_AGENTS) | frozenset(self.custom_agents)

    def parse(self, text: str) -> AgentSpec:
        return parse_agent_spec(text, known=self.known_agents())

    def command(self, spec: AgentSpec | str, prompt: str) -> AgentCommand:
        return agent_command(
            spec,
            prompt,
            custom_agents=self.custom_agents,
            where_overrides=self.where_overrides,
            default_models=self.default_models,
        )


def validate_model(model: str) -> str:
    """Return `model` if it is a safe model name, else raise InvalidModelError."""
    if not MODEL_PATTERN.fullmatch(model):
        raise InvalidModelError(
            f"model {model[:80]!r} is not allowed: use at most 128 of the characters "
            "A-Z a-z 0-9 . _ : / @ + - (not starting with '-')"
        )
    return model


def parse_agent_spec(text: str, known: Iterable[str] | None = BUILTIN_AGENTS) -> AgentSpec:
    """Parse `base[:model]`; the base is lower-cased and checked against `known` (None: any)."""
    base, _, model = text.strip().partition(":")
    base = base.lower()
    if not BASE_PATTERN.fullmatch(base):
        raise AgentSpecError(f"agent name {base[:80]!r} is not valid")
    if known is not None and base not in set(known):
        raise UnknownAgentError(base, known)
    return AgentSpec(base, validate_model(model) if model else None)


def is_lem_profile(model: str | None) -> bool:
    """True for the LEM profiles configured in codex's config.toml (used with `--profile`)."""
    return model in LEM_PROFILES


def shell_quote(value: str) -> str:
    """Single-quote `value` for POSIX sh (`'` becomes `'\\''`), like the seed's shellQuote."""
    return "'" + value.replace("'", "'\\''") + "'"


def local_agent_script(model: str, prompt: str) -> str:
    """The `sh -c` script of the local agent: an ollama proxy, then codex on it."""
    selection = "--profile" if is_lem_profile(model) else "--oss --local-provider ollama -m"
    return (
        f"{LOCAL_PROXY_SCRIPT} && codex exec --dangerously-bypass-approvals-and-sandbox "
        f"{selection} {shell_quote(model)} {' '.join(CODEX_OUTPUT_ARGUMENTS)} "
        f"{shell_quote(prompt)}"
    )


def builtin_agent_argv(base: str, model: str | None, prompt: str) -> list[str]:
    """The seed's command table (agentCommandResult), argument for argument."""
    if base == "gemini":
        return ["gemini", "-p", prompt, "--yolo", "--sandbox"] + (
            ["-m", f"gemini-2.5-{model}"] if model else []
        )
    if base == "codex":
        if model == "review":
            return [
                "codex",
                "exec",
                "--dangerously-bypass-approvals-and-sandbox",
                CODEX_REVIEW_PROMPT,
            ]
        argv = [
            "codex",
            "exec",
            "--dangerously-bypass-approvals-and-sandbox",
            *CODEX_OUTPUT_ARGUMENTS,
        ]
        if model:
            argv += ["--profile" if is_lem_profile(model) else "--model", model]
        return [*argv, prompt]
    if base == "claude":
        argv = [
            "claude",
            "-p",
            prompt,
            "--output-format",
            "text",
            "--dangerously-skip-permissions",
            "--no-session-persistence",
            "--append-system-prompt",
            CLAUDE_SANDBOX_PROMPT,
        ]
        return argv + (["--model", model] if model else [])
    if base == "coderabbit":
        argv = ["coderabbit", "review", "--plain", "--base", "HEAD~1"]
        argv += ["--type", model] if model else []
        return argv + (["--config", "CLAUDE.md"] if prompt else [])
    if base == "local":
        return ["sh", "-c", local_agent_script(model or DEFAULT_LOCAL_MODEL, prompt)]
    raise UnknownAgentError(base, BUILTIN_AGENTS)


def custom_agent_argv(name: str, agent: CustomAgent, model: str | None, prompt: str) -> list[str]:
    """Fill `{prompt}`/`{model}` into each argument in one pass (a prompt is never re-scanned)."""
    chosen = model or agent.default_model
    values = {"prompt": prompt, "model": chosen or ""}
    if chosen is None and any("{model}" in argument for argument in agent.command):
        raise AgentSpecError(f"agent {name!r} needs a model: use {name}:MODEL")
    return [PLACEHOLDER_PATTERN.sub(lambda m: values[m.group(1)], arg) for arg in agent.command]


def agent_command(
    spec: AgentSpec | str,
    prompt: str,
    *,
    custom_agents: Mapping[str, CustomAgent] | None = None,
    where_overrides: Mapping[str, Where] | None = None,
    default_models: Mapping[str, str] | None = None,
) -> AgentCommand:
    """The argv and placement for `spec`; a custom agent with a built-in's name replaces it."""
    custom_agents = custom_agents or {}
    known = frozenset(BUILTIN_AGENTS) | frozenset(custom_agents)
    if isinstance(spec, str):
        spec = parse_agent_spec(spec, known=known)
    elif spec.base not in known:
        raise UnknownAgentError(spec.base, known)
    model = spec.model
    if model is not None:
        validate_model(model)
    elif default_models and spec.base in default_models:
        model = validate_model(default_models[spec.base])
    custom = custom_agents.get(spec.base)
    if custom is not None:
        argv = custom_agent_argv(spec.base, custom, model, prompt)
        where: Where = custom.where
    else:
        argv = builtin_agent_argv(spec.base, model, prompt)
        where = "native" if spec.base in NATIVE_BY_DEFAULT else "container"
    if where_overrides and spec.base in where_overrides:
        where = where_overrides[spec.base]
    return AgentCommand(argv=argv, where=where)


def agent_catalog_from_definitions(definitions: Mapping[str, Any]) -> AgentCatalog:
    """Build a catalog from config-style definitions (objects with command/where/default_model).

    With a `command` it is a custom agent (placed like the built-in it replaces, else in a
    container, unless `where` says otherwise);
    without, its `where` and `default_model` only adjust the built-in of that name.
    """
    custom: dict[str, CustomAgent] = {}
    overrides: dict[str, Where] = {}
    models: dict[str, str] = {}
    for name, definition in definitions.items():
        command = getattr(definition, "command", None)
        where = getattr(definition, "where", None)
        default_model = getattr(definition, "default_model", None)
        if command:
            placement = where or ("native" if name in NATIVE_BY_DEFAULT else "container")
            custom[name] = CustomAgent(tuple(command), placement, default_model)
            continue
        if where:
            overrides[name] = where
        if default_model:
            models[name] = validate_model(default_model)
    return AgentCatalog(custom, overrides, models)


def agent_output_file(meta_dir: Path, spec: AgentSpec | str) -> Path:
    """`<meta>/agent-<base>.log`, as the seed's agentOutputFile."""
    base = spec.base if isinstance(spec, AgentSpec) else spec.partition(":")[0]
    return Path(meta_dir) / f"agent-{base}.log"
