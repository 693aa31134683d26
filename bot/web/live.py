"""The live tail of a run's agent log as server-sent events, polling the file for growth."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from aiohttp import web

from bot.appkeys import SERVICES
from bot.store.runs import Run
from bot.web.files import log_path, read_range
from bot.web.keys import OPEN_STREAMS, POLL_SECONDS, SHUTTING_DOWN
from bot.web.views import Redact, request_redactor, run_id_of, secure

CHUNK_BYTES = 256 * 1024
KEEPALIVE_SECONDS = 15.0
MAX_STREAMS = 100


class ClientGone(Exception):
    """The browser went away; the stream ends quietly."""


class LogStream:
    """Sends what is appended to one run's log, line by line, while the run is active."""

    def __init__(self, request: web.Request, response: web.StreamResponse, run: Run, offset: int):
        self.request = request
        self.response = response
        self.run = run
        self.offset = offset
        self.path: Path | None = log_path(run)
        self.redact: Redact = request_redactor(request)
        self.last_sent = time.monotonic()

    async def send(self, event: str, data: str, event_id: int | None = None) -> None:
        transport = self.request.transport
        if transport is None or transport.is_closing():
            raise ClientGone
        lines = [f"event: {event}"]
        if event_id is not None:
            lines.append(f"id: {event_id}")
        lines += [f"data: {line}" for line in data.split("\n")]
        try:
            await self.response.write(("\n".join(lines) + "\n\n").encode())
        except (ConnectionResetError, RuntimeError) as error:
            raise ClientGone from error
        self.last_sent = time.monotonic()

    async def pump(self, *, final: bool) -> None:
        """Send the complete lines appended since the offset (and a last unfinished one when
        `final`); start again from the top when the file was replaced or truncated."""
        path = log_path(self.run)
        if path != self.path:
            self.path, self.offset = path, 0
            await self.send("reset", "")
        while True:
            result = read_range(self.path, self.offset, CHUNK_BYTES)
            if result is None:
                return
            data, size = result
            if size < self.offset:
                self.offset = 0
                await self.send("reset", "")
                continue
            end = data.rfind(b"\n") + 1
            if final or (end == 0 and len(data) == CHUNK_BYTES):
                end = len(data)  # the end, or one line longer than a chunk
            if end <= 0:
                return
            text = data[:end].decode("utf-8", "replace").removesuffix("\n")
            self.offset += end
            await self.send("log", self.redact(text), self.offset)
            if len(data) < CHUNK_BYTES:
                return

    async def follow(self) -> None:
        app = self.request.app
        services, shutting_down = app[SERVICES], app[SHUTTING_DOWN]
        poll = app[POLL_SECONDS]
        while True:
            current = await services.runs.get(self.run.id)
            active = current is not None and current.state.is_active
            if current is not None:
                self.run = current
            await self.pump(final=not active)
            if not active:
                state = current.state.value if current else "gone"
                await self.send("end", state)
                return
            if time.monotonic() - self.last_sent >= KEEPALIVE_SECONDS:
                await self.send("state", self.run.state.value)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(shutting_down.wait(), poll)
            if shutting_down.is_set():
                return


def start_offset(request: web.Request) -> int:
    """Where to start: `Last-Event-ID` (a reconnecting EventSource), else `?offset=`, else 0."""
    raw = request.headers.get("Last-Event-ID") or request.query.get("offset") or "0"
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise web.HTTPBadRequest(text="offset must be a whole number")
    return int(raw)


async def log_stream(request: web.Request) -> web.StreamResponse:
    """`GET /runs/{id}/log/stream`: events `log` (new lines; `id` is the byte offset), `reset`,
    `state` (a keep-alive) and `end` (the final state) after which the stream closes."""
    run_id = run_id_of(request)
    run = await request.app[SERVICES].runs.get(run_id) if run_id is not None else None
    if run is None:
        raise web.HTTPNotFound(text="no such run")
    offset = start_offset(request)
    streams = request.app[OPEN_STREAMS]
    if len(streams) >= MAX_STREAMS:
        raise web.HTTPServiceUnavailable(text="too many live streams open; try again later")
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
    )
    secure(response)
    await response.prepare(request)
    task = asyncio.current_task()
    assert task is not None
    streams.add(task)
    try:
        await LogStream(request, response, run, offset).follow()
    except ClientGone:
        pass
    finally:
        streams.discard(task)
    with contextlib.suppress(ConnectionResetError, RuntimeError):
        await response.write_eof()
    return response
