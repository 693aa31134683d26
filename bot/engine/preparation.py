"""Prepares a run: workspace from the mirror, the prompt, and the exact command to launch."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from bot.config import Settings
from bot.engine.agents import AgentSpec, agent_catalog_from_definitions, agent_output_file
from bot.engine.container import (
    container_command,
    container_name_for,
    credential_dirs_for,
    resolve_image,
    resolve_runtime,
    runtime_binary,
)
from bot.engine.git import GitError, PreparedWorkspace, diff_stat, ensure_mirror, prepare_workspace
from bot.engine.prompts import (
    MAX_DIFF_STAT_CHARS,
    DiscussionComment,
    PromptInput,
    ResumeContext,
    TemplateLibrary,
    build_prompt,
    save_prompt,
)
from bot.engine.run_files import set_aside_previous_run
from bot.engine.runtimes import LaunchSpec
from bot.engine.workspace import issue_branch_name, split_repo_full_name, workspace_dir
from bot.forge.protocol import Forge
from bot.logs import get_logger, log_event
from bot.store.runs import Run

logger = get_logger("preparation")

# Only these of the bot's own environment reach an agent process (never forge tokens).
BASE_ENVIRONMENT = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "XDG_RUNTIME_DIR",
    "DOCKER_HOST",
    "CONTAINER_HOST",
)


@dataclass(frozen=True)
class Preparation:
    workspace: Path
    checkout: PreparedWorkspace
    prompt: str
    launch: LaunchSpec
    runtime: str  # native | docker | podman | apple
    base_branch: str


@dataclass(frozen=True)
class IssueContext:
    title: str
    body: str
    url: str
    discussion: list[DiscussionComment]
    base_branch: str
    branch: str | None  # set for a PR: the branch the commits go onto
    pull_request_number: int | None
    diff_stat: str = ""


async def issue_context(forge: Forge, run: Run, default_branch: str) -> IssueContext:
    """The issue/PR text and discussion, and for a PR where its head is."""
    issue, comments = await asyncio.gather(
        forge.get_issue(run.repo, run.number), forge.list_issue_comments(run.repo, run.number)
    )
    discussion = [DiscussionComment(author_login=c.author_login, body=c.body) for c in comments]
    base = run.options.get("base") or default_branch  # the API's, not the payload's
    if not run.is_pull_request:
        return IssueContext(issue.title, issue.body, issue.html_url, discussion, base, None, None)
    pull = await forge.get_pull_request(run.repo, run.number)
    branch = f"agent/pr-{run.number}" if pull.head.is_fork else pull.head.ref
    return IssueContext(
        pull.title, pull.body, pull.html_url, discussion, pull.base_ref, branch, run.number
    )


BOT_FILES = ("BLOCKED.md", "ANSWER.md")


def exclude_bot_files(repo: Path) -> None:
    """Keep BLOCKED.md and ANSWER.md out of `git add -A`, so they are never committed/pushed."""
    info = repo / ".git" / "info"
    if (repo / ".git").is_symlink() or info.is_symlink():
        return
    info.mkdir(parents=True, exist_ok=True)
    exclude = info / "exclude"
    if exclude.is_symlink():
        exclude.unlink()
    present = exclude.read_text().splitlines() if exclude.exists() else []
    missing = [f"/{name}" for name in BOT_FILES if f"/{name}" not in present]
    if missing:
        with exclude.open("a", encoding="utf-8") as file:
            file.write("".join(f"{line}\n" for line in missing))


def write_answer(repo: Path, answer: str) -> Path:
    """`ANSWER.md` at the checkout's root for a resumed run; never through a planted link."""
    path = repo / "ANSWER.md"
    path.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    with os.fdopen(os.open(path, flags, 0o644), "w", encoding="utf-8") as file:
        file.write(answer.strip() + "\n")
    return path


def capped_diff_stat(text: str, limit: int = MAX_DIFF_STAT_CHARS) -> str:
    """A `git diff --stat` within about `limit` characters: the first file lines, how many
    were left out, and git's summary line (`N files changed, …`)."""
    text = text.rstrip()
    if len(text) <= limit:
        return text
    *files, summary = text.splitlines()
    kept: list[str] = []
    used = len(summary) + 40
    for line in files:
        used += len(line) + 1
        if used > limit:
            break
        kept.append(line)
    left_out = len(files) - len(kept)
    return "\n".join([*kept, f" [… {left_out} more files left out …]", summary])


async def pull_request_diff_stat(checkout: PreparedWorkspace, run_id: int) -> str:
    """What the PR changes: `git diff --stat` from its merge base with the base branch to its
    head, capped. "" (and a log line) when git cannot tell; that never fails the run."""
    try:
        text = await diff_stat(checkout.repo_dir, checkout.base_sha)
    except GitError as error:
        log_event(logger, logging.WARNING, "diff stat left out", run=run_id, error=str(error))
        return ""
    return capped_diff_stat(text)


