"""Real git repositories for tests: a bare origin, branches, PR refs, forks, an HTTP server."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from bot.engine.git import PreparedWorkspace, ensure_mirror, prepare_workspace
from bot.engine.workspace import workspace_dir

IDENTITY = ("Agent Bot", "agent-bot@example.org")

_FIXED_ENVIRONMENT = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.org",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
    "GIT_COMMITTER_NAME": "Test Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.org",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
}


def git_test_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A deterministic environment for helper git commands (no user or system config)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    environment.update(_FIXED_ENVIRONMENT)
    environment.update(extra or {})
    return environment


def git(*args: str, cwd: Path | str | None = None, extra: Mapping[str, str] | None = None) -> str:
    """Run git synchronously for test setup; return stripped stdout, raise on failure."""
    completed = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=git_test_environment(extra),
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {completed.stderr}")
    return completed.stdout.strip()


@dataclass
class Origin:
    """A bare repository standing in for the forge's copy of a repository."""

    path: Path
    default_branch: str = "main"
    _counter: int = field(default=0, repr=False)

    @property
    def url(self) -> str:
        return str(self.path)

    def git(self, *args: str, extra: Mapping[str, str] | None = None) -> str:
        return git("--git-dir", str(self.path), *args, extra=extra)

    def sha(self, ref: str) -> str:
        return self.git("rev-parse", "--verify", f"{ref}^{{commit}}")

    def make_commit(
        self, parent: str | None, files: Mapping[str, str] | None = None, message: str = ""
    ) -> str:
        """A commit object on top of `parent` with `files` changed; no ref is moved."""
        self._counter += 1
        files = files or {f"file-{self._counter}.txt": f"content {self._counter}\n"}
        index = {"GIT_INDEX_FILE": str(self.path / f"test-index-{self._counter}")}
        if parent:
            self.git("read-tree", parent, extra=index)
        for name, content in files.items():
            blob = git_with_input(self.path, content, "hash-object", "-w", "--stdin")
            self.git("update-index", "--add", "--cacheinfo", f"100644,{blob},{name}", extra=index)
        tree = self.git("write-tree", extra=index)
        os.unlink(index["GIT_INDEX_FILE"])
        parents = ["-p", parent] if parent else []
        return self.git("commit-tree", tree, *parents, "-m", message or f"commit {self._counter}")

    def commit(
        self, branch: str | None = None, files: Mapping[str, str] | None = None, message: str = ""
    ) -> str:
        """Add a commit on `branch` (default branch by default); return its SHA."""
        ref = f"refs/heads/{branch or self.default_branch}"
        parent = self.git("rev-parse", "--verify", "--quiet", ref) if self._has(ref) else None
        sha = self.make_commit(parent, files, message)
        self.git("update-ref", ref, sha)
        return sha

    def create_branch(self, name: str, start: str | None = None) -> str:
        sha = self.sha(start or self.default_branch)
        self.git("update-ref", f"refs/heads/{name}", sha)
        return sha

    def create_pull_ref(self, number: int, sha: str) -> None:
        """Point `refs/pull/N/head` at a commit, as forges do for every pull request."""
        self.git("update-ref", f"refs/pull/{number}/head", sha)

    def create_fork_pull_request(self, number: int, files: Mapping[str, str] | None = None) -> str:
        """A PR from a fork: its commit is reachable only from `refs/pull/N/head`."""
        sha = self.make_commit(self.sha(self.default_branch), files, f"fork change for #{number}")
        self.create_pull_ref(number, sha)
        return sha

    def _has(self, ref: str) -> bool:
        result = subprocess.run(
            ["git", "--git-dir", str(self.path), "rev-parse", "--verify", "--quiet", ref],
            env=git_test_environment(),
            capture_output=True,
            check=False,
        )
        return result.returncode == 0


