"""The JSON API: `GET /api/runs` (filters, pages), `GET /api/runs/{id}`, `GET /api/status`."""

from __future__ import annotations

from aiohttp import web

from bot.appkeys import SERVICES
from bot.web.queries import filtered_runs, overview, parse_filter
from bot.web.views import request_redactor, run_id_of, run_json, secure


def error(status: int, message: str) -> web.StreamResponse:
    return secure(web.json_response({"status": status, "error": message}, status=status))


async def list_runs(request: web.Request) -> web.StreamResponse:
    """Runs newest first, filtered by `state`, `forge`, `repo`; paged by `limit` and `offset`."""
    try:
        run_filter = parse_filter(request)
    except ValueError as problem:
        return error(400, str(problem))
    services = request.app[SERVICES]
    runs, total = await filtered_runs(services, run_filter)
    redact = request_redactor(request)
    following = run_filter.offset + len(runs)
    body = {
        "runs": [run_json(services.settings, run, redact) for run in runs],
        "total": total,
        "limit": run_filter.limit,
        "offset": run_filter.offset,
        "next_offset": following if following < total else None,
    }
    return secure(web.json_response(body))


async def get_run(request: web.Request) -> web.StreamResponse:
    run_id = run_id_of(request)
    services = request.app[SERVICES]
    run = await services.runs.get(run_id) if run_id is not None else None
    if run_id is None:
        return error(404, "no such run")
    if run is None:
        return error(404, f"run {run_id} does not exist")
    body = run_json(services.settings, run, request_redactor(request), detail=True)
    return secure(web.json_response(body))


async def status(request: web.Request) -> web.StreamResponse:
    """The queue (position and why each run waits), pools with backoff, and the freeze."""
    services = request.app[SERVICES]
    current = await overview(services)
    redact = request_redactor(request)
    body = {
        "frozen": current.frozen,
        "running": current.running,
        "total_limit": current.total_limit,
        "queue": [
            {
                "position": entry.position,
                "reason": entry.reason,
                "run": run_json(services.settings, entry.run, redact),
            }
            for entry in current.queue
        ],
        "pools": [
            {
                "name": pool.name,
                "running": pool.running,
                "limit": pool.limit,
                "model_limits": pool.model_limits,
                "failure_count": pool.failure_count,
                "paused_until": pool.paused_until,
            }
            for pool in current.pools
        ],
    }
    return secure(web.json_response(body))


def add_api_routes(app: web.Application) -> None:
    app.router.add_get("/api/runs", list_runs)
    app.router.add_get("/api/runs/{id}", get_run)
    app.router.add_get("/api/status", status)
