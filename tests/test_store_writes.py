"""Storage under load: label snapshots swap atomically, the batch writer keeps the WAL bounded."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store import open_database
from bot.store.batch_writer import MAX_LOOP_BATCH, BatchWriter
from bot.store.database import Database
from bot.store.housekeeping import Housekeeping
from bot.store.inbox import Inbox
from bot.store.labels import LabelSnapshots

DATABASE_NAME = "bot.sqlite3"


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / DATABASE_NAME)
    yield database
    await database.close()


@pytest.fixture
async def writer(tmp_path: Path, database: Database) -> AsyncIterator[BatchWriter]:
    """The intake writer on the same file as `database` (closed first)."""
    writer = BatchWriter(tmp_path / DATABASE_NAME)
    yield writer
    await writer.close()


async def test_concurrent_exchanges_of_one_issue_each_see_the_previous_set(
    tmp_path: Path,
) -> None:
    path = tmp_path / DATABASE_NAME
    database = await open_database(path)
    writer = BatchWriter(path)
    labels = LabelSnapshots(database, writer)
    sets = [("a",), ("a", "b"), ("b",), (), ("c",)]
    previous = await asyncio.gather(*(labels.exchange("f", "o/r", 7, s) for s in sets))
    # Applied in submission order, each seeing the one before: no two diff against one set.
    assert previous == [None, ("a",), ("a", "b"), ("b",), ()]
    await writer.close()
    await database.close()

    database = await open_database(path)  # the last set survives a restart
    assert await LabelSnapshots(database).get("f", "o/r", 7) == ("c",)
    await database.close()


async def test_first_sighting_loads_from_the_database_once_for_concurrent_callers(
    database: Database,
) -> None:
    await LabelSnapshots(database).put("f", "o/r", 1, ("bug", "bug", "agent:codex"))
    labels = LabelSnapshots(database)
    previous = await asyncio.gather(
        labels.exchange("f", "o/r", 1, ("x",)), labels.exchange("f", "o/r", 1, ("y",))
    )
    assert previous == [("agent:codex", "bug"), ("x",)]
    assert await labels.get("f", "o/r", 2) is None


async def test_the_cache_is_bounded_and_an_evicted_issue_is_read_back(
    database: Database,
) -> None:
    labels = LabelSnapshots(database, cache_size=3)
    for number in range(1, 11):
        await labels.put("f", "o/r", number, (f"l{number}",))
    assert len(labels._cache) == 3
    assert await labels.get("f", "o/r", 1) == ("l1",)  # evicted long ago: from SQLite


async def test_the_write_ahead_log_stays_bounded_under_a_stream_of_deliveries(
    tmp_path: Path,
    database: Database,
    writer: BatchWriter,
) -> None:
    path = tmp_path / DATABASE_NAME
    wal = path.with_name(path.name + "-wal")
    inbox = Inbox(database, writer)
    body = b"x" * 5000  # about the size of a real delivery
    sizes = []
    for half in range(2):
        for start in range(half * 3000, half * 3000 + 3000, 100):
            await asyncio.gather(
                *(
                    inbox.add("f", f"delivery-{index}", "issues", None, body)
                    for index in range(start, start + 100)
                )
            )
        sizes.append(wal.stat().st_size)
    # Checkpoints run as the log grows and it is reused: the second half of the stream does
    # not make it grow (without checkpoints it would pass 100 MB here).
    assert sizes[1] <= sizes[0] * 1.5, sizes
    assert sizes[1] < 6000 * len(body) / 2, sizes


async def test_a_write_waits_on_the_writer_thread_while_another_connection_holds_the_lock(
    tmp_path: Path,
    database: Database,
    writer: BatchWriter,
) -> None:
    path = tmp_path / DATABASE_NAME
    inbox = Inbox(database, writer)
    assert await inbox.add("f", "before", "issues", None, b"{}") is not None
    assert writer.handed_to_thread == 0  # the lock was free: written on the loop

    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process, say, holds the write lock
    first = asyncio.create_task(inbox.add("f", "during-1", "issues", None, b"{}"))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(inbox.add("f", "during-2", "issues", None, b"{}"))
    await asyncio.sleep(0.2)
    assert not first.done() and not second.done()  # waiting for the lock, not lost or failed
    other.execute("COMMIT")
    first_id, second_id = await asyncio.wait_for(asyncio.gather(first, second), 10)
    assert first_id is not None and second_id is not None and first_id < second_id
    assert writer.handed_to_thread == 2
    assert await inbox.add("f", "during-1", "issues", None, b"{}") is None  # still de-duplicated
    assert await inbox.add("f", "after", "issues", None, b"{}") is not None
    assert writer.handed_to_thread == 2  # back on the loop once the queue drained
    other.close()


async def test_reads_on_the_shared_connection_leave_no_snapshot_open_for_its_writes(
    tmp_path: Path,
    database: Database,
) -> None:
    """Another connection (the intake writer) commits just before each write on the shared
    connection: a read left open across awaits by another coroutine would make that write
    fail at once with SQLITE_BUSY_SNAPSHOT."""
    path = tmp_path / DATABASE_NAME
    for number in range(20):
        await LabelSnapshots(database).put("f", "o/r", number, ("a",))
    intake = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    commits = 0

    def before_each_statement(sql: str) -> None:
        nonlocal commits
        if sql.startswith("INSERT INTO label_snapshots"):
            intake.execute(
                "INSERT INTO flags (name, value, updated_at) VALUES (?, '1', 0)",
                (f"flag-{commits}",),
            )
            commits += 1

    shared = database.connection  # its sqlite3 connection belongs to aiosqlite's thread
    await shared._execute(lambda: shared._conn.set_trace_callback(before_each_statement))

    async def reader_writer(worker: int) -> None:
        labels = LabelSnapshots(database)
        steps = random.Random(worker)  # the coroutines' reads and writes interleave unevenly
        for number in range(20):
            for _ in range(steps.randint(0, 3)):
                if steps.random() < 0.5:
                    await database.fetch_all("SELECT labels FROM label_snapshots")
                else:
                    await database.fetch_one("SELECT number FROM label_snapshots ORDER BY 1")
            await labels.put("f", f"o/w{worker}", number, ("b",))

    await asyncio.gather(*(reader_writer(worker) for worker in range(8)))
    assert commits == 160
    assert (await database.fetch_one("SELECT COUNT(*) FROM label_snapshots"))[0] == 180
    intake.close()


async def test_housekeeping_deletes_old_processed_deliveries_only(
    database: Database,
) -> None:
    inbox = Inbox(database)
    day = 86_400.0
    ages = {"old-done": 40, "old-pending": 40, "recent-done": 2}
    for name, age in ages.items():
        row_id = await inbox.add("f", name, "issues", None, b"{}")
        await database.execute(
            "UPDATE inbox SET received_at = ? WHERE id = ?", (time.time() - age * day, row_id)
        )
        if name.endswith("done"):
            await inbox.mark_processed(row_id, "no-trigger")
            await database.execute(
                "UPDATE inbox_outcomes SET processed_at = ? WHERE inbox_id = ?",
                (time.time() - age * day, row_id),
            )
    assert await Housekeeping(inbox, keep_days=None).run_once() == 0  # keeps everything
    assert await Housekeeping(inbox, keep_days=30).run_once() == 1
    kept = {row[0] for row in await database.fetch_all("SELECT delivery_id FROM inbox")}
    assert kept == {"old-pending", "recent-done"}  # never an unprocessed one
    assert [row.delivery_id for row in await inbox.unprocessed()] == ["old-pending"]


async def test_pruning_goes_in_batches_until_done(
    database: Database,
) -> None:
    inbox = Inbox(database)
    for index in range(25):
        row_id = await inbox.add("f", f"d{index}", "issues", None, b"{}")
        await inbox.mark_processed(row_id, "done")
    assert await inbox.prune(time.time() + 1, batch=10) == 25
    assert await database.fetch_all("SELECT id FROM inbox") == []
    assert await database.fetch_all("SELECT inbox_id FROM inbox_outcomes") == []  # went too


async def test_queued_statements_are_written_in_order(
    database: Database,
    writer: BatchWriter,
) -> None:
    first = writer.enqueue("INSERT INTO flags (name, value, updated_at) VALUES ('a', '1', 0)")
    assert not first.done()  # queued, not yet written
    await writer.execute("UPDATE flags SET value = '2' WHERE name = 'a'")
    assert first.done()  # awaiting a later statement means the earlier one was committed
    assert (await database.fetch_one("SELECT value FROM flags WHERE name = 'a'"))[0] == "2"


def _insert_flag(writer: BatchWriter, name: str) -> asyncio.Future[int | None]:
    return writer.enqueue("INSERT INTO flags (name, value, updated_at) VALUES (?, '1', 0)", (name,))


async def test_statements_arriving_over_several_turns_share_one_commit(
    database: Database,
    writer: BatchWriter,
) -> None:
    first = _insert_flag(writer, "a")
    await asyncio.sleep(0)  # a turn of the loop: the batch grew, so it is not committed yet
    assert not first.done()
    second = _insert_flag(writer, "b")
    await asyncio.sleep(0)
    assert not first.done()
    await first  # a turn that added nothing: the batch is committed, both statements at once
    assert second.done()
    rows = await database.fetch_all("SELECT name FROM flags ORDER BY name")
    assert [row[0] for row in rows] == ["a", "b"]


async def test_a_batch_that_keeps_growing_is_committed_at_its_size_limit(
    database: Database,
    writer: BatchWriter,
) -> None:
    futures = []
    for index in range(MAX_LOOP_BATCH + 10):  # a statement every turn: it never stops growing
        futures.append(_insert_flag(writer, f"flag-{index}"))
        await asyncio.sleep(0)
    assert all(future.done() for future in futures[:MAX_LOOP_BATCH])
    assert not any(future.done() for future in futures[MAX_LOOP_BATCH + 2 :])
    await asyncio.gather(*futures)
    count = await database.fetch_one("SELECT count(*) FROM flags")
    assert count[0] == MAX_LOOP_BATCH + 10


async def test_a_snapshot_evicted_before_its_write_is_committed_is_not_read_stale(
    database: Database,
    writer: BatchWriter,
) -> None:
    labels = LabelSnapshots(database, writer, cache_size=1)
    labels._remember(("f", "o/r", 1), None)  # seen before: no read needed
    labels._remember(("f", "o/r", 2), None)
    await labels.exchange("f", "o/r", 1, ("a",))  # write queued, not committed
    labels._remember(("f", "o/r", 2), None)  # evicts issue 1 in the same turn
    assert ("f", "o/r", 1) not in labels._cache
    assert await labels.get("f", "o/r", 1) == ("a",)


async def test_a_snapshot_that_cannot_be_saved_is_logged(
    database: Database,
    writer: BatchWriter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await database.execute("DROP TABLE label_snapshots")
    labels = LabelSnapshots(database, writer)
    labels._remember(("f", "o/r", 1), None)
    with caplog.at_level("ERROR", logger="bot.labels"):
        await labels.exchange("f", "o/r", 1, ("a",))
        for _ in range(100):  # the queued write is tried at the next turn of the loop
            if caplog.records:
                break
            await asyncio.sleep(0)
    assert [record.getMessage() for record in caplog.records] == ["label snapshot not saved"]
