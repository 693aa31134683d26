"""Command-line entry points: serve, check-config, runs, cancel, freeze, unfreeze, replay."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings, mask_settings
from bot.logs import configure_logging
from bot.store import open_database
from bot.store.flags import Flags
from bot.store.runs import Runs, RunState


def resolve_config_path(given: str | None) -> Path:
    if given:
        return Path(given)
    if Path("config.yaml").exists():
        return Path("config.yaml")
    print("warning: ./config.yaml not found; using config.example.yaml", file=sys.stderr)
    return Path("config.example.yaml")


def load_or_exit(given: str | None) -> Settings:
    try:
        return load_settings(resolve_config_path(given))
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def command_serve(arguments: argparse.Namespace) -> int:
    from bot.app import create_app
    from bot.server import run_server

    config_path = resolve_config_path(arguments.config).resolve()
    settings = load_or_exit(str(config_path))
    configure_logging(settings.logging.format, settings.logging.level)
    run_server(
        create_app(settings, config_path=config_path),
        host=arguments.host or settings.server.host,
        port=arguments.port or settings.server.port,
    )
    return 0


def command_reload(arguments: argparse.Namespace) -> int:
    """Ask the running server to re-read its config file (SIGHUP through its pid file)."""
    from bot.reload import ReloadError, pid_file, signal_server

    path = resolve_config_path(arguments.config)
    try:
        settings = load_settings(path)
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        print("not reloaded: the server keeps its current configuration", file=sys.stderr)
        return 2
    try:
        pid = signal_server(settings)
    except ReloadError as error:
        print(f"reload: {error}", file=sys.stderr)
        print(
            f"(looked for {pid_file(settings)}; is `python -m bot serve` running?)", file=sys.stderr
        )
        return 1
    print(f"asked the server (pid {pid}) to reload its configuration; its log says what changed")
    return 0


def command_check_config(arguments: argparse.Namespace) -> int:
    settings = load_or_exit(arguments.config)
    print(mask_settings(settings), end="")
    return 0


async def _runs(settings: Settings, state: str | None, limit: int) -> int:
    database = await open_database(settings.database.path)
    try:
        for run in await Runs(database).list(state=state, limit=limit):
            print(
                f"{run.id}\t{run.state.value}\t{run.forge}\t{run.repo}#{run.number}\t"
                f"{run.agent_spec}\t{run.trigger}:{run.actor}\t{run.reason or ''}"
            )
    finally:
        await database.close()
    return 0


async def _cancel(settings: Settings, run_id: int) -> int:
    database = await open_database(settings.database.path)
    try:
        runs = Runs(database)
        run = await runs.get(run_id)
        if run is None:
            print(f"run {run_id} does not exist", file=sys.stderr)
            return 1
        if not run.state.is_active:
            print(f"run {run_id} is already {run.state.value}")
            return 0
        # A running server notices the state change and kills the agent (see the engine).
        await runs.update(run_id, state=RunState.CANCELLED, reason="cancelled from the CLI")
        print(f"run {run_id} cancelled")
    finally:
        await database.close()
    return 0


async def _freeze(settings: Settings, frozen: bool) -> int:
    database = await open_database(settings.database.path)
    try:
        await Flags(database).set_frozen(frozen)
    finally:
        await database.close()
    print("dispatch frozen: new runs queue, none start" if frozen else "dispatch unfrozen")
    return 0


async def _replay(settings: Settings, arguments: argparse.Namespace) -> int:
    """Feed a stored payload through intake processing, as if the forge had sent it."""
    from bot.handlers import handle_inbox_row
    from bot.services import Services
    from bot.store.inbox import InboxRow

    if settings.forge(arguments.forge) is None:
        print(f"unknown forge {arguments.forge!r}", file=sys.stderr)
        return 2
    body = Path(arguments.file).read_bytes()
    json.loads(body)  # fail early on malformed JSON
    database = await open_database(settings.database.path)
    try:
        import aiohttp

        from bot.app import build_forges

        async with aiohttp.ClientSession() as session:
            services = Services.from_database(settings, database)
            build_forges(services, session)
            delivery = arguments.delivery or f"replay-{uuid.uuid4()}"
            row_id = await services.inbox.add(
                arguments.forge, delivery, arguments.event, arguments.event_type, body
            )
            if row_id is None:
                print(f"delivery {delivery} was already received")
                return 0
            outcome = await handle_inbox_row(
                services,
                InboxRow(
                    row_id,
                    arguments.forge,
                    delivery,
                    arguments.event,
                    arguments.event_type,
                    body,
                ),
            )
            await services.inbox.mark_processed(row_id, outcome)
            print(f"delivery {delivery}: {outcome}")
    finally:
        await database.close()
    return 0


DISPATCH_EXIT_CODES = (
    "exit codes: 0 the run completed (or the server took it); 1 it ended otherwise, the issue "
    "is busy or the forge failed; 2 bad arguments or configuration; 3 queued, not started "
    "(frozen, paused pool, a full concurrency limit, or an earlier run of the issue still "
    "active): a running server starts it later"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--config", help="config file (default ./config.yaml)")
        return sub

    serve = add("serve", "serve webhooks")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    add("reload", "make the running server re-read its config file (as SIGHUP does)")
    add("check-config", "validate and print the effective config (secrets masked)")
    runs = add("runs", "list runs, newest first")
    runs.add_argument("--state", choices=[state.value for state in RunState])
    runs.add_argument("--limit", type=int, default=50)
    cancel = add("cancel", "cancel a queued or running run")
    cancel.add_argument("run_id", type=int)
    add("freeze", "freeze dispatch: new runs queue, none start")
    add("unfreeze", "unfreeze dispatch")
    dispatch = add("dispatch", "run an agent on an issue from the shell")
    dispatch.description = (
        "Queue a run for the issue and, when the scheduler's rules allow it, run it in the "
        "foreground. When dispatch is frozen, the run's agent pool is paused or a concurrency "
        "limit is full (counting runs a server started), the run is left queued for "
        "`python -m bot serve` to start."
    )
    dispatch.epilog = DISPATCH_EXIT_CODES
    dispatch.add_argument("--forge", required=True)
    dispatch.add_argument("--repo", required=True, help="OWNER/NAME")
    dispatch.add_argument("--issue", type=int, required=True, help="issue or PR number")
    dispatch.add_argument("--agent", help="AGENT[:MODEL] (default: the configured default)")
    dispatch.add_argument("--template")
    dispatch.add_argument("--instructions")
    dispatch.add_argument(
        "--dry-run",
        action="store_true",
        help="prepare the workspace, print the prompt and command, run nothing",
    )
    replay = add("replay", "feed a stored payload through intake")
    replay.add_argument("file")
    replay.add_argument("--forge", required=True)
    replay.add_argument("--event", required=True, help="the X-GitHub-Event value")
    replay.add_argument("--event-type", help="the Gitea/Forgejo X-…-Event-Type value")
    replay.add_argument("--delivery", help="delivery id (default: a new one)")
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    if arguments.command == "serve":
        return command_serve(arguments)
    if arguments.command == "check-config":
        return command_check_config(arguments)
    if arguments.command == "reload":
        return command_reload(arguments)
    settings = load_or_exit(arguments.config)
    if arguments.command == "runs":
        return asyncio.run(_runs(settings, arguments.state, arguments.limit))
    if arguments.command == "cancel":
        return asyncio.run(_cancel(settings, arguments.run_id))
    if arguments.command in ("freeze", "unfreeze"):
        return asyncio.run(_freeze(settings, arguments.command == "freeze"))
    if arguments.command == "dispatch":
        from bot.cli_dispatch import run_dispatch

        return asyncio.run(run_dispatch(settings, arguments))
    if arguments.command == "replay":
        return asyncio.run(_replay(settings, arguments))
    return 2
