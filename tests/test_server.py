"""The long-running server: its heap is settled after start-up; old deliveries are deleted."""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path

from aiohttp import web

from bot.server import YOUNG_GENERATION_THRESHOLD, settle_heap
from bot.store import open_database
from bot.store.inbox import Inbox
from tests.harness import make_settings, running_bot


async def test_the_server_settles_its_heap_after_start_up() -> None:
    before = gc.get_threshold()
    try:
        await settle_heap(web.Application())
        assert gc.get_freeze_count() > 1000  # modules, classes, schemas: out of the way
        assert gc.get_threshold()[0] == YOUNG_GENERATION_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


async def test_the_app_deletes_old_processed_deliveries_when_it_starts(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "http://127.0.0.1:9")
    database = await open_database(settings.database.path)
    inbox = Inbox(database)
    for name, age_days in (("ancient", 31), ("fresh", 1)):
        row_id = await inbox.add("forgejo", name, "issues", None, b"{}")
        await inbox.mark_processed(row_id, "no-trigger")
        await database.execute(
            "UPDATE inbox_outcomes SET processed_at = ? WHERE inbox_id = ?",
            (time.time() - age_days * 86_400, row_id),
        )
    await database.close()
    async with running_bot(settings) as bot:
        for _ in range(100):
            rows = await bot.services.database.fetch_all("SELECT delivery_id FROM inbox")
            if len(rows) == 1:
                break
            await asyncio.sleep(0.02)
        assert [row[0] for row in rows] == ["fresh"]
