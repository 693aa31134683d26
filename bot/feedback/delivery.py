"""Delivery of a completed run: QA, push of the agent's commits, and the pull request."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.config.models import AfterRunConfig
from bot.engine.git import GitError, commits_since, diff_stat, push_branch
from bot.engine.workspace import InvalidName, meta_dir, redact, repo_dir
from bot.feedback.qa import QaReport, run_qa
from bot.forge.protocol import Forge, ForgeError, GitCredentials, PullRequest
from bot.logs import get_logger, log_event
from bot.store.runs import Run

logger = get_logger("delivery")

QA_LOG_NAME = "qa.log"
TITLE_LENGTH = 120
_NOT_FAST_FORWARD = re.compile(r"\[rejected\].*\((non-fast-forward|fetch first)\)")
_REFUSED = re.compile(r"\[remote rejected\].*\((?P<why>[^)]*)\)")  # e.g. a protected branch


@dataclass(frozen=True)
class DeliveryResult:
    """What delivering a run did. `note`: something a reader should know even on success
    (e.g. the commits went to `agent/pr-N` because the PR's branch moved on)."""

    state: str  # "completed" | "failed"
    reason: str | None
    commits: int
    diff_stat: str
    qa: QaReport | None
    pushed_branch: str | None
    pr_url: str | None
    note: str | None = None

    def run_fields(self) -> dict[str, Any]:
        """The columns of the run row this result fills (state and reason are the caller's)."""
        return {
            "diff_stat": self.diff_stat or None,
            "qa_report": self.qa.to_dict() if self.qa is not None else None,
            "pushed_branch": self.pushed_branch,
            "pr_url": self.pr_url,
        }


@dataclass(frozen=True)
class _Target:
    """Where the commits go: the remote branch, whether it may be rewritten, and for a person's
    branch the bot's own one to use when that branch refuses them."""

    branch: str
    force: bool
    fallback: str | None = None
    pull: PullRequest | None = None


class _Failure(Exception):
    """Ends a delivery with a failure reason."""


def pull_request_title(run: Run) -> str:
    """The first line of the /dispatch instructions, else of the task (the issue title)."""
    for text in (run.instructions, run.task):
        line = next((line.strip() for line in (text or "").splitlines() if line.strip()), "")
        if line:
            return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1] + "…"
    return f"Agent work for #{run.number}"


def pull_request_body(run: Run, commits: int, stat: str, qa: QaReport | None) -> str:
    """`Closes #N` and a short summary: agent, commits, diff stat, QA."""
    plural = "commit" if commits == 1 else "commits"
    summary = stat.strip().splitlines()[-1].strip() if stat.strip() else "no file changes"
    lines = [f"Agent `{run.agent_spec}` (run #{run.id}) made {commits} {plural}: {summary}."]
    if qa is not None and qa.results:
        lines.append("QA passed: " + ", ".join(f"`{result.command}`" for result in qa.results))
    return f"Closes #{run.number}\n\n" + "\n".join(lines) + "\n"


def _git_detail(error: GitError) -> str:
    """git's own complaint (its `fatal:`, `error:`, `remote:` and `!` lines), else the error."""
    lines = [line.strip() for line in error.stderr.splitlines() if line.strip()]
    told = [line for line in lines if line.startswith(("fatal:", "error:", "remote:", "!"))]
    return " ".join((told or lines)[-4:]) or str(error)


def _why_not_pushed(error: GitError) -> str | None:
    """Why a person's branch did not take the commits, when another branch may: it moved on
    (never force-pushed), or the forge refused it (e.g. protected); None for other failures."""
    if _NOT_FAST_FORWARD.search(error.stderr):
        return "moved on while the agent worked"
    refused = _REFUSED.search(error.stderr)
    return f"refused the push ({refused['why']})" if refused else None


async def _target(run: Run, forge: Forge) -> _Target:
    if not run.is_pull_request:
        return _Target(str(run.branch), force=True)  # the bot's own branch: re-runs rewrite it
    own = f"agent/pr-{run.number}"
    pull = await forge.get_pull_request(run.repo, run.number)
    if pull.head.is_fork:
        return _Target(own, force=True, pull=pull)
    return _Target(pull.head.ref, force=False, fallback=own, pull=pull)  # a person's branch


