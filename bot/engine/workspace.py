"""Workspace layout on disk, validation of the names that build it, and `.meta/status.json`."""

from __future__ import annotations

import asyncio
import base64
import fcntl
import json
import os
import re
import tempfile
import unicodedata
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from bot.forge.protocol import GitCredentials

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_REF_LENGTH = 255
SLUG_LENGTH = 40
REPO_DIR_NAME = "repo"
META_DIR_NAME = ".meta"
STATUS_FILE_NAME = "status.json"
_REF_FORBIDDEN = set(" ~^:?*[\\")
_KEPT_ENVIRONMENT = {"GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH"}
_locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> {mirror: Lock}
# The only .git/config keys kept when the bot rewrites an agent-touched workspace's config.
KEPT_GIT_CONFIG = re.compile(
    r"core\.(repositoryformatversion|filemode|logallrefupdates|symlinks|ignorecase"
    r"|precomposeunicode)|extensions\.objectformat|remote\.origin\.(url|fetch)|user\.(name|email)"
)


class InvalidName(ValueError):
    """A forge, owner, repository, branch or tag name that is unsafe or malformed."""


def validate_name(value: str, kind: str = "name") -> str:
    """Check one forge/owner/repository name (a single safe path component); return it."""
    if not isinstance(value, str) or not value:
        raise InvalidName(f"{kind} {value!r} is empty or not a string")
    shown = repr(value[:120])
    if len(value) > 100:
        raise InvalidName(f"{kind} {shown}… is longer than 100 characters")
    if value in (".", ".."):
        raise InvalidName(f"{kind} {shown} is a relative path component")
    if not NAME_PATTERN.fullmatch(value):
        raise InvalidName(
            f"{kind} {shown} may only contain ASCII letters, digits, '.', '_' and '-' "
            "and must start with a letter or digit"
        )
    return value


def validate_ref_name(value: str, kind: str = "branch") -> str:
    """Check a branch or tag name with git's check-ref-format rules (plus no leading '-')."""
    problem = _ref_problem(value) if isinstance(value, str) else "it is not a string"
    if problem:
        raise InvalidName(f"{kind} name {value!r:.120} is not allowed: {problem}")
    return value


def _ref_problem(value: str) -> str | None:
    if not value:
        return "it is empty"
    if len(value) > MAX_REF_LENGTH or len(value.encode("utf-8")) > MAX_REF_LENGTH:
        return f"it is longer than {MAX_REF_LENGTH} bytes"
    if value == "@":
        return "it is '@'"
    if value.startswith(("-", "/")) or value.endswith(("/", ".")):
        return "it starts with '-' or '/', or ends with '/' or '.'"
    for needle in ("..", "//", "@{"):
        if needle in value:
            return f"it contains {needle!r}"
    for character in value:
        if ord(character) < 0x20 or ord(character) == 0x7F:
            return "it contains a control character"
        if character in _REF_FORBIDDEN:
            return f"it contains {character!r}"
        if ord(character) > 0x7F and unicodedata.category(character)[0] in "CZ":
            return f"it contains the invisible or space character U+{ord(character):04X}"
    for component in value.split("/"):
        if component.startswith("."):
            return "a path component starts with '.'"
        if component.endswith(".lock"):
            return "a path component ends with '.lock'"
    return None


def split_repo_full_name(full_name: str) -> tuple[str, str]:
    """Split and validate "owner/name"."""
    parts = full_name.split("/") if isinstance(full_name, str) else []
    if len(parts) != 2:
        raise InvalidName(f"repository {full_name!r} is not of the form owner/name")
    return validate_name(parts[0], "owner"), validate_name(parts[1], "repository")


@asynccontextmanager
async def mirror_lock(mirror: Path) -> AsyncIterator[None]:
    """Serialise work on one mirror, in this process (asyncio) and across processes (flock)."""
    mirror = Path(mirror).absolute()
    locks = _locks.setdefault(asyncio.get_running_loop(), {})
    async with locks.setdefault(mirror, asyncio.Lock()):
        mirror.parent.mkdir(parents=True, exist_ok=True)
        with open(mirror.with_name(mirror.name + ".lock"), "a") as handle:
            while True:
                with suppress(BlockingIOError):
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                await asyncio.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _basic_token(credentials: GitCredentials) -> str:
    pair = f"{credentials.username}:{credentials.password}".encode()
    return base64.b64encode(pair).decode("ascii")


def git_environment(credentials: GitCredentials | None = None) -> dict[str, str]:
    """The env for a git process: no inherited GIT_*, no prompts; credentials only here."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GIT_") or key in _KEPT_ENVIRONMENT
    }
    environment.pop("SSH_ASKPASS", None)
    environment.update(
        GIT_TERMINAL_PROMPT="0", GIT_ALLOW_PROTOCOL="file:git:http:https:ssh", LC_ALL="C"
    )
    if credentials is not None:
        environment.update(
            GIT_CONFIG_COUNT="1",
            GIT_CONFIG_KEY_0="http.extraHeader",
            GIT_CONFIG_VALUE_0=f"Authorization: Basic {_basic_token(credentials)}",
        )
    return environment


def redact(text: str, credentials: GitCredentials | None = None) -> str:
    """Remove passwords, the Basic token and URL user-info from a text."""
    text = re.sub(r"(?i)(authorization:\s*basic\s+)\S+", r"\1***", text)
    text = re.sub(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@", r"\1***@", text)
    if credentials is not None:
        for secret in (_basic_token(credentials), credentials.password):
            if secret:
                text = text.replace(secret, "***")
    return text


def strip_credentials(url: str) -> str:
    """The URL without user-info for http(s), without a password for other schemes."""
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/@]*)@", url)
    if not match:
        return url
    scheme, user_info = match[1].lower(), match[2]
    kept = "" if scheme in ("http", "https") else user_info.split(":")[0] + "@"
    return f"{match[1]}://{kept}{url[match.end() :]}"


def check_remote_url(url: str) -> str:
    """Validate a clone/push URL (no control characters, no option lookalike); strip secrets."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidName("the clone URL is empty")
    if url.startswith("-") or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        shown = re.sub(r"://[^/@]*@", "://***@", url)
        raise InvalidName(f"the clone URL {shown!r} is not allowed")
    return strip_credentials(url)


