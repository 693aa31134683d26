"""Container runtime choice and the `docker|podman|container run` argv of an agent run."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from bot.engine.agents import shell_quote

ContainerRuntimeName = Literal["apple", "docker", "podman"]
CONTAINER_RUNTIMES: tuple[ContainerRuntimeName, ...] = ("apple", "docker", "podman")
RUNTIME_BINARIES: Mapping[str, str] = {"apple": "container", "docker": "docker", "podman": "podman"}
DEFAULT_IMAGE = "core-dev"
RUNTIME_ENVIRONMENT_VARIABLE = "CORE_AGENT_RUNTIME"
IMAGE_ENVIRONMENT_VARIABLE = "AGENT_DOCKER_IMAGE"
CONTAINER_HOME = "/home/agent"
CREDENTIAL_DIRS: Mapping[str, tuple[str, ...]] = {
    "codex": (".codex",),
    "local": (".codex",),
    "claude": (".claude",),
    "gemini": (".gemini",),
}
CONTAINER_NAME_PATTERN = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}")
ENV_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CREDENTIAL_DIR_PATTERN = re.compile(r"\.?[A-Za-z0-9][A-Za-z0-9_.-]*")
PLAIN_WORD_PATTERN = re.compile(r"[A-Za-z0-9_./+-]+")
IMAGE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@-]{0,254}")
SOCKET_MARKERS = ("docker.sock", "podman.sock", "containerd.sock")
REPO_CHECK = "if [ ! -d /workspace/repo ]; then echo 'missing /workspace/repo' >&2; exit 1; fi"
FINISH = "status=$?; chmod -R a+w /workspace /workspace/.meta 2>/dev/null; exit $status"

Which = Callable[[str], str | None]


class ContainerCommandError(ValueError):
    """A container argv that would be unsafe or malformed."""


def runtime_binary(name: str) -> str:
    """The executable of a runtime: `container` for apple, `podman`, else `docker`."""
    return RUNTIME_BINARIES.get(name, "docker")


def runtime_available(
    name: str, *, which: Which = shutil.which, is_macos: bool = sys.platform == "darwin"
) -> bool:
    """True when the runtime's binary is on PATH (apple also needs macOS)."""
    if name not in RUNTIME_BINARIES or (name == "apple" and not is_macos):
        return False
    return which(runtime_binary(name)) is not None


def resolve_runtime(
    preferred: str,
    environ: Mapping[str, str],
    *,
    which: Which = shutil.which,
    is_macos: bool = sys.platform == "darwin",
) -> str:
    """`native`, or the container runtime to use: `CORE_AGENT_RUNTIME` wins over `preferred`.

    `auto` (or anything unknown) takes the first available of apple, docker, podman; an
    explicit runtime whose binary is missing falls back the same way; with none, `docker`.
    """
    chosen = (environ.get(RUNTIME_ENVIRONMENT_VARIABLE) or preferred or "auto").strip().lower()
    if chosen == "native":
        return "native"
    if chosen in RUNTIME_BINARIES and runtime_available(chosen, which=which, is_macos=is_macos):
        return chosen
    for candidate in CONTAINER_RUNTIMES:
        if runtime_available(candidate, which=which, is_macos=is_macos):
            return candidate
    return "docker"


def resolve_image(configured: str | None, environ: Mapping[str, str]) -> str:
    """`AGENT_DOCKER_IMAGE`, else the configured image, else `core-dev`."""
    return environ.get(IMAGE_ENVIRONMENT_VARIABLE) or configured or DEFAULT_IMAGE


def credential_dirs_for(agent_base: str) -> tuple[str, ...]:
    """Folders under the home directory that an agent needs (mounted read-only)."""
    return CREDENTIAL_DIRS.get(agent_base, ())


def validate_container_name(name: str) -> str:
    if not CONTAINER_NAME_PATTERN.fullmatch(name):
        raise ContainerCommandError(
            f"container name {name[:80]!r} must match [a-zA-Z0-9][a-zA-Z0-9_.-]* (max 128)"
        )
    return name


def container_name_for(run_id: int, prefix: str = "agent-run") -> str:
    """A container name per run, so cancel, timeout and restart can find it."""
    return validate_container_name(f"{prefix}-{run_id}")


def agent_shell_body(agent_argv: Sequence[str]) -> str:
    """The `sh -c` body: check the checkout, run the agent, open up permissions, keep its status."""
    if not agent_argv or not agent_argv[0]:
        raise ContainerCommandError("the agent argv is empty")
    command, *arguments = agent_argv
    if not PLAIN_WORD_PATTERN.fullmatch(command):
        command = shell_quote(command)
    words = " ".join([command, *(shell_quote(argument) for argument in arguments)])
    return f"{REPO_CHECK}; {words}; {FINISH}"


