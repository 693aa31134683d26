"""Git for the engine: an async runner with per-command credentials, mirrors and workspaces."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.engine.workspace import (
    InvalidName,
    check_git_identity,
    check_remote_url,
    git_environment,
    meta_dir,
    mirror_dir,
    mirror_lock,
    redact,
    repo_dir,
    safe_git_config,
    split_repo_full_name,
    validate_ref_name,
)
from bot.forge.protocol import GitCredentials

GIT_TIMEOUT = 600.0
MIRROR_TIMEOUT = 3600.0
MIRROR_REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
MIRROR_REFSPECS += ("+refs/pull/*/head:refs/pull/*/head",)  # PR heads, on all three forges
START_REF = "refs/dispatch/start"  # the commit a workspace was prepared at
ObjectSharing = Literal["hardlink", "alternates"]
# Forced in workspaces whatever an agent wrote in .git/config (+ parallel checkout, 1 per core).
_FORCED_CONFIG = ("core.hooksPath=/dev/null", "core.fsmonitor=false", "checkout.workers=0")


class GitError(Exception):
    """A git command failed; the message never holds credentials."""

    def __init__(self, message: str, returncode: int | None = None, stderr: str = "") -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


@dataclass(frozen=True)
class GitResult:
    stdout: str
    stderr: str
    returncode: int


@dataclass(frozen=True)
class PreparedWorkspace:
    """A checkout ready for an agent. `base_sha`: tip of `origin/<base_branch>`. `head_sha`: the
    commit the run starts from (issue: the base; PR: its head; resumed: the first preparation's),
    so `commits_since(repo_dir, head_sha)` are the agent's commits."""

    repo_dir: Path
    meta_dir: Path
    branch: str
    base_sha: str
    head_sha: str
    resumed: bool = False


async def run_git(
    *args: str,
    cwd: Path | str | None = None,
    credentials: GitCredentials | None = None,
    timeout: float = GIT_TIMEOUT,
    check: bool = True,
) -> GitResult:
    """Run git; raise GitError (redacted) on failure when `check`, or on timeout."""
    command = redact("git " + " ".join(args), credentials)
    process = await asyncio.create_subprocess_exec(
        "git", *args, cwd=cwd, env=git_environment(credentials), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except BaseException as error:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        if isinstance(error, TimeoutError):
            raise GitError(f"{command} timed out after {timeout:g} s") from None
        raise
    error_text = redact(stderr.decode("utf-8", "replace"), credentials)
    result = GitResult(stdout.decode("utf-8", "replace"), error_text, process.returncode or 0)
    if check and result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        detail = [line for line in lines if not line.startswith("hint:")][-3:]
        message = f"{command} failed with exit code {result.returncode}: {' '.join(detail)}"
        raise GitError(message, result.returncode, result.stderr)
    return result


def _remove(path: Path) -> None:
    try:
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)
    except OSError as error:
        raise GitError(f"cannot remove {path}: {error.strerror}") from error


async def ensure_mirror(
    mirror_root: Path | str,
    forge: str,
    repo_full_name: str,
    clone_url: str,
    credentials: GitCredentials | None = None,
    *,
    timeout: float = MIRROR_TIMEOUT,
) -> Path:
    """Create the bare mirror of a repository the first time, fetch it incrementally after."""
    owner, name = split_repo_full_name(repo_full_name)
    mirror = mirror_dir(mirror_root, forge, owner, name).absolute()
    url = check_remote_url(clone_url)
    fetch = ("fetch", "--prune", "--no-tags", "--quiet", "origin", *MIRROR_REFSPECS)
    async with mirror_lock(mirror):
        target = mirror
        if not ((mirror / "HEAD").is_file() and (mirror / "objects").is_dir()):
            target = mirror.with_name(mirror.name + ".new")  # renamed once complete
            _remove(target)
            _remove(mirror)
            await run_git("init", "--bare", "--quiet", "--", str(target))
            await run_git("--git-dir", str(target), "config", "gc.pruneExpire", "never")
        try:
            await run_git("--git-dir", str(target), "config", "remote.origin.url", url)
            await run_git(
                "--git-dir", str(target), *fetch, credentials=credentials, timeout=timeout
            )
        except BaseException:
            if target != mirror:
                _remove(target)
            raise
        if target != mirror:
            os.replace(target, mirror)
    return mirror


def _usable(repo: Path) -> bool:
    git_dir = repo / ".git"
    return not repo.is_symlink() and not git_dir.is_symlink() and git_dir.is_dir()


async def _sanitize(repo: Path, overrides: Mapping[str, str] | None = None) -> None:
    """Make an agent-touched .git safe for the bot's git: no symbolic links at its top, no
    `commondir`/`config.worktree`, and a .git/config rewritten with harmless keys only."""
    git_dir = repo / ".git"
    if not _usable(repo) or any(entry.is_symlink() for entry in list(os.scandir(git_dir))):
        raise GitError(f"{repo} is not a plain git checkout (missing .git, or symbolic links)")
    for leftover in ("commondir", "config.worktree", "index.lock"):
        (git_dir / leftover).unlink(missing_ok=True)
    config = git_dir / "config"
    listed = await run_git("config", "--file", str(config), "--list", "-z", check=False)
    text = safe_git_config(listed.stdout, overrides or {})
    temporary = git_dir / "config.dispatch-new"
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, config)