def check_git_identity(identity: tuple[str, str]) -> tuple[str, str]:
    """Validate the (name, email) the bot configures in each workspace."""
    name, email = identity
    if not name or not email or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name + email):
        raise InvalidName(f"git identity {identity!r} is empty or has control characters")
    return name, email


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t") + '"'


def safe_git_config(listed: str, overrides: Mapping[str, str]) -> str:
    """A .git/config text from `git config --list -z` output: only KEPT_GIT_CONFIG keys survive
    (no hooks, includes, insteadOf, worktree, filters, helpers), then `overrides` are applied."""
    entries: dict[str, list[str]] = {}
    for item in listed.split("\0"):
        key, _, value = item.partition("\n")
        key = key.lower()
        if KEPT_GIT_CONFIG.fullmatch(key) and not any(ord(c) < 0x20 and c != "\t" for c in value):
            entries.setdefault(key, []).append(value)
    entries["core.bare"] = ["false"]
    for key, value in overrides.items():
        if not KEPT_GIT_CONFIG.fullmatch(key) or any(ord(c) < 0x20 for c in value):
            raise InvalidName(f"git config {key}={value!r} may not be set in a workspace")
        entries[key] = [value]
    if "remote.origin.url" in entries:
        entries["remote.origin.url"] = [strip_credentials(entries["remote.origin.url"][-1])]
    sections: dict[str, list[str]] = {}
    for key, values in entries.items():
        section, _, name = key.rpartition(".")
        header = section.replace(".origin", ' "origin"')
        sections.setdefault(header, []).extend(f"\t{name} = {_quoted(v)}" for v in values)
    return "".join(f"[{header}]\n" + "\n".join(lines) + "\n" for header, lines in sections.items())


def _inside(root: Path, path: Path) -> Path:
    resolved_root = Path(root).resolve()
    resolved = path.resolve()
    if not resolved.is_relative_to(resolved_root):
        raise InvalidName(f"path {str(path)!r} escapes {str(resolved_root)!r}")
    return path


def workspace_dir(
    root: Path | str, forge: str, owner: str, repo: str, number: int, is_pull_request: bool
) -> Path:
    """`<root>/<forge>/<owner>/<repo>/<issue-N | pr-N>`; raises InvalidName on unsafe input."""
    if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
        raise InvalidName(f"issue number {number!r} is not a positive integer")
    leaf = f"{'pr' if is_pull_request else 'issue'}-{number}"
    path = Path(root) / validate_name(forge, "forge") / validate_name(owner, "owner")
    path = path / validate_name(repo, "repository") / leaf
    return _inside(Path(root), path)


def mirror_dir(mirror_root: Path | str, forge: str, owner: str, repo: str) -> Path:
    """`<mirror_root>/<forge>/<owner>/<repo>.git`, the bare mirror of one repository."""
    path = Path(mirror_root) / validate_name(forge, "forge") / validate_name(owner, "owner")
    path = path / f"{validate_name(repo, 'repository')}.git"
    return _inside(Path(mirror_root), path)


def repo_dir(workspace: Path) -> Path:
    """The git checkout inside a workspace."""
    return Path(workspace) / REPO_DIR_NAME


def meta_dir(workspace: Path) -> Path:
    """The bot's files for a workspace (prompt, logs, status.json), beside the checkout."""
    return Path(workspace) / META_DIR_NAME


def issue_branch_name(number: int, title: str) -> str:
    """`agent/issue-N-<slug>` from the title's ASCII words, or `agent/issue-N`."""
    if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
        raise InvalidName(f"issue number {number!r} is not a positive integer")
    ascii_title = unicodedata.normalize("NFKD", title or "").encode("ascii", "ignore").decode()
    slug = ""
    for word in re.findall(r"[a-z0-9]+", ascii_title.lower()):
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > SLUG_LENGTH:
            if not slug:
                slug = word[:SLUG_LENGTH]
            break
        slug = candidate
    slug = slug.strip("-")
    return validate_ref_name(f"agent/issue-{number}-{slug}" if slug else f"agent/issue-{number}")


def write_status(meta: Path, data: Mapping[str, Any]) -> Path:
    """Write `status.json` atomically (temporary file, fsync, rename); return its path."""
    meta = Path(meta)
    if meta.is_symlink():
        raise InvalidName(f"{str(meta)!r} is a symbolic link; refusing to write through it")
    meta.mkdir(parents=True, exist_ok=True)
    target = meta / STATUS_FILE_NAME
    text = json.dumps(dict(data), indent=2, sort_keys=True, default=str) + "\n"
    descriptor, temporary = tempfile.mkstemp(prefix=".status-", suffix=".tmp", dir=meta)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def read_status(meta: Path) -> dict[str, Any] | None:
    """The content of `status.json`, or None when it is missing, unreadable or not an object."""
    target = Path(meta) / STATUS_FILE_NAME
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
