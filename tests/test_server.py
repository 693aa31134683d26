"""The long-running server: its garbage collector is set for a server after start-up."""

from __future__ import annotations

import gc

from aiohttp import web

from bot.server import YOUNG_GENERATION_THRESHOLD, settle_heap


async def test_the_server_settles_its_heap_after_start_up() -> None:
    before = gc.get_threshold()
    try:
        await settle_heap(web.Application())
        assert gc.get_freeze_count() > 1000  # modules, classes, schemas: out of the way
        assert gc.get_threshold()[0] == YOUNG_GENERATION_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