def git_with_input(git_dir: Path, text: str, *args: str) -> str:
    completed = subprocess.run(
        ["git", "--git-dir", str(git_dir), *args],
        input=text,
        env=git_test_environment(),
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout.strip()


def make_origin(
    directory: Path, commits: int = 3, name: str = "origin.git", default_branch: str = "main"
) -> Origin:
    """A bare repository in `directory` with `commits` commits on `default_branch`."""
    path = Path(directory) / name
    git("init", "--bare", "--quiet", f"--initial-branch={default_branch}", str(path))
    origin = Origin(path, default_branch)
    for number in range(commits):
        origin.commit(files={"README.md": f"readme version {number}\n", f"f{number}.txt": "x\n"})
    return origin


def files_containing(root: Path, needles: list[str]) -> list[Path]:
    """Every regular file under `root` whose bytes contain one of `needles`."""
    encoded = [needle.encode() for needle in needles if needle]
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            if any(needle in data for needle in encoded):
                found.append(path)
    return found


async def mirror_of(
    tmp_path: Path, origin: Origin, url: str | None = None, credentials: object = None
) -> Path:
    """The mirror of `origin` (or of `url`) as forge "forgejo", repository "owner/repo"."""
    clone_url = url or origin.url
    return await ensure_mirror(
        tmp_path / "mirrors", "forgejo", "owner/repo", clone_url, credentials
    )


async def prepare(
    tmp_path: Path,
    origin: Origin,
    number: int = 1,
    is_pull: bool = False,
    url: str | None = None,
    **options: object,
) -> PreparedWorkspace:
    """Mirror `origin` and prepare `<tmp>/ws/forgejo/owner/repo/<issue-N|pr-N>` from it."""
    mirror = await mirror_of(tmp_path, origin, url, options.get("credentials"))
    workspace = workspace_dir(tmp_path / "ws", "forgejo", "owner", "repo", number, is_pull)
    arguments: dict = {"base_branch": "main", "branch": f"agent/issue-{number}-task"}
    arguments.update(options)
    return await prepare_workspace(
        mirror=mirror, workspace=workspace, clone_url=url or origin.url, git_identity=IDENTITY,
        **arguments,
    )  # fmt: skip


def commit_file(repo: Path, name: str = "agent.txt", content: str = "agent work\n") -> str:
    """Commit one file in a checkout, as an agent would; return the new HEAD."""
    (repo / name).write_text(content)
    git("add", name, cwd=repo)
    git("commit", "--quiet", "-m", f"agent: {name}", cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo)


@dataclass
class GitHttpServer:
    """A smart-HTTP git server (git http-backend) that requires one Basic login."""

    url: str
    root: Path
    authorizations: list[str] = field(default_factory=list)


@asynccontextmanager
async def serve_git_http(root: Path, username: str, password: str) -> AsyncIterator[GitHttpServer]:
    """Serve the bare repositories under `root` at `http://127.0.0.1:PORT/<name>`."""
    expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    seen: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        authorization = request.headers.get("Authorization", "")
        seen.append(authorization)
        if authorization != expected:
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="git"'})
        body = await request.read()
        environment = git_test_environment(
            {
                "GIT_PROJECT_ROOT": str(root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": request.path,
                "QUERY_STRING": request.query_string,
                "REQUEST_METHOD": request.method,
                "CONTENT_TYPE": request.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_USER": username,
                "REMOTE_ADDR": "127.0.0.1",
                "GIT_PROTOCOL": request.headers.get("Git-Protocol", ""),
            }
        )
        process = await asyncio.create_subprocess_exec(
            "git",
            "http-backend",
            env=environment,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        output, _ = await process.communicate(body)
        head, _, payload = output.partition(b"\r\n\r\n")
        status, headers = 200, {}
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers[key] = value.strip()
        return web.Response(status=status, body=payload, headers=headers)

    application = web.Application(client_max_size=1024**3)
    application.router.add_route("*", "/{path:.*}", handle)
    runner = web.AppRunner(application)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield GitHttpServer(f"http://127.0.0.1:{port}", Path(root), seen)
    finally:
        await runner.cleanup()
