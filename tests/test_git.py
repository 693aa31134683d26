"""The git layer against real repositories: mirrors, workspaces, credentials and pushes."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

import pytest

from bot.engine.git import (
    GitError,
    commits_since,
    diff_stat,
    ensure_mirror,
    git_environment,
    push_branch,
    run_git,
)
from bot.engine.workspace import InvalidName
from bot.forge.protocol import GitCredentials
from tests.gitrepos import (
    IDENTITY,
    Origin,
    commit_file,
    files_containing,
    git,
    make_origin,
    mirror_of,
    prepare,
    serve_git_http,
)

PASSWORD = "pa55-S3CRET-never-stored"
CREDENTIALS = GitCredentials(username="agent-bot", password=PASSWORD)
TOKEN = base64.b64encode(f"agent-bot:{PASSWORD}".encode()).decode()


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    return make_origin(tmp_path / "forge", commits=3)


async def test_run_git_reports_failures() -> None:
    result = await run_git("--version")
    assert result.returncode == 0 and result.stdout.startswith("git version")
    with pytest.raises(GitError, match="exit code"):
        await run_git("rev-parse", "--verify", "no-such-thing", cwd="/")
    assert (await run_git("rev-parse", "--verify", "x", cwd="/", check=False)).returncode != 0
    with pytest.raises(GitError, match="timed out"):
        await run_git("-c", "alias.wait=!sleep 5", "wait", timeout=0.3)


def test_environment_clears_inherited_git_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in [("GIT_DIR", "/elsewhere"), ("GIT_WORK_TREE", "/")]:
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GIT_TRACE_CURL", "1")  # would log the Authorization header
    environment = git_environment(CREDENTIALS)
    assert not {"GIT_DIR", "GIT_WORK_TREE", "GIT_TRACE_CURL"} & set(environment)
    assert environment["GIT_TERMINAL_PROMPT"] == "0" and environment["GIT_CONFIG_COUNT"] == "1"
    assert environment["GIT_CONFIG_KEY_0"] == "http.extraHeader"
    assert environment["GIT_CONFIG_VALUE_0"] == f"Authorization: Basic {TOKEN}"
    assert "GIT_CONFIG_COUNT" not in git_environment(None)


async def test_mirror_is_created_then_fetched_incrementally(tmp_path: Path, origin: Origin) -> None:
    origin.create_branch("feature")
    origin.create_pull_ref(4, origin.commit("feature"))
    mirror = await mirror_of(tmp_path, origin)
    assert mirror == tmp_path / "mirrors" / "forgejo" / "owner" / "repo.git"
    assert git("--git-dir", str(mirror), "rev-parse", "main") == origin.sha("main")
    assert git("--git-dir", str(mirror), "rev-parse", "refs/pull/4/head") == origin.sha("feature")
    inode = mirror.stat().st_ino
    (mirror / "sentinel").write_text("a re-clone would remove this")

    new_commit = origin.commit(files={"new.txt": "new\n"})
    origin.git("update-ref", "-d", "refs/heads/feature")
    assert await mirror_of(tmp_path, origin) == mirror
    assert mirror.stat().st_ino == inode and (mirror / "sentinel").exists()
    assert git("--git-dir", str(mirror), "rev-parse", "main") == new_commit
    heads = git("--git-dir", str(mirror), "for-each-ref", "--format=%(refname)", "refs/heads")
    assert heads.split() == ["refs/heads/main"]  # pruned
    assert git("--git-dir", str(mirror), "config", "remote.origin.url") == origin.url


async def test_concurrent_mirror_calls_are_serialised(tmp_path: Path, origin: Origin) -> None:
    mirrors = await asyncio.gather(*(mirror_of(tmp_path, origin) for _ in range(4)))
    (mirror,) = set(mirrors)
    assert git("--git-dir", str(mirror), "rev-parse", "main") == origin.sha("main")
    assert not list((tmp_path / "mirrors" / "forgejo" / "owner").glob("*.new"))


async def test_mirror_refuses_unsafe_names(tmp_path: Path, origin: Origin) -> None:
    for forge, repo in [("..", "o/r"), ("f", "../r"), ("f", "o/r/x"), ("f", "o/.git")]:
        with pytest.raises(InvalidName):
            await ensure_mirror(tmp_path / "mirrors", forge, repo, origin.url)
    with pytest.raises(InvalidName):
        await ensure_mirror(tmp_path / "mirrors", "f", "o/r", "--upload-pack=touch /tmp/x")


async def test_failed_first_fetch_leaves_no_mirror(tmp_path: Path) -> None:
    with pytest.raises(GitError):
        await ensure_mirror(tmp_path / "m", "f", "o/r", str(tmp_path / "missing.git"))
    assert [path.name for path in (tmp_path / "m" / "f" / "o").iterdir()] == ["r.git.lock"]


async def test_issue_workspace_from_the_mirror(tmp_path: Path, origin: Origin) -> None:
    prepared = await prepare(tmp_path, origin, number=12)
    repo = prepared.repo_dir
    assert repo == tmp_path / "ws" / "forgejo" / "owner" / "repo" / "issue-12" / "repo"
    assert prepared.meta_dir == repo.parent / ".meta" and prepared.meta_dir.is_dir()
    assert not (repo / ".meta").exists()
    assert prepared.branch == "agent/issue-12-task" and not prepared.resumed
    assert git("symbolic-ref", "--short", "HEAD", cwd=repo) == "agent/issue-12-task"
    assert prepared.base_sha == prepared.head_sha == origin.sha("main")
    assert git("rev-parse", "HEAD", cwd=repo) == origin.sha("main")
    assert git("remote", "get-url", "origin", cwd=repo) == origin.url
    assert (git("config", "user.name", cwd=repo), git("config", "user.email", cwd=repo)) == IDENTITY
    assert git("status", "--porcelain", cwd=repo) == ""
    assert (repo / "README.md").read_text() == "readme version 2\n"
    # Self-contained (usable in a container that sees only the workspace), objects hard-linked.
    assert not (repo / ".git" / "objects" / "info" / "alternates").exists()
    objects = [p for p in (repo / ".git" / "objects").rglob("*") if p.is_file()]
    objects = [p for p in objects if p.parent.name != "info" and p.suffix not in (".rev", ".keep")]
    assert objects and all(path.stat().st_nlink > 1 for path in objects)
    assert git("fsck", "--no-dangling", cwd=repo) == ""


async def test_workspace_with_alternates_shares_the_mirror(tmp_path: Path, origin: Origin) -> None:
    prepared = await prepare(tmp_path, origin, sharing="alternates")
    alternates = prepared.repo_dir / ".git" / "objects" / "info" / "alternates"
    mirror = tmp_path / "mirrors" / "forgejo" / "owner" / "repo.git"
    assert alternates.read_text().strip() == str(mirror / "objects")
    own = [p for p in (prepared.repo_dir / ".git" / "objects").rglob("*") if p.is_file()]
    assert [p.name for p in own] == ["alternates"]  # every object comes from the mirror
    assert git("rev-parse", "HEAD", cwd=prepared.repo_dir) == origin.sha("main")


async def test_issue_branch_from_another_base(tmp_path: Path, origin: Origin) -> None:
    origin.create_branch("develop")
    develop = origin.commit("develop", {"develop.txt": "d\n"})
    prepared = await prepare(tmp_path, origin, base_branch="develop")
    assert prepared.base_sha == prepared.head_sha == develop
    assert (prepared.repo_dir / "develop.txt").exists()
    with pytest.raises(GitError, match="not in the mirror"):
        await prepare(tmp_path, origin, number=2, base_branch="no-such-branch")


async def test_pull_request_head_same_repository(tmp_path: Path, origin: Origin) -> None:
    origin.create_branch("feature/login")
    head = origin.commit("feature/login", {"login.py": "print('hi')\n"})
    origin.create_pull_ref(5, head)
    prepared = await prepare(
        tmp_path, origin, 5, True, branch="feature/login", pull_request_number=5
    )
    assert prepared.repo_dir.parent.name == "pr-5"
    assert prepared.head_sha == head and prepared.base_sha == origin.sha("main")
    assert git("symbolic-ref", "--short", "HEAD", cwd=prepared.repo_dir) == "feature/login"
    assert (prepared.repo_dir / "login.py").exists()
    assert "login.py | 1 +" in await diff_stat(prepared.repo_dir, prepared.base_sha)
    assert await commits_since(prepared.repo_dir, prepared.head_sha) == []


async def test_pull_request_from_a_fork(tmp_path: Path, origin: Origin) -> None:
    head = origin.create_fork_pull_request(9, {"fork.txt": "from a fork\n"})
    assert origin.git("branch", "--contains", head) == ""  # on no branch of origin
    prepared = await prepare(tmp_path, origin, 9, True, branch="agent/pr-9", pull_request_number=9)
    assert prepared.head_sha == head
    assert (prepared.repo_dir / "fork.txt").read_text() == "from a fork\n"
    with pytest.raises(GitError, match="#10"):
        await prepare(tmp_path, origin, 10, True, branch="agent/pr-10", pull_request_number=10)


async def test_rerun_resets_a_dirty_workspace(tmp_path: Path, origin: Origin) -> None:
    first = await prepare(tmp_path, origin)
    repo = first.repo_dir
    commit_file(repo)
    (repo / "README.md").write_text("changed\n")
    (repo / "untracked.txt").write_text("x")
    (repo / "build").mkdir()
    (repo / "build" / "out.o").write_text("x")
    (repo / ".git" / "index.lock").write_text("")  # a killed agent's leftover
    inode = repo.stat().st_ino
    new_base = origin.commit(files={"upstream.txt": "u\n"})

    second = await prepare(tmp_path, origin)
    assert repo.stat().st_ino == inode  # reused, not cloned again
    assert second.head_sha == second.base_sha == new_base
    assert git("rev-parse", "HEAD", cwd=repo) == new_base
    assert git("status", "--porcelain", "--ignored", cwd=repo) == ""
    assert not (repo / "agent.txt").exists() and (repo / "upstream.txt").exists()
    assert git("symbolic-ref", "--short", "HEAD", cwd=repo) == first.branch


async def test_keep_existing_leaves_the_agents_work(tmp_path: Path, origin: Origin) -> None:
    first = await prepare(tmp_path, origin, keep_existing=True)  # nothing to keep yet
    assert not first.resumed and first.head_sha == origin.sha("main")
    repo = first.repo_dir
    work = commit_file(repo)
    (repo / "BLOCKED.md").write_text("Which database?\n")
    (repo / "README.md").write_text("half done\n")
    origin.commit(files={"upstream.txt": "u\n"})

    resumed = await prepare(tmp_path, origin, keep_existing=True)
    assert resumed.resumed and resumed.branch == first.branch
    assert resumed.head_sha == first.head_sha and resumed.base_sha == first.base_sha
    assert git("rev-parse", "HEAD", cwd=repo) == work
    assert (repo / "BLOCKED.md").exists() and (repo / "README.md").read_text() == "half done\n"
    assert await commits_since(repo, resumed.head_sha) == [work]


async def test_commits_since_and_diff_stat(tmp_path: Path, origin: Origin) -> None:
    prepared = await prepare(tmp_path, origin)
    first = commit_file(prepared.repo_dir, "one.txt")
    second = commit_file(prepared.repo_dir, "two.txt", "a\nb\n")
    assert await commits_since(prepared.repo_dir, prepared.head_sha) == [first, second]
    stat = await diff_stat(prepared.repo_dir, prepared.base_sha)
    assert "one.txt | 1 +" in stat and "two.txt | 2 ++" in stat
    assert "2 files changed, 3 insertions(+)" in stat
    with pytest.raises(GitError):
        await commits_since(prepared.repo_dir, "--output=/tmp/x")


async def test_push_branch_to_origin(tmp_path: Path, origin: Origin) -> None:
    prepared = await prepare(tmp_path, origin)
    repo, branch = prepared.repo_dir, prepared.branch
    work = commit_file(repo)
    await push_branch(repo, origin.url, branch, branch, None)
    assert origin.sha(f"refs/heads/{branch}") == work
    # A re-run rewrites the branch: pushing it again needs force.
    await prepare(tmp_path, origin)
    other = commit_file(repo, "other.txt")
    with pytest.raises(GitError, match="rejected|fetch first|non-fast-forward"):
        await push_branch(repo, origin.url, branch, branch, None)
    await push_branch(repo, origin.url, branch, branch, None, force=True)
    assert origin.sha(f"refs/heads/{branch}") == other


async def test_agent_written_git_config_and_hooks_are_ignored(
    tmp_path: Path, origin: Origin
) -> None:
    prepared = await prepare(tmp_path, origin)
    repo, marker = prepared.repo_dir, tmp_path / "pwned"
    work = commit_file(repo)
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    decoy = make_origin(tmp_path / "decoy", commits=1)
    with (repo / ".git" / "config").open("a") as config:
        config.write(f'[core]\n\tworktree = {tmp_path}\n\tfsmonitor = "touch {marker}"\n')
        config.write(f'[url "{decoy.url}"]\n\tinsteadOf = {origin.url}\n')
        config.write(f"[include]\n\tpath = {tmp_path / 'evil.cfg'}\n")
    await push_branch(repo, origin.url, prepared.branch, "pushed", None)
    assert origin.sha("refs/heads/pushed") == work  # not redirected to the decoy
    await prepare(tmp_path, origin)
    assert not marker.exists() and (tmp_path / "forge").exists()  # no hook ran, no clean of /
    text = (repo / ".git" / "config").read_text()
    assert "worktree" not in text and "insteadOf" not in text and "include" not in text
    assert git("config", "--file", str(repo / ".git" / "config"), "user.name") == IDENTITY[0]


async def test_symlinked_git_directory_is_replaced(tmp_path: Path, origin: Origin) -> None:
    prepared = await prepare(tmp_path, origin)
    elsewhere = tmp_path / "elsewhere"
    os.rename(prepared.repo_dir / ".git", elsewhere)
    (prepared.repo_dir / ".git").symlink_to(elsewhere)
    with pytest.raises(GitError, match="plain git checkout"):
        await commits_since(prepared.repo_dir, prepared.head_sha)
    again = await prepare(tmp_path, origin)
    assert (again.repo_dir / ".git").is_dir() and not (again.repo_dir / ".git").is_symlink()
    assert elsewhere.is_dir()  # the symlink's target was not touched


async def test_credentials_over_http(tmp_path: Path) -> None:
    served = tmp_path / "served"
    origin = make_origin(served, commits=2, name="repo.git")
    origin.create_fork_pull_request(3)
    async with serve_git_http(served, "agent-bot", PASSWORD) as server:
        url = f"{server.url}/repo.git"
        with pytest.raises(GitError) as refused:
            bad = GitCredentials(username="agent-bot", password="wrong-PASSWORD-value")
            await ensure_mirror(tmp_path / "mirrors", "forgejo", "owner/repo", url, bad)
        assert "wrong-PASSWORD-value" not in str(refused.value) + refused.value.stderr
        with pytest.raises(GitError):  # no credentials, and no prompt either
            await ensure_mirror(tmp_path / "mirrors", "forgejo", "owner/repo", url)

        secret_url = f"http://agent-bot:{PASSWORD}@{url.removeprefix('http://')}"
        options = {"branch": "agent/pr-3", "pull_request_number": 3, "credentials": CREDENTIALS}
        prepared = await prepare(tmp_path, origin, 3, True, secret_url, **options)
        assert server.authorizations[-1] == f"Basic {TOKEN}"
        mirror = tmp_path / "mirrors" / "forgejo" / "owner" / "repo.git"
        work = commit_file(prepared.repo_dir)
        await push_branch(prepared.repo_dir, url, "agent/pr-3", "agent/pr-3", CREDENTIALS)
        assert origin.sha("refs/heads/agent/pr-3") == work
        assert git("remote", "get-url", "origin", cwd=prepared.repo_dir) == url
        assert git("--git-dir", str(mirror), "config", "remote.origin.url") == url
    for root in (tmp_path / "mirrors", tmp_path / "ws"):
        assert files_containing(root, [PASSWORD, TOKEN]) == []
