"""The inbox worker: rows are processed in the background, after a burst of deliveries."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot.store import open_database
from bot.store.inbox import Inbox, InboxRow
from bot.worker import InboxWorker, IntakeActivity


async def test_a_gap_returns_at_once_when_nothing_is_being_received() -> None:
    activity = IntakeActivity()
    started = time.perf_counter()
    await activity.gap(5)
    assert time.perf_counter() - started < 0.5


async def test_a_gap_waits_for_the_deliveries_in_flight_and_no_longer() -> None:
    activity = IntakeActivity(quiet_seconds=0.01)
    activity.started()
    activity.started()
    waiting = asyncio.create_task(activity.gap(5))
    await asyncio.sleep(0.05)
    activity.finished()
    await asyncio.sleep(0.05)
    assert not waiting.done()  # one delivery is still being received
    activity.finished()
    await asyncio.wait_for(waiting, 1)


async def test_a_gap_waits_until_nothing_has_been_received_for_the_quiet_time() -> None:
    # Within a burst, nothing is in flight between two waves of deliveries: that is no gap yet.
    activity = IntakeActivity(quiet_seconds=1.0)
    activity.started()
    activity.finished()
    waiting = asyncio.create_task(activity.gap(10))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    activity.started()  # the next wave: the quiet time starts again from its end
    activity.finished()
    await asyncio.sleep(0.8)  # 1.1 s after the first wave, 0.8 s after the second
    assert not waiting.done()
    await asyncio.wait_for(waiting, 3)


async def test_a_gap_is_bounded_while_deliveries_keep_coming() -> None:
    activity = IntakeActivity()
    activity.started()
    started = time.perf_counter()
    await activity.gap(0.1)
    assert 0.09 <= time.perf_counter() - started < 2


async def test_rows_wait_for_the_burst_to_end_then_are_processed_and_marked(
    tmp_path: Path,
) -> None:
    database = await open_database(tmp_path / "bot.sqlite3")
    inbox = Inbox(database)
    handled: list[int] = []

    async def handle(row: InboxRow) -> str:
        handled.append(row.id)
        return "done"

    worker = InboxWorker(inbox, handle, burst_yield_seconds=10)
    await worker.start()
    worker.intake.started()  # a delivery is being received
    row_id = await inbox.add("f", "d1", "issues", None, b"{}")
    assert row_id is not None
    worker.submit(InboxRow(row_id, "f", "d1", "issues", None, b"{}"))
    await asyncio.sleep(0.1)
    assert handled == []  # acknowledging comes first
    worker.intake.finished()
    await asyncio.wait_for(worker.idle(), 5)
    assert handled == [row_id]
    assert await inbox.outcome("f", "d1") == "done"
    await worker.drain()
    await database.close()
