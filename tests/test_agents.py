"""Tests for agent specs and the agent command table (parity with the seed's agentCommand)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings, strategies

from bot.engine.agents import (
    AgentCatalog,
    AgentCommand,
    AgentSpec,
    AgentSpecError,
    CustomAgent,
    InvalidModelError,
    UnknownAgentError,
    agent_catalog_from_definitions,
    agent_command,
    agent_output_file,
    is_lem_profile,
    parse_agent_spec,
    shell_quote,
)

PROMPT = "Fix the failing tests"
REVIEW = (
    "Review the last 2 commits via git diff HEAD~2. Check for bugs, security issues, missing "
    "tests, naming issues. Report pass/fail with specifics. Do NOT make changes."
)
SANDBOX = (
    "SANDBOX: You are restricted to the current directory only. Do NOT use absolute paths. "
    "Do NOT navigate outside this repository."
)
BYPASS = "--dangerously-bypass-approvals-and-sandbox"
SOCAT = (
    "host=host.docker.internal; if ! grep -q host.docker.internal /etc/hosts"
    " && grep -q host.containers.internal /etc/hosts; then host=host.containers.internal; fi;"
    ' socat TCP-LISTEN:11434,fork,reuseaddr "TCP:$host:11434" & sleep 0.5'
)


@pytest.mark.parametrize(
    ("spec", "prompt", "argv", "where"),
    [
        ("gemini", PROMPT, ["gemini", "-p", PROMPT, "--yolo", "--sandbox"], "container"),
        (
            "gemini:pro",
            PROMPT,
            ["gemini", "-p", PROMPT, "--yolo", "--sandbox", "-m", "gemini-2.5-pro"],
            "container",
        ),
        (
            "codex",
            PROMPT,
            ["codex", "exec", BYPASS, "-o", "../.meta/agent-codex.log", PROMPT],
            "container",
        ),
        (
            "codex:gpt-5.4-mini",
            PROMPT,
            [
                "codex",
                "exec",
                BYPASS,
                "-o",
                "../.meta/agent-codex.log",
                "--model",
                "gpt-5.4-mini",
                PROMPT,
            ],
            "container",
        ),
        (
            "codex:lemmy",
            PROMPT,
            [
                "codex",
                "exec",
                BYPASS,
                "-o",
                "../.meta/agent-codex.log",
                "--profile",
                "lemmy",
                PROMPT,
            ],
            "container",
        ),
        ("codex:review", PROMPT, ["codex", "exec", BYPASS, REVIEW], "container"),
        (
            "claude",
            PROMPT,
            [
                "claude",
                "-p",
                PROMPT,
                "--output-format",
                "text",
                "--dangerously-skip-permissions",
                "--no-session-persistence",
                "--append-system-prompt",
                SANDBOX,
            ],
            "native",
        ),
        (
            "claude:opus",
            PROMPT,
            [
                "claude",
                "-p",
                PROMPT,
                "--output-format",
                "text",
                "--dangerously-skip-permissions",
                "--no-session-persistence",
                "--append-system-prompt",
                SANDBOX,
                "--model",
                "opus",
            ],
            "native",
        ),
        ("coderabbit", "", ["coderabbit", "review", "--plain", "--base", "HEAD~1"], "native"),
        (
            "coderabbit:committed",
            PROMPT,
            [
                "coderabbit",
                "review",
                "--plain",
                "--base",
                "HEAD~1",
                "--type",
                "committed",
                "--config",
                "CLAUDE.md",
            ],
            "native",
        ),
        (
            "local",
            PROMPT,
            [
                "sh",
                "-c",
                f"{SOCAT} && codex exec {BYPASS} --oss --local-provider ollama -m "
                f"'devstral-24b' -o ../.meta/agent-codex.log 'Fix the failing tests'",
            ],
            "container",
        ),
        (
            "local:lemer",
            "it's done",
            [
                "sh",
                "-c",
                f"{SOCAT} && codex exec {BYPASS} --profile 'lemer' "
                "-o ../.meta/agent-codex.log 'it'\\''s done'",
            ],
            "container",
        ),
        (
            "local:qwen3:8b",
            PROMPT,
            [
                "sh",
                "-c",
                f"{SOCAT} && codex exec {BYPASS} --oss --local-provider ollama -m "
                f"'qwen3:8b' -o ../.meta/agent-codex.log 'Fix the failing tests'",
            ],
            "container",
        ),
    ],
)
def test_builtin_table_matches_the_seed(
    spec: str, prompt: str, argv: list[str], where: str
) -> None:
    assert agent_command(spec, prompt) == AgentCommand(argv=argv, where=where)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("codex", AgentSpec("codex")),
        ("codex:gpt-5.4-mini", AgentSpec("codex", "gpt-5.4-mini")),
        ("Codex:GPT-5", AgentSpec("codex", "GPT-5")),
        ("local:qwen3:8b", AgentSpec("local", "qwen3:8b")),
        ("codex:", AgentSpec("codex")),
        ("gemini:models/x@v1+beta", AgentSpec("gemini", "models/x@v1+beta")),
    ],
)
def test_parse_agent_spec(text: str, expected: AgentSpec) -> None:
    assert parse_agent_spec(text) == expected
    assert parse_agent_spec(str(expected)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "codex:gpt 5",
        "codex:-rf",
        "codex:a\nb",
        "codex:a\x00",
        "codex:a;rm",
        "codex:$(x)",
        "codex:" + "a" * 129,
        "codex:é",
        ":gpt",
        "co dex",
    ],
)
def test_bad_specs_are_refused(text: str) -> None:
    with pytest.raises(AgentSpecError):
        parse_agent_spec(text)


def test_bad_model_is_an_invalid_model_error() -> None:
    with pytest.raises(InvalidModelError, match="not allowed"):
        agent_command(AgentSpec("codex", "a b"), PROMPT)


def test_unknown_agent_names_the_known_ones() -> None:
    with pytest.raises(UnknownAgentError) as caught:
        parse_agent_spec("cursor:fast")
    message = str(caught.value)
    assert "'cursor'" in message
    assert "known agents: claude, coderabbit, codex, gemini, local" in message
    with pytest.raises(UnknownAgentError):
        agent_command("cursor", PROMPT)
    with pytest.raises(UnknownAgentError):
        agent_command(AgentSpec("cursor"), PROMPT)


def test_lem_profiles() -> None:
    assert all(is_lem_profile(name) for name in ("lemer", "lemma", "lemmy", "lemrd"))
    assert not is_lem_profile("gpt-5.4") and not is_lem_profile(None)


def test_custom_agent_substitutes_per_argument_without_a_shell() -> None:
    aider = CustomAgent(("aider", "--model", "{model}", "--message={prompt}"), "native", "sonnet")
    prompt = "use {model} and $(rm -rf /) 'quoted'"
    command = agent_command("aider", prompt, custom_agents={"aider": aider})
    assert command == AgentCommand(["aider", "--model", "sonnet", f"--message={prompt}"], "native")
    command = agent_command("aider:haiku", "x", custom_agents={"aider": aider})
    assert command.argv == ["aider", "--model", "haiku", "--message=x"]


def test_custom_agent_without_a_model_needs_one() -> None:
    tool = CustomAgent(("tool", "-m", "{model}", "{prompt}"))
    with pytest.raises(AgentSpecError, match="needs a model"):
        agent_command("tool", PROMPT, custom_agents={"tool": tool})
    plain = CustomAgent(("tool", "{prompt}"))
    assert agent_command("tool", PROMPT, custom_agents={"tool": plain}) == AgentCommand(
        ["tool", PROMPT], "container"
    )


def test_custom_agent_replaces_a_builtin_and_overrides_move_builtins() -> None:
    codex = CustomAgent(("my-codex", "{prompt}"), "native")
    assert agent_command("codex", "p", custom_agents={"codex": codex}).argv == ["my-codex", "p"]
    moved = agent_command("claude", "p", where_overrides={"claude": "container"})
    assert moved.where == "container" and moved.argv[0] == "claude"
    assert agent_command("codex", "p", where_overrides={"codex": "native"}).where == "native"


def test_catalog_from_config_style_definitions() -> None:
    catalog = agent_catalog_from_definitions(
        {
            "aider": SimpleNamespace(command=["aider", "{prompt}"], where=None, default_model=None),
            "claude": SimpleNamespace(command=None, where="container", default_model=None),
            "local": SimpleNamespace(command=None, where=None, default_model="qwen3:8b"),
            "gemini": SimpleNamespace(command=["g2", "{prompt}"], where=None, default_model=None),
        }
    )
    assert catalog == AgentCatalog(
        custom_agents={
            "aider": CustomAgent(("aider", "{prompt}"), "container"),
            "gemini": CustomAgent(("g2", "{prompt}"), "container"),
        },
        where_overrides={"claude": "container"},
        default_models={"local": "qwen3:8b"},
    )
    assert "aider" in catalog.known_agents()
    assert catalog.parse("aider") == AgentSpec("aider")
    assert catalog.command("claude", "p").where == "container"
    assert "'qwen3:8b'" in catalog.command("local", "p").argv[2]
    assert "'devstral-24b'" in agent_command("local", "p").argv[2]


@settings(max_examples=40, deadline=None)
@given(strategies.text())
def test_shell_quote_round_trips_through_sh(value: str) -> None:
    value = value.replace("\x00", "")
    output = subprocess.run(
        ["sh", "-c", f"printf %s {shell_quote(value)}"], capture_output=True, check=True
    ).stdout
    assert output == value.encode("utf-8")


@pytest.mark.parametrize(
    ("spec", "name"),
    [("codex:gpt-5", "agent-codex.log"), (AgentSpec("local", "x"), "agent-local.log")],
)
def test_agent_output_file(spec: AgentSpec | str, name: str) -> None:
    assert agent_output_file(Path("/w/.meta"), spec) == Path("/w/.meta") / name