def agent_environment(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    names = (*BASE_ENVIRONMENT, *settings.dispatch.pass_env)
    env = {name: environ[name] for name in names if name in environ}
    identity = settings.dispatch.git_identity
    env.update(
        TERM="dumb",
        NO_COLOR="1",
        CI="true",
        GIT_AUTHOR_NAME=identity.name,
        GIT_AUTHOR_EMAIL=identity.email,
        GIT_COMMITTER_NAME=identity.name,
        GIT_COMMITTER_EMAIL=identity.email,
    )
    return env


async def prepare_run(
    settings: Settings,
    forge: Forge,
    run: Run,
    *,
    library: TemplateLibrary,
    previous: Run | None = None,
    environ: Mapping[str, str] | None = None,
) -> Preparation:
    """Everything up to the launch. `previous` is the blocked run that `run` resumes."""
    environ = os.environ if environ is None else environ
    dispatch = settings.dispatch
    repository, credentials = await asyncio.gather(
        forge.get_repository(run.repo), forge.git_credentials(run.repo)
    )
    context = await issue_context(forge, run, repository.default_branch)
    owner, name = split_repo_full_name(run.repo)
    workspace = workspace_dir(
        dispatch.workspace_root, run.forge, owner, name, run.number, run.is_pull_request
    ).absolute()
    clone_url = repository.clone_url  # from the forge API, not the payload
    mirror = await ensure_mirror(dispatch.mirror_root, run.forge, run.repo, clone_url, credentials)
    branch = (
        (previous.branch if previous else None)
        or context.branch
        or issue_branch_name(run.number, context.title)
    )
    identity = (dispatch.git_identity.name, dispatch.git_identity.email)
    checkout = await prepare_workspace(
        mirror=mirror,
        workspace=workspace,
        clone_url=clone_url,
        base_branch=context.base_branch,
        branch=branch,
        git_identity=identity,
        pull_request_number=context.pull_request_number,
        keep_existing=previous is not None,
        credentials=credentials,
    )
    exclude_bot_files(checkout.repo_dir)
    set_aside_previous_run(checkout, run.id)
    resume = None
    if previous is not None:
        resume = ResumeContext(
            original_task=previous.instructions or previous.task,
            question=previous.question or "",
            answer=run.answer or "",
            answered_by=run.actor,
        )
        write_answer(checkout.repo_dir, run.answer or "")
    if run.is_pull_request:
        context = replace(context, diff_stat=await pull_request_diff_stat(checkout, run.id))
    prompt = build_prompt(
        PromptInput(
            template=run.template,
            task=run.task or f"{context.title}\n\n{context.body}",
            instructions=run.instructions,
            forge=run.forge,
            repo_full_name=run.repo,
            branch=checkout.branch,
            base_branch=context.base_branch,
            number=run.number,
            is_pull_request=run.is_pull_request,
            issue_title=context.title,
            issue_body=context.body,
            issue_url=context.url,
            discussion=context.discussion,
            bot_logins=frozenset({settings.forge(run.forge).bot_login} - {""}),  # type: ignore[union-attr]
            diff_stat=context.diff_stat,
            persona=run.options.get("persona"),
            plan=run.options.get("plan"),
            variables=run.options.get("variables") or {},
            resume=resume,
        ),
        library,
    )
    save_prompt(checkout.meta_dir, prompt)
    launch, runtime = launch_for(settings, run, workspace, checkout, prompt, environ)
    return Preparation(workspace, checkout, prompt, launch, runtime, context.base_branch)


def process_log_path(meta: Path, spec: AgentSpec, argv: list[str]) -> Path:
    """Where the agent's stdout/stderr go: `.meta/agent-<base>.log`, unless the agent writes
    that file itself (codex's `-o ../.meta/agent-codex.log` leaves its final message there),
    in which case the stream goes to `.meta/agent-<base>.output.log` beside it."""
    output = agent_output_file(meta, spec)
    if any(output.name in argument for argument in argv):
        return output.with_name(f"agent-{spec.base}.output.log")
    return output


def existing_credential_dirs(agent: str, home: Path) -> list[str]:
    """Only folders that exist: a missing `-v` source would be created on the host by root."""
    return [name for name in credential_dirs_for(agent) if (home / name).is_dir()]


def launch_for(
    settings: Settings,
    run: Run,
    workspace: Path,
    checkout: PreparedWorkspace,
    prompt: str,
    environ: Mapping[str, str],
) -> tuple[LaunchSpec, str]:
    """The launch spec (native argv in the checkout, or the container CLI argv) and runtime."""
    dispatch = settings.dispatch
    catalog = agent_catalog_from_definitions(settings.agents)
    spec = AgentSpec(run.agent, run.model)
    command = catalog.command(spec, prompt)
    log_path = process_log_path(checkout.meta_dir, spec, command.argv)
    env = agent_environment(settings, environ)
    runtime = "native" if command.where == "native" else resolve_runtime(dispatch.runtime, environ)
    if runtime == "native":
        launch = LaunchSpec(
            run_id=run.id, argv=command.argv, cwd=checkout.repo_dir, log_path=log_path, env=env
        )
        return launch, runtime
    name = container_name_for(run.id)
    home = Path(environ.get("HOME") or Path.home())
    argv = container_command(
        runtime,
        image=resolve_image(dispatch.image, environ),
        gpu=dispatch.gpu,
        agent_argv=command.argv,
        workspace_dir=workspace,
        meta_dir=checkout.meta_dir,
        container_name=name,
        home_dir=home,
        git_identity=(dispatch.git_identity.name, dispatch.git_identity.email),
        pass_env=dispatch.pass_env,
        credential_dirs=existing_credential_dirs(run.agent, home),
        global_args=dispatch.global_args,
        extra_args=dispatch.extra_args,
    )
    launch = LaunchSpec(
        run_id=run.id,
        argv=argv,
        cwd=workspace,
        log_path=log_path,
        env=env,
        container_name=name,
        runtime_binary=runtime_binary(runtime),
    )
    return launch, runtime
