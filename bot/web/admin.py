"""Admin actions behind the configured token: cancel a run, freeze/unfreeze, clear a backoff."""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from bot.appkeys import SERVICES
from bot.logs import get_logger, log_event
from bot.services import Services
from bot.store.runs import Run
from bot.web.keys import BACKGROUND
from bot.web.views import request_redactor, run_id_of, run_json, secure

logger = get_logger("web")

CANCEL_WAIT_SECONDS = 5.0
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
LOCAL_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9/_.~%?=&-]*")


class Refused(Exception):
    """An admin request turned down, with its HTTP status and a one-line reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def wants_form(request: web.Request) -> bool:
    return request.content_type in FORM_TYPES


async def authorise(request: web.Request) -> dict[str, Any]:
    """Check the admin token (bearer header, or the `token` field of a form); return the form.

    The token is never a cookie, so a form post from another site cannot carry it: asking for
    it in every form is the protection against cross-site request forgery.
    """
    try:
        form: dict[str, Any] = dict(await request.post()) if wants_form(request) else {}
    except ValueError:
        raise Refused(400, "the form could not be read") from None
    configured = request.app[SERVICES].settings.server.admin_token
    if configured is None or not configured.get_secret_value():
        raise Refused(403, "admin actions are disabled: no admin token is configured")
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    given = credential.strip() if scheme.lower() == "bearer" else ""
    given = given or str(form.get("token") or "")
    if not given:
        raise Refused(401, "this action needs the admin token")
    expected = configured.get_secret_value().encode()
    if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected):
        raise Refused(403, "the admin token is wrong")
    return form


def safe_next(form: dict[str, Any], default: str) -> str:
    """Where a form goes back to: a path on this site only (no `//host`, no scheme)."""
    target = str(form.get("next") or "")
    return target if LOCAL_PATH.fullmatch(target) else default


def respond(
    request: web.Request, form: dict[str, Any] | None, status: int, message: str, back: str
) -> web.StreamResponse:
    """JSON for API clients; for a form, a redirect back on success or a short page on refusal."""
    response: web.StreamResponse
    if not wants_form(request):
        body = {"ok": status < 400, "status": status, "message": message}
        response = web.json_response(body, status=status)
    elif status < 400:
        response = web.Response(status=303, headers={"Location": safe_next(form or {}, back)})
    else:
        context = {"title": "Refused", "message": message, "back": back, "status": status}
        response = aiohttp_jinja2.render_template("message.html", request, context, status=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="agent-dispatch-bot"'
    return secure(response)


async def guarded(request: web.Request, back: str, action: Any) -> web.StreamResponse:
    """Authorise, then run `action(services) -> (status, message, extra JSON)`."""
    try:
        form = await authorise(request)
    except Refused as refusal:
        log_event(logger, logging.WARNING, "admin action refused", path=request.path)
        return respond(request, None, refusal.status, refusal.reason, back)
    try:
        status, message, extra = await action(request.app[SERVICES])
    except Refused as refusal:
        return respond(request, form, refusal.status, refusal.reason, back)
    log_event(logger, logging.INFO, "admin action", path=request.path, result=message)
    if wants_form(request):
        return respond(request, form, status, message, back)
    body = {"ok": True, "status": status, "message": message, **extra}
    return secure(web.json_response(body, status=status))


def _remember(request: web.Request, task: asyncio.Task) -> None:
    """Keep a reference to work that may outlive the request; log how it failed, if it did."""
    tasks = request.app[BACKGROUND]
    tasks.add(task)

    def done(finished: asyncio.Task) -> None:
        tasks.discard(finished)
        if not finished.cancelled() and finished.exception() is not None:
            error = repr(finished.exception())
            log_event(logger, logging.ERROR, "admin action failed", error=error)

    task.add_done_callback(done)


async def cancel_run(request: web.Request) -> web.StreamResponse:
    """`POST /admin/runs/{id}/cancel`: 200 when it ended, 202 while a running agent stops."""
    run_id = run_id_of(request)

    async def action(services: Services) -> tuple[int, str, dict]:
        run = await services.runs.get(run_id) if run_id is not None else None
        if run is None:
            raise Refused(404, "there is no such run")
        if not run.state.is_active:
            raise Refused(409, f"run {run_id} is already {run.state.value}")
        work = asyncio.ensure_future(services.dispatcher.cancel(run, "cancelled by an admin"))
        _remember(request, work)
        done, _ = await asyncio.wait({work}, timeout=CANCEL_WAIT_SECONDS)
        if not done:
            return 202, f"run {run_id} is being cancelled", {"run": {"id": run_id}}
        # Read the row again: the engine may hand back a copy from before the agent stopped.
        cancelled: Run = await services.runs.get(run_id) or work.result()
        shown = run_json(services.settings, cancelled, request_redactor(request))
        if cancelled.state.is_active:  # the engine does not hold it; it stops on its own
            return 202, f"run {run_id} is being cancelled", {"run": shown}
        return 200, f"run {run_id} is {cancelled.state.value}", {"run": shown}

    return await guarded(request, f"/runs/{run_id}" if run_id is not None else "/", action)


async def set_frozen(request: web.Request, frozen: bool) -> web.StreamResponse:
    async def action(services: Services) -> tuple[int, str, dict]:
        await services.flags.set_frozen(frozen)
        if services.scheduler is not None:
            services.scheduler.kick()
        return 200, "dispatch is frozen" if frozen else "dispatch is running", {"frozen": frozen}

    return await guarded(request, "/", action)


async def freeze(request: web.Request) -> web.StreamResponse:
    """`POST /admin/freeze`: new runs queue and none start."""
    return await set_frozen(request, True)


async def unfreeze(request: web.Request) -> web.StreamResponse:
    """`POST /admin/unfreeze`."""
    return await set_frozen(request, False)


async def clear_backoff(request: web.Request) -> web.StreamResponse:
    """`POST /admin/pools/{pool}/clear-backoff`: the pool's failure count and pause are reset."""
    pool = request.match_info["pool"]

    async def action(services: Services) -> tuple[int, str, dict]:
        known = {backoff.pool for backoff in await services.flags.all_backoffs()}
        if pool not in known and pool not in services.settings.known_agents():
            raise Refused(404, f"there is no pool {pool!r}")
        await services.flags.set_backoff(pool, 0, None)
        if services.scheduler is not None:
            services.scheduler.kick()
        return 200, f"pool {pool} may start runs again", {"pool": pool}

    return await guarded(request, "/", action)


def add_admin_routes(app: web.Application) -> None:
    app.router.add_post("/admin/runs/{id}/cancel", cancel_run)
    app.router.add_post("/admin/freeze", freeze)
    app.router.add_post("/admin/unfreeze", unfreeze)
    app.router.add_post("/admin/pools/{pool}/clear-backoff", clear_backoff)