async def _push(
    run: Run, forge: Forge, repository_dir: Path
) -> tuple[str, PullRequest | None, str | None]:
    """Push the run's branch; return the remote branch, the PR of a PR run, and a note."""
    credentials: GitCredentials | None = None
    try:
        target = await _target(run, forge)
        clone_url = (await forge.get_repository(run.repo)).clone_url
        credentials = await forge.git_credentials(run.repo)
        local = str(run.branch)
        try:
            await push_branch(
                repository_dir, clone_url, local, target.branch, credentials, force=target.force
            )
            return target.branch, target.pull, None
        except GitError as error:
            why = _why_not_pushed(error)
            if target.fallback is None or why is None:
                raise
        await push_branch(
            repository_dir, clone_url, local, target.fallback, credentials, force=True
        )
        note = f"`{target.branch}` {why}, so the commits were pushed to `{target.fallback}` instead"
        return target.fallback, target.pull, redact(note, credentials)
    except GitError as error:
        raise _Failure(redact(f"could not push: {_git_detail(error)}", credentials)) from None
    except (ForgeError, InvalidName) as error:
        raise _Failure(redact(f"could not push: {error}", credentials)) from None


async def _open_pull_request(
    run: Run, forge: Forge, after_run: AfterRunConfig, branch: str, body: str
) -> str:
    base = run.base_branch
    try:
        if not base:
            base = (await forge.get_repository(run.repo)).default_branch
        existing = await forge.find_open_pull_request(run.repo, branch, base)
        if existing is not None:
            return existing.html_url
        created = await forge.create_pull_request(
            run.repo,
            title=pull_request_title(run),
            body=body,
            head=branch,
            base=base,
            draft=after_run.draft,
        )
    except ForgeError as error:
        raise _Failure(redact(f"could not open the pull request: {error}", None)) from None
    return created.html_url


async def deliver_run(
    run: Run, forge: Forge, after_run: AfterRunConfig, *, env: Mapping[str, str]
) -> DeliveryResult:
    """For a run that ended `completed`: QA, push, and a pull request for an issue run (a PR
    run's commits go onto the PR). `env` is the QA commands' whole environment: no tokens."""
    nothing = DeliveryResult("completed", None, 0, "", None, None, None)
    if not run.workspace_path or not run.base_sha or not run.branch:
        return replace(
            nothing, state="failed", reason="nothing to deliver: the run has no checkout"
        )
    workspace = Path(run.workspace_path)
    repository_dir = repo_dir(workspace)
    try:
        commits = len(await commits_since(repository_dir, run.base_sha))
        stat = await diff_stat(repository_dir, run.base_sha) if commits else ""
    except GitError as error:
        reason = f"could not read the agent's commits: {_git_detail(error)}"
        return replace(nothing, state="failed", reason=reason)
    if not commits:
        return nothing
    qa = None
    if after_run.qa:
        meta = meta_dir(workspace)
        log_path = meta / QA_LOG_NAME if meta.is_dir() and not meta.is_symlink() else None
        qa = await run_qa(after_run.qa, repository_dir, env=env, log_path=log_path)
    failure = qa.first_failure if qa is not None else None
    qa_reason = f"QA failed: {failure.describe_failure()}" if failure is not None else None
    result = replace(nothing, commits=commits, diff_stat=stat, qa=qa)
    if qa_reason:  # the branch is still pushed below, so that the work is not lost
        result = replace(result, state="failed", reason=qa_reason)
    if not after_run.push:
        return result
    try:
        pushed, pull, note = await _push(run, forge, repository_dir)
    except _Failure as error:
        reason = f"{qa_reason}; {error}" if qa_reason else str(error)
        return replace(result, state="failed", reason=reason)
    log_event(logger, logging.INFO, "pushed", run=run.id, repo=run.repo, branch=pushed)
    result = replace(result, pushed_branch=pushed, note=note)
    if qa_reason or not (pull is not None or after_run.open_pr):
        return result
    if pull is not None:  # a PR run: its commits are on the PR (or beside it, see the note)
        return replace(result, pr_url=pull.html_url or None)
    body = pull_request_body(run, commits, stat, qa)
    try:
        url = await _open_pull_request(run, forge, after_run, pushed, body)
    except _Failure as error:
        return replace(result, state="failed", reason=str(error))
    return replace(result, pr_url=url)
