"""`python -m bot dispatch`: the dispatch pipeline from the shell, with a dry run."""

from __future__ import annotations

import shlex
import sys
from argparse import Namespace

import aiohttp

from bot.app import build_forges
from bot.config import Settings
from bot.dispatcher import RunRequest
from bot.engine.agents import AgentSpecError, parse_agent_spec
from bot.engine.executor import RunExecutor
from bot.engine.limits import claim_limits
from bot.engine.preparation import prepare_run
from bot.engine.scheduler import select_startable_runs
from bot.engine.transitions import record
from bot.feedback.lifecycle import RunFeedback
from bot.feedback.outbox import Outbox
from bot.forge.protocol import ForgeError
from bot.services import Services
from bot.store import open_database
from bot.store.database import now
from bot.store.runs import Run, RunState

# Exit codes: 0 the run completed (or a server took it), 1 it ended otherwise or could not be
# made, 2 bad arguments or configuration, EXIT_QUEUED it was queued but not started (dispatch
# is frozen, its pool is paused, a concurrency limit is full, or an earlier run of the issue is
# active): a running server starts it. `bot/cli.py` documents them in `dispatch --help`.
EXIT_QUEUED = 3


async def run_dispatch(settings: Settings, arguments: Namespace) -> int:
    forge_config = settings.forge(arguments.forge)
    if forge_config is None:
        print(f"unknown forge {arguments.forge!r}", file=sys.stderr)
        return 2
    try:
        spec = parse_agent_spec(
            arguments.agent or settings.dispatch.default_agent, known=settings.known_agents()
        )
    except AgentSpecError as error:
        print(f"bad --agent: {error}", file=sys.stderr)
        return 2
    database = await open_database(settings.database.path)
    try:
        async with aiohttp.ClientSession() as session:
            services = Services.from_database(settings, database)
            build_forges(services, session)
            forge = services.forges.get(arguments.forge)
            if forge is None:
                print(
                    f"no API access to forge {arguments.forge!r}: is its token set?",
                    file=sys.stderr,
                )
                return 2
            try:
                issue = await forge.get_issue(arguments.repo, arguments.issue)
                repository = await forge.get_repository(arguments.repo)
            except ForgeError as error:
                print(f"forge error: {error}", file=sys.stderr)
                return 1
            request = RunRequest(
                forge=arguments.forge,
                repo=arguments.repo,
                number=arguments.issue,
                is_pull_request=issue.is_pull_request,
                clone_url=repository.clone_url,
                base_branch=repository.default_branch,
                agent=spec.base,
                model=spec.model,
                template=arguments.template or settings.dispatch.default_template,
                trigger="cli",
                actor=forge_config.bot_login or "cli",
                task=f"{issue.title}\n\n{issue.body}".strip(),
                instructions=arguments.instructions or "",
            )
            services.outbox = Outbox(database, services.forges)
            feedback = RunFeedback(services)
            services.feedback = feedback
            executor = RunExecutor(
                services, on_started=[feedback.started], on_finished=[feedback.finished]
            )
            if arguments.dry_run:
                return await _dry_run(services, executor, request)
            result = await services.dispatcher.submit(request)
            if result.run is None:
                busy = result.busy_with
                print(
                    f"busy: run {busy.id if busy else '?'} is active on this issue", file=sys.stderr
                )
                return 1
            reason = await _reason_to_wait(services, result.run)
            if reason:
                return await _leave_queued(services, feedback, result.run, reason)
            limits = claim_limits(result.run, services.settings.concurrency)
            if not await services.runs.claim_for_start(result.run.id, **limits):
                return await after_refused_claim(services, feedback, result.run)
            await feedback.queued(result.run)
            run = await record(services.runs, result.run, RunState.RUNNING)
            print(f"run {run.id} started: {run.agent_spec} on {run.repo}#{run.number}")
            finished = await executor.execute(run)
            await _deliver_forge_updates(services)
            finished = await services.runs.get(finished.id) or finished
            print(
                f"run {finished.id} {finished.state.value}"
                + (f": {finished.reason}" if finished.reason else "")
                + (f"\nquestion: {finished.question}" if finished.question else "")
            )
            return 0 if finished.state is RunState.COMPLETED else 1
    finally:
        await database.close()


async def _reason_to_wait(services: Services, run: Run) -> str:
    """Why the server's scheduler would not start this queued run now ("" when it would)."""
    selection = await select_startable_runs(services)
    for waiting in selection.waiting:
        if waiting.run_id == run.id:
            return waiting.reason
    return ""  # it may start (or it has already left the queue: the claim finds out)


async def _leave_queued(services: Services, feedback: RunFeedback, run: Run, reason: str) -> int:
    """Leave the run queued for the server, say why on the forge and on the shell."""
    await feedback.waiting(run, reason)
    await feedback.queued(run)
    await _deliver_forge_updates(services)
    print(
        f"run {run.id} queued, not started: {reason}; `python -m bot serve` starts it when "
        f"it may (`python -m bot cancel {run.id}` drops it)"
    )
    return EXIT_QUEUED


async def after_refused_claim(services: Services, feedback: RunFeedback, run: Run) -> int:
    """The claim failed: the run left the queue between the decision and the claim (a server
    started it, or it was cancelled), or a run started meanwhile filled a limit it is under."""
    current = await services.runs.get(run.id) or run
    if current.state is RunState.QUEUED:
        reason = await _reason_to_wait(services, current) or "a concurrency limit was reached"
        return await _leave_queued(services, feedback, current, reason)
    if current.state is RunState.CANCELLED:
        print(f"run {run.id} was cancelled before it started", file=sys.stderr)
        return 1
    print(f"run {run.id} was started by the server ({current.state.value})")
    return 0


async def _deliver_forge_updates(services: Services) -> None:
    """Send the forge updates now; what fails stays in the outbox for the server to retry."""
    assert services.outbox is not None
    await services.outbox.deliver_due()
    left = await services.outbox.pending()
    if left:
        print(
            f"{len(left)} forge update(s) could not be delivered yet; the server's "
            "outbox retries them",
            file=sys.stderr,
        )


async def _dry_run(services: Services, executor: RunExecutor, request: RunRequest) -> int:
    """Prepare the workspace and print the prompt and the exact command; start nothing."""
    fields = {key: value for key, value in vars(request).items() if key in Run.model_fields}
    run = Run(id=0, created_at=now(), state=RunState.QUEUED, **fields)
    forge = services.forges[request.forge]
    preparation = await prepare_run(
        services.settings, forge, run, library=executor.library(), environ=executor.environ
    )
    print(f"workspace: {preparation.workspace}")
    print(f"branch: {preparation.checkout.branch} (from {preparation.base_branch})")
    print(f"runtime: {preparation.runtime}")
    print(f"command: {shlex.join(preparation.launch.argv)}")
    print("prompt:")
    print(preparation.prompt)
    return 0