async def _in_repo(repo: Path, *args: str, **options: object) -> GitResult:
    forced = [part for setting in _FORCED_CONFIG for part in ("-c", setting)]
    prefix = ("--git-dir", str(repo / ".git"), "--work-tree", str(repo), *forced)
    return await run_git(*prefix, *args, cwd=repo, **options)  # type: ignore[arg-type]


async def _resolve(repo: Path, revision: str, git_dir: Path | None = None) -> str | None:
    args = ("rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}")
    if git_dir is None:
        result = await _in_repo(repo, *args, check=False)
    else:
        result = await run_git("--git-dir", str(git_dir), *args, check=False)
    return result.stdout.strip() or None if result.returncode == 0 else None


def _share(repo: Path, mirror: Path, sharing: ObjectSharing) -> None:
    alternates = repo / ".git" / "objects" / "info" / "alternates"
    if sharing == "alternates" or alternates.exists() or alternates.is_symlink():
        alternates.unlink(missing_ok=True)
        alternates.parent.mkdir(parents=True, exist_ok=True)
        alternates.write_text(f"{mirror / 'objects'}\n", encoding="utf-8")


async def prepare_workspace(
    *,
    mirror: Path,
    workspace: Path,
    clone_url: str,
    base_branch: str,
    branch: str,
    git_identity: tuple[str, str],
    pull_request_number: int | None = None,
    keep_existing: bool = False,
    credentials: GitCredentials | None = None,
    sharing: ObjectSharing = "hardlink",
) -> PreparedWorkspace:
    """Make `<workspace>/repo` from the mirror (no download) on the issue or PR branch. An
    existing checkout is re-synced from the mirror, reset and cleaned; with `keep_existing` its
    files and commits stay as the agent left them. `credentials` are unused: the mirror is local."""
    validate_ref_name(base_branch, "base branch")
    validate_ref_name(branch)
    if pull_request_number is not None and (pull_request_number is True or pull_request_number < 1):
        raise InvalidName(f"pull request number {pull_request_number!r} is not positive")
    name, email = check_git_identity(git_identity)
    mirror, workspace = Path(mirror).absolute(), Path(workspace).absolute()
    repo, meta = repo_dir(workspace), meta_dir(workspace)
    workspace.mkdir(parents=True, exist_ok=True)
    if meta.is_symlink():
        meta.unlink()
    meta.mkdir(exist_ok=True)
    origin = check_remote_url(clone_url)
    overrides = {"remote.origin.url": origin, "user.name": name, "user.email": email}
    base_ref = f"refs/remotes/origin/{base_branch}"
    start_ref = f"refs/pull/{pull_request_number}/head" if pull_request_number else base_ref

    if keep_existing and _usable(repo):
        await _sanitize(repo, overrides)
        _share(repo, mirror, sharing)
        head = await _resolve(repo, START_REF) or await _resolve(repo, "HEAD")
        if head is None:
            raise GitError(f"{repo} has no commit to resume from")
        current = await _in_repo(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        base = await _resolve(repo, base_ref) or head
        return PreparedWorkspace(repo, meta, current.stdout.strip() or branch, base, head, True)
    if pull_request_number and not await _resolve(repo, start_ref, git_dir=mirror):
        raise GitError(f"pull request #{pull_request_number} has no {start_ref} in the mirror")
    refspecs = ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]
    if pull_request_number:
        refspecs.append(f"+{start_ref}:{start_ref}")
    async with mirror_lock(mirror):
        for fresh in (False, True):  # reuse the checkout; if it is unusable, clone again
            try:
                if fresh:
                    _remove(repo)
                    link = "--shared" if sharing == "alternates" else "--local"
                    await run_git(
                        "clone", "-q", "--no-checkout", link, "--", str(mirror), str(repo)
                    )
                await _sanitize(repo, overrides)
                _share(repo, mirror, sharing)
                await _in_repo(repo, "fetch", "--quiet", "--no-tags", "--", str(mirror), *refspecs)
                break
            except GitError:
                if fresh:
                    raise
    start, base = await _resolve(repo, start_ref), await _resolve(repo, base_ref)
    if start is None or base is None:
        raise GitError(f"base branch {base_branch!r} is not in the mirror")
    git_dir = repo / ".git"
    for state in ("rebase-merge", "rebase-apply", "sequencer", "MERGE_HEAD", "CHERRY_PICK_HEAD"):
        _remove(git_dir / state)
    await _in_repo(repo, "checkout", "--quiet", "--force", "--no-track", "-B", branch, start, "--")
    await _in_repo(repo, "clean", "-ffdxq")
    await _in_repo(repo, "update-ref", START_REF, start)
    return PreparedWorkspace(repo, meta, branch, base, start, False)


