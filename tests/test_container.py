"""Tests for the container argv (parity with the seed's containerCommandFor) and runtime choice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from bot.engine.agents import agent_command
from bot.engine.container import (
    ContainerCommandError,
    agent_shell_body,
    container_command,
    container_name_for,
    credential_dirs_for,
    resolve_image,
    resolve_runtime,
    runtime_available,
    runtime_binary,
)

WORKSPACE = "/srv/ws/forgejo/core/go-io/issue-5"
META = f"{WORKSPACE}/.meta"
BYPASS = "--dangerously-bypass-approvals-and-sandbox"
CHECK = "if [ ! -d /workspace/repo ]; then echo 'missing /workspace/repo' >&2; exit 1; fi"
FINISH = "status=$?; chmod -R a+w /workspace /workspace/.meta 2>/dev/null; exit $status"
IDENTITY = [
    "-e",
    "GIT_USER_NAME=Agent Bot",
    "-e",
    "GIT_USER_EMAIL=bot@example.org",
    "-e",
    "GIT_AUTHOR_NAME=Agent Bot",
    "-e",
    "GIT_AUTHOR_EMAIL=bot@example.org",
    "-e",
    "GIT_COMMITTER_NAME=Agent Bot",
    "-e",
    "GIT_COMMITTER_EMAIL=bot@example.org",
]
API_KEYS = ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"]


def build(runtime: str = "docker", spec: str = "codex:gpt-5.4-mini", **changes: Any) -> list[str]:
    values: dict[str, Any] = {
        "image": "core-dev",
        "gpu": False,
        "agent_argv": agent_command(spec, "Fix it's tests").argv,
        "workspace_dir": WORKSPACE,
        "meta_dir": META,
        "container_name": "agent-run-7",
        "home_dir": "/home/bot",
        "git_identity": ("Agent Bot", "bot@example.org"),
        "pass_env": API_KEYS,
        "credential_dirs": credential_dirs_for(spec.split(":")[0]),
    }
    values.update(changes)
    return container_command(runtime, **values)


def test_full_docker_argv_for_codex() -> None:
    assert build() == [
        "docker",
        "run",
        "--rm",
        "--name",
        "agent-run-7",
        "--add-host=host.docker.internal:host-gateway",
        "-v",
        f"{WORKSPACE}:/workspace",
        "-v",
        f"{META}:/workspace/.meta",
        "-w",
        "/workspace/repo",
        "-v",
        "/home/bot/.codex:/home/agent/.codex:ro",
        "-e",
        "OPENAI_API_KEY",
        "-e",
        "ANTHROPIC_API_KEY",
        "-e",
        "GEMINI_API_KEY",
        "-e",
        "GOOGLE_API_KEY",
        "-e",
        "TERM=dumb",
        "-e",
        "NO_COLOR=1",
        "-e",
        "CI=true",
        *IDENTITY,
        "core-dev",
        "sh",
        "-c",
        f"{CHECK}; codex 'exec' '{BYPASS}' '-o' '../.meta/agent-codex.log' '--model' "
        f"'gpt-5.4-mini' 'Fix it'\\''s tests'; {FINISH}",
    ]


def test_apple_with_gpu_global_and_extra_args() -> None:
    argv = build(
        "apple",
        "gemini:flash",
        gpu=True,
        pass_env=[],
        global_args=["--debug"],
        extra_args=["--memory", "4g"],
        image="registry.example/agents:1.2@sha256:ab",
    )
    assert argv[:8] == [
        "container",
        "--debug",
        "run",
        "--rm",
        "--name",
        "agent-run-7",
        "--gpu=metal",
        "--memory",
    ]
    assert "--add-host=host.docker.internal:host-gateway" not in argv
    assert argv[argv.index("-w") + 2 : argv.index("-w") + 4] == [
        "-v",
        "/home/bot/.gemini:/home/agent/.gemini:ro",
    ]
    assert argv[-4:-1] == ["registry.example/agents:1.2@sha256:ab", "sh", "-c"]
    assert argv[-1].startswith(f"{CHECK}; gemini '-p' ")


@pytest.mark.parametrize(
    ("runtime", "add_host"),
    [("docker", ["--add-host=host.docker.internal:host-gateway"]), ("podman", [])],
)
def test_gpu_flag_after_add_host(runtime: str, add_host: list[str]) -> None:
    # Podman >= 4.7 adds host.docker.internal itself; podman < 4.7 rejects `host-gateway`.
    argv = build(runtime, gpu=True, extra_args=["--network=none"])
    assert argv[: 7 + len(add_host)] == [
        runtime,
        "run",
        "--rm",
        "--name",
        "agent-run-7",
        *add_host,
        "--gpus=all",
        "--network=none",
    ]


@pytest.mark.parametrize(
    ("spec", "mounts"),
    [
        ("codex", ["/home/bot/.codex:/home/agent/.codex:ro"]),
        ("local", ["/home/bot/.codex:/home/agent/.codex:ro"]),
        ("claude", ["/home/bot/.claude:/home/agent/.claude:ro"]),
        ("gemini", ["/home/bot/.gemini:/home/agent/.gemini:ro"]),
        ("coderabbit", []),
    ],
)
def test_credential_folders_are_mounted_read_only(spec: str, mounts: list[str]) -> None:
    argv = build(spec=spec)
    volumes = [argv[index + 1] for index, value in enumerate(argv) if value == "-v"]
    assert volumes == [f"{WORKSPACE}:/workspace", f"{META}:/workspace/.meta", *mounts]
    assert not any("docker.sock" in value for value in argv)


def test_api_keys_pass_by_name_only() -> None:
    argv = build(pass_env=["OPENAI_API_KEY"])
    values = [argv[index + 1] for index, value in enumerate(argv) if value == "-e"]
    assert values[0] == "OPENAI_API_KEY"
    assert not any(value.startswith("OPENAI_API_KEY=") for value in values)
    assert not any(
        "GONOSUMCHECK" in value or "GOFLAGS" in value or "Virgil" in value for value in argv
    )


@pytest.mark.parametrize(
    ("argv", "body"),
    [
        (["codex", "a b", "it's"], "codex 'a b' 'it'\\''s'"),
        (["/opt/my tool/run", "$HOME"], "'/opt/my tool/run' '$HOME'"),
        (["sh", "-c", "x && y"], "sh '-c' 'x && y'"),
    ],
)
def test_shell_body_quotes_every_argument(argv: list[str], body: str) -> None:
    assert agent_shell_body(argv) == f"{CHECK}; {body}; {FINISH}"


@pytest.mark.parametrize(
    "changes",
    [
        {"container_name": "-bad"},
        {"container_name": "a/b"},
        {"container_name": ""},
        {"workspace_dir": "relative/ws"},
        {"meta_dir": "/srv/a:b"},
        {"home_dir": "/home/bot\n"},
        {"credential_dirs": ["../.ssh"]},
        {"credential_dirs": [".ssh/id_rsa"]},
        {"pass_env": ["OPENAI_API_KEY=sk-123"]},
        {"pass_env": ["A B"]},
        {"git_identity": ("Bot\n", "bot@example.org")},
        {"extra_args": ["-v", "/var/run/docker.sock:/var/run/docker.sock"]},
        {"global_args": ["--host=unix:///run/podman/podman.sock"]},
        {"image": "-it"},
        {"image": "core dev"},
        {"agent_argv": []},
    ],
)
def test_unsafe_values_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ContainerCommandError):
        build(**changes)


def test_native_is_not_a_container_runtime() -> None:
    with pytest.raises(ContainerCommandError):
        build("native")


def test_container_name_for() -> None:
    assert container_name_for(42) == "agent-run-42"
    assert container_name_for(3, prefix="bot.prod") == "bot.prod-3"


def which_of(*present: str):  # noqa: ANN201 - a fake shutil.which
    def which(name: str) -> str | None:
        return f"/usr/bin/{name}" if name in present else None

    return which


@pytest.mark.parametrize(
    ("name", "binary"),
    [("apple", "container"), ("docker", "docker"), ("podman", "podman"), ("other", "docker")],
)
def test_runtime_binary(name: str, binary: str) -> None:
    assert runtime_binary(name) == binary


@pytest.mark.parametrize(
    ("name", "present", "is_macos", "available"),
    [
        ("docker", ["docker"], False, True),
        ("docker", [], False, False),
        ("podman", ["podman"], False, True),
        ("apple", ["container"], True, True),
        ("apple", ["container"], False, False),
        ("native", ["native"], False, False),
    ],
)
def test_runtime_available(
    name: str, present: Sequence[str], is_macos: bool, available: bool
) -> None:
    assert runtime_available(name, which=which_of(*present), is_macos=is_macos) is available


@pytest.mark.parametrize(
    ("preferred", "environ", "present", "is_macos", "expected"),
    [
        ("native", {}, [], False, "native"),
        ("auto", {"CORE_AGENT_RUNTIME": "native"}, ["docker"], False, "native"),
        ("native", {"CORE_AGENT_RUNTIME": "podman"}, ["docker", "podman"], False, "podman"),
        ("auto", {}, ["container", "docker", "podman"], True, "apple"),
        ("auto", {}, ["container", "docker", "podman"], False, "docker"),
        ("auto", {}, ["podman"], False, "podman"),
        ("auto", {}, [], False, "docker"),
        ("", {}, ["podman"], False, "podman"),
        ("podman", {}, ["docker", "podman"], False, "podman"),
        ("podman", {}, ["docker"], False, "docker"),
        ("apple", {}, ["container", "podman"], False, "podman"),
        ("docker", {}, ["container"], True, "apple"),
        ("docker", {"CORE_AGENT_RUNTIME": ""}, ["docker"], False, "docker"),
        ("auto", {"CORE_AGENT_RUNTIME": "Docker"}, ["docker", "podman"], False, "docker"),
    ],
)
def test_resolve_runtime(
    preferred: str, environ: dict[str, str], present: Sequence[str], is_macos: bool, expected: str
) -> None:
    chosen = resolve_runtime(preferred, environ, which=which_of(*present), is_macos=is_macos)
    assert chosen == expected


@pytest.mark.parametrize(
    ("configured", "environ", "expected"),
    [
        ("core-ml", {"AGENT_DOCKER_IMAGE": "override:1"}, "override:1"),
        ("core-ml", {}, "core-ml"),
        ("", {}, "core-dev"),
        (None, {"AGENT_DOCKER_IMAGE": ""}, "core-dev"),
    ],
)
def test_resolve_image(configured: str | None, environ: dict[str, str], expected: str) -> None:
    assert resolve_image(configured, environ) == expected
