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
from bot.engine.preparation import prepare_run
from bot.engine.transitions import record
from bot.feedback.lifecycle import RunFeedback
from bot.feedback.outbox import Outbox
from bot.forge.protocol import ForgeError
from bot.services import Services
from bot.store import open_database
from bot.store.database import now
from bot.store.runs import Run, RunState


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
            if not await services.runs.claim_for_start(result.run.id):
                print(f"run {result.run.id} was started by the server")
                return 0
            await feedback.queued(result.run)
            run = await record(services.runs, result.run, RunState.RUNNING)
            print(f"run {run.id} started: {run.agent_spec} on {run.repo}#{run.number}")
            finished = await executor.execute(run)
            await services.outbox.deliver_due()
            left = await services.outbox.pending()
            if left:
                print(
                    f"{len(left)} forge update(s) could not be delivered yet; the server's "
                    "outbox retries them",
                    file=sys.stderr,
                )
            finished = await services.runs.get(finished.id) or finished
            print(
                f"run {finished.id} {finished.state.value}"
                + (f": {finished.reason}" if finished.reason else "")
                + (f"\nquestion: {finished.question}" if finished.question else "")
            )
            return 0 if finished.state is RunState.COMPLETED else 1
    finally:
        await database.close()


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