async def commits_since(repo_dir: Path, base_sha: str) -> list[str]:
    """SHAs of the commits on HEAD after `base_sha`, oldest first."""
    await _sanitize(Path(repo_dir))
    revisions = ("--end-of-options", f"{base_sha}..HEAD", "--")
    return (await _in_repo(Path(repo_dir), "rev-list", "--reverse", *revisions)).stdout.split()


async def diff_stat(repo_dir: Path, base_sha: str) -> str:
    """`git diff --stat` from the merge base of `base_sha` and HEAD to HEAD."""
    await _sanitize(Path(repo_dir))
    options = ("--no-ext-diff", "--no-textconv", "--no-color", "--stat=120")
    revisions = ("--end-of-options", f"{base_sha}...HEAD", "--")
    return (await _in_repo(Path(repo_dir), "diff", *options, *revisions)).stdout


async def push_branch(
    repo_dir: Path,
    remote_url: str,
    local_branch: str,
    remote_branch: str,
    credentials: GitCredentials | None,
    *,
    force: bool = False,
    timeout: float = GIT_TIMEOUT,
) -> None:
    """Push `local_branch` to `remote_branch` at `remote_url`; credentials via env only."""
    repo = Path(repo_dir)
    refspec = f"refs/heads/{validate_ref_name(local_branch)}:refs/heads/"
    refspec = ("+" if force else "") + refspec + validate_ref_name(remote_branch)
    url = check_remote_url(remote_url)
    await _sanitize(repo)
    push = ("push", "--quiet", "--no-verify", "--", url, refspec)
    await _in_repo(repo, *push, credentials=credentials, timeout=timeout)
