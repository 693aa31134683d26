"""Typed application keys for the status pages: live streams, background tasks, poll interval."""

from __future__ import annotations

import asyncio

from aiohttp import web

# How often a live log stream looks at the file for growth (tests lower it).
POLL_SECONDS: web.AppKey[float] = web.AppKey("web_poll_seconds", float)
# Set on shutdown: every live stream ends promptly instead of holding the server open.
SHUTTING_DOWN: web.AppKey[asyncio.Event] = web.AppKey("web_shutting_down", asyncio.Event)
# Live streams open now, so their number can be capped.
OPEN_STREAMS: web.AppKey[set[asyncio.Task]] = web.AppKey("web_open_streams", set)
# Work started by an admin action that outlives its request (a slow cancel).
BACKGROUND: web.AppKey[set[asyncio.Task]] = web.AppKey("web_background", set)
