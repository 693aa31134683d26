"""Delivery of completed runs: real origins and pushes, real HTTP to the fake forge."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bot.config.models import AfterRunConfig
from bot.engine.git import PreparedWorkspace
from bot.feedback.delivery import DeliveryResult, deliver_run, pull_request_title
from bot.forge.factory import create_forge
from bot.forge.http import RetryPolicy
from bot.forge.protocol import Forge
from bot.store.runs import Run, RunState
from tests.fake_forge import FakeForge
from tests.gitrepos import (
    Origin,
    commit_file,
    files_containing,
    make_origin,
    prepare,
    serve_git_http,
)

REPO = "owner/repo"
TOKEN = "forge-TOKEN-for-delivery-tests"
BASIC = base64.b64encode(f"agent-bot:{TOKEN}".encode()).decode()
ENV = {"PATH": os.environ["PATH"]}
FAST = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02, timeout=5)
BRANCH = "agent/issue-3-fix-the-readme"


@dataclass
class World:
    tmp_path: Path
    origin: Origin
    fake: FakeForge
    forge: Forge

    def pull_posts(self) -> list[dict]:
        return [call.json for call in self.fake.calls_to("POST", re.compile(r"/pulls$"))]

    async def deliver(self, run: Run, **after_run: object) -> DeliveryResult:
        return await deliver_run(run, self.forge, AfterRunConfig(**after_run), env=ENV)


@pytest.fixture(params=["gitea", "github"])
async def world(
    request: pytest.FixtureRequest, tmp_path: Path, fake_forge: FakeForge
) -> AsyncIterator[World]:
    family = request.param
    origin = make_origin(tmp_path, commits=2)
    fake_forge.add_token(TOKEN, "agent-bot")
    fake_forge.add_repo(REPO, family=family, clone_url=str(origin.path))
    fake_forge.add_issue(REPO, 3, "Fix the README", "It has typos.")
    kind, api = (
        ("forgejo", fake_forge.gitea_api_url) if family == "gitea" else ("github", fake_forge.url)
    )
    async with aiohttp.ClientSession() as session:
        yield World(tmp_path, origin, fake_forge, adapter(session, kind, api))


def adapter(session: aiohttp.ClientSession, kind: str, api_url: str) -> Forge:
    return create_forge(
        name=kind, kind=kind, session=session, api_url=api_url, token=TOKEN,
        bot_login="agent-bot", policy=FAST,
    )  # fmt: skip


RUN = {
    "id": 12, "forge": "forgejo", "repo": REPO, "number": 3, "agent": "claude",
    "trigger": "comment", "actor": "alice", "created_at": 0.0, "state": RunState.COMPLETED,
    "task": "Fix the README\n\nIt has typos.", "base_branch": "main",
}  # fmt: skip


def run_for(checkout: PreparedWorkspace, number: int = 3, **fields: object) -> Run:
    where = {"workspace_path": str(checkout.repo_dir.parent), "branch": checkout.branch}
    return Run(**RUN | where | {"base_sha": checkout.head_sha, "number": number} | fields)


async def issue_checkout(world: World) -> PreparedWorkspace:
    return await prepare(world.tmp_path, world.origin, 3, branch=BRANCH)


async def test_issue_run_pushes_its_branch_and_opens_a_pull_request(world: World) -> None:
    checkout = await issue_checkout(world)
    world.origin.create_branch(BRANCH)  # left by an earlier run: rewritten
    world.origin.commit(BRANCH, message="an earlier run's work")
    commit_file(checkout.repo_dir, "README.md", "fixed\n")
    head = commit_file(checkout.repo_dir, "NOTES.md", "notes\n")
    result = await world.deliver(run_for(checkout))
    assert (result.state, result.reason, result.commits) == ("completed", None, 2)
    assert "2 files changed" in result.diff_stat
    assert result.pushed_branch == BRANCH and world.origin.sha(BRANCH) == head
    [post] = world.pull_posts()
    assert (post["head"], post["base"]) == (BRANCH, "main")
    assert post["body"].startswith("Closes #3\n\n")
    assert "`claude` (run #12) made 2 commits: 2 files changed" in post["body"]
    if world.fake.repos[REPO].family == "github":
        assert (post["title"], post["draft"]) == ("Fix the README", True)
    else:
        assert post["title"] == "WIP: Fix the README" and "draft" not in post
    number = max(world.fake.repos[REPO].issues)
    assert result.pr_url == f"{world.fake.url}/{REPO}/pulls/{number}"
    pull = world.fake.repos[REPO].issues[number].pull
    assert pull is not None and pull.draft and (pull.head_ref, pull.base_ref) == (BRANCH, "main")
    assert result.run_fields() == {
        "diff_stat": result.diff_stat, "qa_report": None, "pushed_branch": BRANCH, "pr_url": result.pr_url,
    }  # fmt: skip


async def test_not_a_draft_titled_from_the_instructions_with_passing_qa(world: World) -> None:
    checkout = await issue_checkout(world)
    commit_file(checkout.repo_dir)
    run = run_for(checkout, instructions="\nShorten the README\nand keep the links")
    result = await world.deliver(run, draft=False, qa=["test -f agent.txt"])
    [post] = world.pull_posts()
    assert result.state == "completed" and result.qa is not None and result.qa.passed
    assert post["title"] == "Shorten the README" and post.get("draft", False) is False
    assert "QA passed: `test -f agent.txt`" in post["body"]


async def test_an_open_pull_request_for_the_branch_is_reused(world: World) -> None:
    world.fake.add_pull_request(REPO, 7, "Earlier", head_ref=BRANCH, base_ref="main")
    checkout = await issue_checkout(world)
    commit_file(checkout.repo_dir)
    result = await world.deliver(run_for(checkout))
    assert result.pr_url == f"{world.fake.url}/{REPO}/pulls/7"
    assert world.pull_posts() == []


async def test_no_commits_means_no_push_no_qa_and_no_pull_request(world: World) -> None:
    checkout = await issue_checkout(world)
    result = await world.deliver(run_for(checkout), qa=["touch qa-ran"])
    assert result == DeliveryResult("completed", None, 0, "", None, None, None)
    assert not (checkout.repo_dir / "qa-ran").exists()
    assert BRANCH not in world.origin.git("branch", "--list")
    assert world.pull_posts() == []


async def test_qa_failure_still_pushes_but_opens_no_pull_request(world: World) -> None:
    checkout = await issue_checkout(world)
    head = commit_file(checkout.repo_dir)
    result = await world.deliver(run_for(checkout), qa=["test -f agent.txt", "echo broken; exit 3"])
    assert result.state == "failed"
    assert result.reason == "QA failed: `echo broken; exit 3` exited with 3"
    assert result.qa is not None and [r.exit_code for r in result.qa.results] == [0, 3]
    assert result.qa.results[1].output_tail == "broken\n"
    assert (result.pushed_branch, result.pr_url) == (BRANCH, None)
    assert world.origin.sha(BRANCH) == head and world.pull_posts() == []
    assert "broken" in (checkout.meta_dir / "qa.log").read_text()


async def test_open_pr_false_pushes_only(world: World) -> None:
    checkout = await issue_checkout(world)
    head = commit_file(checkout.repo_dir)
    result = await world.deliver(run_for(checkout), open_pr=False)
    assert (result.state, result.pushed_branch, result.pr_url) == ("completed", BRANCH, None)
    assert world.origin.sha(BRANCH) == head and world.pull_posts() == []


async def test_push_false_neither_pushes_nor_opens(world: World) -> None:
    checkout = await issue_checkout(world)
    commit_file(checkout.repo_dir)
    result = await world.deliver(run_for(checkout), push=False)
    assert (result.state, result.commits) == ("completed", 1)
    assert result.pushed_branch is None and result.pr_url is None
    assert BRANCH not in world.origin.git("branch", "--list") and world.pull_posts() == []


async def same_repo_pull(world: World) -> PreparedWorkspace:
    world.origin.create_branch("feature")
    sha = world.origin.commit("feature", message="the author's work")
    world.origin.create_pull_ref(4, sha)
    world.fake.add_pull_request(REPO, 4, "Feature", head_ref="feature", head_sha=sha)
    return await prepare(
        world.tmp_path, world.origin, 4, True, branch="feature", pull_request_number=4
    )


async def test_same_repo_pull_request_run_pushes_onto_its_head_branch(world: World) -> None:
    checkout = await same_repo_pull(world)
    head = commit_file(checkout.repo_dir)
    result = await world.deliver(run_for(checkout, 4, is_pull_request=True))
    assert (result.state, result.reason, result.note) == ("completed", None, None)
    assert result.pushed_branch == "feature" and world.origin.sha("feature") == head
    assert result.pr_url == f"{world.fake.url}/{REPO}/pulls/4"
    assert world.pull_posts() == []


@pytest.mark.parametrize("why", ["moved on while the agent worked", "refused the push"])
async def test_a_head_branch_that_refuses_the_commits_gets_them_beside_it(
    world: World, why: str
) -> None:
    checkout = await same_repo_pull(world)
    head = commit_file(checkout.repo_dir)
    theirs = world.origin.sha("feature")
    if why.startswith("moved"):  # never force-pushed over the author's new commit
        theirs = world.origin.commit("feature", message="pushed while the agent worked")
    else:  # a protected branch
        hook = world.origin.path / "hooks" / "pre-receive"
        hook.write_text("#!/bin/sh\ngrep -q ' refs/heads/feature$' && exit 1\nexit 0\n")
        hook.chmod(0o755)
    result = await world.deliver(run_for(checkout, 4, is_pull_request=True))
    assert (result.state, result.pushed_branch) == ("completed", "agent/pr-4")
    assert result.note is not None and result.note.startswith(f"`feature` {why}")
    assert world.origin.sha("feature") == theirs and world.origin.sha("agent/pr-4") == head
    assert result.pr_url == f"{world.fake.url}/{REPO}/pulls/4" and world.pull_posts() == []


async def test_fork_pull_request_goes_to_a_new_branch_in_the_base_repository(world: World) -> None:
    fork_sha = world.origin.create_fork_pull_request(5)
    world.fake.add_pull_request(
        REPO, 5, "From a fork", head_ref="main", head_sha=fork_sha, head_repo="carol/repo"
    )
    checkout = await prepare(
        world.tmp_path, world.origin, 5, True, branch="agent/pr-5", pull_request_number=5
    )
    head = commit_file(checkout.repo_dir)
    result = await world.deliver(run_for(checkout, 5, is_pull_request=True))
    assert (result.state, result.pushed_branch, result.commits) == ("completed", "agent/pr-5", 1)
    assert world.origin.sha("agent/pr-5") == head
    assert world.origin.sha("refs/pull/5/head") == fork_sha
    assert world.origin.sha("main") != head and world.pull_posts() == []


async def test_push_failure_fails_the_run_without_a_pull_request(world: World) -> None:
    checkout = await issue_checkout(world)
    commit_file(checkout.repo_dir)
    world.fake.repos[REPO].clone_url = str(world.tmp_path / "gone.git")
    result = await world.deliver(run_for(checkout))
    assert result.state == "failed" and str(result.reason).startswith("could not push: ")
    assert TOKEN not in str(result.reason)
    assert (result.pushed_branch, result.pr_url) == (None, None) and world.pull_posts() == []


async def test_pull_request_failure_is_reported_after_the_push(world: World) -> None:
    checkout = await issue_checkout(world)
    commit_file(checkout.repo_dir)
    world.fake.fail("POST", r"/pulls$", status=403, times=5)
    result = await world.deliver(run_for(checkout))
    assert (result.state, result.pushed_branch, result.pr_url) == ("failed", BRANCH, None)
    assert str(result.reason).startswith("could not open the pull request: 403")


@pytest.mark.parametrize("password", [TOKEN, "a-wrong-password"])
async def test_push_over_http_with_the_forge_credentials_leaves_no_secret(
    tmp_path: Path, fake_forge: FakeForge, password: str
) -> None:
    served = tmp_path / "served"
    origin = make_origin(served, commits=2, name="repo.git")
    fake_forge.add_token(TOKEN, "agent-bot")
    async with (
        serve_git_http(served, "agent-bot", password) as server,
        aiohttp.ClientSession() as session,
    ):
        url = f"{server.url}/repo.git"
        fake_forge.add_repo(REPO, family="gitea", clone_url=url)
        forge = adapter(session, "forgejo", fake_forge.gitea_api_url)
        fetch = await forge.git_credentials(REPO) if password == TOKEN else None
        checkout = await prepare(
            tmp_path, origin, 3, url=url if fetch else origin.url, branch=BRANCH, credentials=fetch
        )
        head = commit_file(checkout.repo_dir)
        after_run = AfterRunConfig(qa=["env", "git config --list"])
        result = await deliver_run(run_for(checkout), forge, after_run, env=ENV)
    if password == TOKEN:
        assert (result.state, result.pushed_branch) == ("completed", BRANCH)
        assert origin.sha(BRANCH) == head and f"Basic {BASIC}" in server.authorizations
    else:
        assert result.state == "failed" and result.reason is not None
        assert (
            result.reason.startswith("could not push: ") and "a-wrong-password" not in result.reason
        )
        assert TOKEN not in result.reason and BASIC not in result.reason
    assert files_containing(checkout.repo_dir.parent, [TOKEN, BASIC]) == []
    assert files_containing(tmp_path / "mirrors", [TOKEN, BASIC]) == []


@pytest.mark.parametrize(
    ("instructions", "task", "title"),
    [
        ("Do it\nin detail", "Issue title\n\nbody", "Do it"),
        ("", "Issue title\n\nbody", "Issue title"),
        ("", "", "Agent work for #3"),
        ("x" * 200, "", "x" * 119 + "…"),
    ],
)
def test_pull_request_title(instructions: str, task: str, title: str) -> None:
    assert pull_request_title(Run(**RUN | {"task": task, "instructions": instructions})) == title