def _host_path(path: Path | str, what: str) -> str:
    text = str(path)
    if not Path(text).is_absolute():
        raise ContainerCommandError(f"{what} {text!r} must be an absolute path")
    if ":" in text or "," in text or any(ord(character) < 32 for character in text):
        raise ContainerCommandError(f"{what} {text!r} may not contain ':', ',' or control chars")
    return text


def _plain_value(value: str, what: str) -> str:
    if any(ord(character) < 32 or ord(character) == 127 for character in value):
        raise ContainerCommandError(f"{what} {value[:80]!r} may not contain control characters")
    return value


def _credential_mounts(home_dir: Path | str, credential_dirs: Sequence[str]) -> list[str]:
    home = _host_path(home_dir, "home directory")
    mounts: list[str] = []
    for folder in credential_dirs:
        if not CREDENTIAL_DIR_PATTERN.fullmatch(folder) or folder in (".", ".."):
            raise ContainerCommandError(f"credential folder {folder!r} must be one plain name")
        source = _host_path(Path(home) / folder, "credential folder")
        mounts += ["-v", f"{source}:{CONTAINER_HOME}/{folder}:ro"]
    return mounts


def _environment(pass_env: Sequence[str], git_identity: tuple[str, str]) -> list[str]:
    arguments: list[str] = []
    for name in pass_env:
        if not ENV_NAME_PATTERN.fullmatch(name):
            raise ContainerCommandError(f"environment variable name {name[:80]!r} is not valid")
        arguments += ["-e", name]
    for setting in ("TERM=dumb", "NO_COLOR=1", "CI=true"):
        arguments += ["-e", setting]
    name, email = (_plain_value(value, "git identity") for value in git_identity)
    for variable, value in (
        ("GIT_USER_NAME", name),
        ("GIT_USER_EMAIL", email),
        ("GIT_AUTHOR_NAME", name),
        ("GIT_AUTHOR_EMAIL", email),
        ("GIT_COMMITTER_NAME", name),
        ("GIT_COMMITTER_EMAIL", email),
    ):
        arguments += ["-e", f"{variable}={value}"]
    return arguments


def _check_extra_args(arguments: Sequence[str]) -> list[str]:
    for argument in arguments:
        _plain_value(argument, "extra container argument")
        if any(marker in argument for marker in SOCKET_MARKERS):
            raise ContainerCommandError(
                f"extra container argument {argument[:80]!r} would expose a container socket"
            )
    return list(arguments)


def container_command(
    runtime: str,
    *,
    image: str,
    gpu: bool,
    agent_argv: Sequence[str],
    workspace_dir: Path | str,
    meta_dir: Path | str,
    container_name: str,
    home_dir: Path | str,
    git_identity: tuple[str, str],
    pass_env: Sequence[str] = (),
    credential_dirs: Sequence[str] = (),
    global_args: Sequence[str] = (),
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The full argv (binary first) running `agent_argv` in a container, as the seed's
    containerCommandFor, plus a name, read-only credentials, the configured identity and
    the agent's own exit status."""
    if runtime not in RUNTIME_BINARIES:
        raise ContainerCommandError(f"{runtime!r} is not a container runtime")
    if not IMAGE_PATTERN.fullmatch(image):
        raise ContainerCommandError(f"image {image[:80]!r} is not a valid image reference")
    argv = [runtime_binary(runtime), *_check_extra_args(global_args), "run", "--rm"]
    argv += ["--name", validate_container_name(container_name)]
    if runtime == "docker":
        # Not podman: it names the host host.docker.internal itself from 4.7 on, and before
        # that (Debian 12 has 4.3) it rejects `host-gateway` ("invalid IP address in add-host")
        # and names it host.containers.internal only (see agents.LOCAL_HOST_CHOICE).
        argv.append("--add-host=host.docker.internal:host-gateway")
    if gpu:
        argv.append("--gpu=metal" if runtime == "apple" else "--gpus=all")
    argv += _check_extra_args(extra_args)
    argv += ["-v", f"{_host_path(workspace_dir, 'workspace')}:/workspace"]
    argv += ["-v", f"{_host_path(meta_dir, 'meta folder')}:/workspace/.meta"]
    argv += ["-w", "/workspace/repo"]
    argv += _credential_mounts(home_dir, credential_dirs)
    argv += _environment(pass_env, git_identity)
    return [*argv, image, "sh", "-c", agent_shell_body(agent_argv)]
