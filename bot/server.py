"""Runs the application as a long-lived server, with the garbage collector set for one."""

from __future__ import annotations

import gc

from aiohttp import web

# Allocations between two young-generation collections (CPython's default is 700). Each
# delivery allocates a few hundred objects; collecting every two deliveries, and promoting the
# ones in flight, made the collector a large share of the intake's time.
YOUNG_GENERATION_THRESHOLD = 20_000


async def settle_heap(app: web.Application) -> None:
    """After start-up: what exists now (modules, schemas, settings) lives as long as the
    process, so it is moved out of the collector's way, and young collections are spaced."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, 20, 20)


def run_server(app: web.Application, host: str, port: int) -> None:
    app.on_startup.append(settle_heap)
    web.run_app(app, host=host, port=port, print=None)
