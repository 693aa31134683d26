"""The server-rendered pages: `GET /` (runs, queue, pools, freeze) and `GET /runs/{id}`."""

from __future__ import annotations

from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from bot.appkeys import SERVICES
from bot.store.runs import RunState
from bot.web.files import SHOWN_BYTES, log_path, prompt_path, read_tail
from bot.web.queries import filtered_runs, overview, parse_filter
from bot.web.views import request_redactor, run_id_of, run_json, secure

STATES = [state.value for state in RunState]


async def index(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    try:
        run_filter = parse_filter(request)
        problem = None
    except ValueError as error:
        run_filter, problem = parse_filter({}), str(error)
    runs, total = await filtered_runs(services, run_filter)
    current = await overview(services)
    redact = request_redactor(request)
    settings = services.settings

    def link(**changes: object) -> str:
        query = urlencode(run_filter.query(**changes))
        return f"/?{query}" if query else "/"

    following = run_filter.offset + run_filter.limit
    context = {
        "title": "Agent dispatch",
        "problem": problem,
        "filter": run_filter,
        "states": STATES,
        "forges": [forge.name for forge in settings.forges],
        "runs": [run_json(settings, run, redact) for run in runs],
        "total": total,
        "first_shown": run_filter.offset + 1 if runs else 0,
        "last_shown": run_filter.offset + len(runs),
        "newer": link(offset=max(0, run_filter.offset - run_filter.limit) or None)
        if run_filter.offset
        else None,
        "older": link(offset=following) if following < total else None,
        "overview": current,
        "queue": [
            {
                "position": entry.position,
                "reason": redact(entry.reason),
                "run": run_json(settings, entry.run, redact),
            }
            for entry in current.queue
        ],
        "admin_enabled": settings.server.admin_token is not None,
    }
    response = aiohttp_jinja2.render_template(
        "index.html", request, context, status=400 if problem else 200
    )
    return secure(response)


async def run_page(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    run_id = run_id_of(request)
    run = await services.runs.get(run_id) if run_id is not None else None
    if run is None:
        context = {"title": "Not found", "message": "There is no such run.", "back": "/"}
        response = aiohttp_jinja2.render_template("message.html", request, context, status=404)
        return secure(response)
    redact = request_redactor(request)
    active = run.state.is_active
    log = read_tail(log_path(run), whole_lines=active)
    prompt = read_tail(prompt_path(run))
    context = {
        "title": f"Run {run.id}",
        "run": run_json(services.settings, run, redact, detail=True),
        "active": active,
        "log": redact(log[0]) if log else None,
        "log_cut": bool(log and log[2]),
        "log_offset": log[1] if log else 0,
        "prompt": redact(prompt[0]) if prompt else None,
        "prompt_cut": bool(prompt and prompt[2]),
        "shown_kib": SHOWN_BYTES // 1024,
        "admin_enabled": services.settings.server.admin_token is not None,
    }
    return secure(aiohttp_jinja2.render_template("run.html", request, context))


def add_page_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/runs/{id}", run_page)
