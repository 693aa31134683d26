"""The application factory: routes, resources opened and closed in cleanup_ctx, no import work."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.appkeys import INBOX, SERVICES, SETTINGS, WORKER
from bot.config import Settings
from bot.engine.executor import RunExecutor
from bot.engine.scheduler import Scheduler
from bot.feedback.lifecycle import RunFeedback
from bot.feedback.outbox import Outbox
from bot.forge.factory import create_forge
from bot.forge.http import RetryPolicy
from bot.handlers import handle_inbox_row
from bot.intake import handle_webhook
from bot.logs import get_logger, log_event
from bot.observability.metrics import METRICS, Metrics, metrics_endpoint
from bot.reload import serve_reloads
from bot.services import Services
from bot.store import open_database
from bot.store.batch_writer import BatchWriter
from bot.store.housekeeping import Housekeeping
from bot.store.inbox import InboxRow
from bot.web import add_web_routes
from bot.worker import InboxWorker

logger = get_logger("app")
# Tests shorten the forge adapters' retries with this; the default policy is for real forges.
FORGE_RETRY_POLICY: web.AppKey[RetryPolicy] = web.AppKey("forge_retry_policy")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def never_500(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unexpected errors become a short 503 with no traceback; HTTP errors pass unchanged."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:  # noqa: BLE001
        logger.exception("request failed", extra={"fields": {"path": request.path}})
        return web.json_response(
            {"status": 503, "reason": "temporarily unable to handle the request"}, status=503
        )


def build_forges(
    services: Services, session: aiohttp.ClientSession, policy: RetryPolicy | None = None
) -> None:
    for forge_config in services.settings.forges:
        token = forge_config.token.get_secret_value() if forge_config.token else None
        private_key = (
            forge_config.private_key.get_secret_value() if forge_config.private_key else None
        )
        try:
            forge = create_forge(
                name=forge_config.name,
                kind=forge_config.kind,
                session=session,
                api_url=forge_config.effective_api_url,
                token=token,
                bot_login=forge_config.bot_login,
                app_id=forge_config.app_id,
                private_key_pem=private_key,
                policy=policy,
            )
        except ValueError as error:
            log_event(
                logger,
                logging.WARNING,
                "forge API disabled",
                forge=forge_config.name,
                reason=str(error),
            )
            continue
        services.add_forge(forge)


async def resources(app: web.Application) -> AsyncIterator[None]:
    """Open the database, HTTP session, forge clients and the worker; close them in reverse."""
    settings = app[SETTINGS]
    database = await open_database(settings.database.path)
    session = aiohttp.ClientSession(headers={"User-Agent": "agent-dispatch-bot"})
    writer = BatchWriter(settings.database.path)
    services = Services.from_database(settings, database, writer)
    build_forges(services, session, app.get(FORGE_RETRY_POLICY))

    async def handle_row(row: InboxRow) -> str:
        return await handle_inbox_row(services, row)

    services.outbox = Outbox(database, services.forges)
    feedback = RunFeedback(services)
    services.feedback = feedback
    executor = RunExecutor(services, on_started=[feedback.started], on_finished=[feedback.finished])
    app[METRICS].attach(services, executor)
    scheduler = Scheduler(services, executor, on_waiting=feedback.waiting)
    services.dispatcher.engine = scheduler
    services.scheduler = scheduler
    worker = InboxWorker(services.inbox, handle_row)
    app[SERVICES] = services
    app[INBOX] = services.inbox
    app[WORKER] = worker
    housekeeping = Housekeeping(services.inbox, settings.database.keep_deliveries_days)
    await services.outbox.start()
    await scheduler.start()
    await worker.start()
    housekeeping.start()
    log_event(logger, logging.INFO, "started", forges=",".join(services.forges))
    try:
        yield
    finally:
        await housekeeping.stop()
        await worker.drain()
        await scheduler.stop()
        await services.outbox.stop()
        await session.close()
        await writer.close()
        await database.close()
        log_event(logger, logging.INFO, "stopped")


async def healthz(request: web.Request) -> web.Response:
    try:
        healthy = await request.app[SERVICES].database.ping()
    except Exception:  # noqa: BLE001
        healthy = False
    if healthy:
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "database unavailable"}, status=503)


def create_app(settings: Settings, *, config_path: Path | None = None) -> web.Application:
    """The bot's application. `config_path` (given by `serve` only) turns on SIGHUP reloads of
    that file and the pid file `python -m bot reload` signals; tests leave it out."""
    app = web.Application(
        client_max_size=settings.server.max_body_bytes + 1, middlewares=[never_500]
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app.cleanup_ctx.append(resources)
    if config_path is not None:
        app.cleanup_ctx.append(serve_reloads(config_path))
    app.router.add_post("/webhook/{forge}", handle_webhook)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_endpoint)
    add_web_routes(app)
    return app
