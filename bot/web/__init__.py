"""The status pages, JSON API, live log tail and admin actions (DESIGN §11)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.web.admin import add_admin_routes
from bot.web.api import add_api_routes
from bot.web.keys import BACKGROUND, OPEN_STREAMS, POLL_SECONDS, SHUTTING_DOWN
from bot.web.live import log_stream
from bot.web.pages import add_page_routes
from bot.web.views import template_helpers

HERE = Path(__file__).parent


async def _end_streams(app: web.Application) -> None:
    """On shutdown, live streams end at once so the server does not wait for them."""
    app[SHUTTING_DOWN].set()


async def _end_background(app: web.Application) -> None:
    tasks = list(app[BACKGROUND])
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def add_web_routes(app: web.Application, *, poll_seconds: float = 0.5) -> None:
    """Register the pages, API, live stream, admin actions and static files on `app`."""
    environment = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.globals.update(template_helpers())
    app[POLL_SECONDS] = poll_seconds
    app[SHUTTING_DOWN] = asyncio.Event()
    app[OPEN_STREAMS] = set()
    app[BACKGROUND] = set()
    app.on_shutdown.append(_end_streams)
    app.on_cleanup.append(_end_background)
    add_page_routes(app)
    app.router.add_get("/runs/{id}/log/stream", log_stream, allow_head=False)
    add_api_routes(app)
    add_admin_routes(app)
    app.router.add_static("/static/", HERE / "static")
