"""Writes intake's small, frequent rows (inbox rows, outcomes, label snapshots) to SQLite.

Statements normally run on a connection owned by the event loop, in batches: a batch is
committed at the first turn of the loop that added nothing to it (or once it holds
`MAX_LOOP_BATCH` statements), so the deliveries of a burst, which arrive over a few turns,
share one transaction. In WAL mode with `synchronous=NORMAL` that appends to the log without
an fsync, in tens of microseconds, which is cheaper than handing it to a thread and back. That
connection never waits for a lock (`busy_timeout=0`): while another connection holds the write
lock, the batch, and every statement after it until they are written, goes to a dedicated
thread that applies them in batches (one transaction each) and may wait for the lock.
Checkpoints, which copy the log back into the database and fsync it, also run on that thread
(writes queue behind them meanwhile), so the log stays bounded without stalling the loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

Statement = tuple[str, tuple[Any, ...]]
# Statements written on the loop between two checkpoints (each adds a page or more to the log;
# SQLite's own automatic checkpoint comes every 1000 pages).
CHECKPOINT_EVERY = 1000
# Statements committed together on the loop at most. A commit writes each page its batch touched
# once: 16 inbox rows committed together cost about half as much each as 16 commits of one.
MAX_LOOP_BATCH = 64
_LOCK_ERRORS = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
# Page cache of each writer connection, in KiB (SQLite's default is 2 MiB). The index of
# delivery ids takes random pages; with the default they were read back from disk under load.
CACHE_KIB = 16_384


class BatchWriter:
    def __init__(self, path: Path | str, checkpoint_every: int = CHECKPOINT_EVERY) -> None:
        self.path = str(path)
        self.checkpoint_every = checkpoint_every
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._loop_connection: sqlite3.Connection | None = None
        self._thread_connection: sqlite3.Connection | None = None
        self._pending: list[tuple[Statement, asyncio.Future[int | None]]] = []  # for the thread
        self._loop_batch: list[tuple[Statement, asyncio.Future[int | None]]] = []
        self._loop_batch_seen = 0  # its size when the loop last looked at it
        self._flusher: asyncio.Task[None] | None = None
        self._checkpointer: asyncio.Future[None] | None = None
        self._written_since_checkpoint = 0
        self.handed_to_thread = 0  # statements that found the lock taken (for tests and stats)

    async def execute(self, sql: str, parameters: tuple[Any, ...] = ()) -> int | None:
        """Write one statement; return its lastrowid (raises its own error, e.g. a conflict)."""
        return await self.enqueue(sql, parameters)

    def enqueue(self, sql: str, parameters: tuple[Any, ...] = ()) -> asyncio.Future[int | None]:
        """Queue one statement without waiting for it: the future gets its lastrowid or error.

        Statements are written in the order they are queued, so awaiting a later one means
        this one was committed before it, or in the same transaction.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int | None] = loop.create_future()
        if self._loop_may_write():
            self._loop_batch.append(((sql, parameters), future))
            if len(self._loop_batch) == 1:
                self._loop_batch_seen = 0
                loop.call_soon(self._commit_when_settled)
        else:
            self._hand_to_thread([((sql, parameters), future)])
        return future

    def _loop_may_write(self) -> bool:
        """Nothing queued for the thread (order is kept) and no checkpoint running (one that
        races new writes never finishes, and the log then grows instead of being reused)."""
        return not self._thread_busy() and (self._checkpointer is None or self._checkpointer.done())

    def _thread_busy(self) -> bool:
        return bool(self._pending) or not (self._flusher is None or self._flusher.done())

    def _hand_to_thread(self, batch: list[tuple[Statement, asyncio.Future[int | None]]]) -> None:
        self.handed_to_thread += len(batch)
        if not self._thread_busy():
            self._flusher = asyncio.create_task(self._flush())
        self._pending.extend(batch)

    async def close(self) -> None:
        while self._loop_batch or self._thread_busy():
            if self._flusher is not None and not self._flusher.done():
                await asyncio.gather(self._flusher, return_exceptions=True)
            else:
                await asyncio.sleep(0)  # the batch is committed once it stops growing
        if self._checkpointer is not None:
            await asyncio.gather(self._checkpointer, return_exceptions=True)
        if self._loop_connection is not None:
            self._loop_connection.close()
            self._loop_connection = None
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close_thread)
        self._executor.shutdown(wait=True)

    def _commit_when_settled(self) -> None:
        """Commit the loop's batch, unless it grew since the last turn (deliveries are still
        arriving together): then look again at the next turn."""
        size = len(self._loop_batch)
        if size != self._loop_batch_seen and size < MAX_LOOP_BATCH:
            self._loop_batch_seen = size
            asyncio.get_running_loop().call_soon(self._commit_when_settled)
            return
        self._commit_loop_batch()

    def _commit_loop_batch(self) -> None:
        batch, self._loop_batch = self._loop_batch, []
        try:
            results = self._apply(self._connect_loop(), [statement for statement, _ in batch])
        except sqlite3.OperationalError as error:
            if getattr(error, "sqlite_errorcode", None) in _LOCK_ERRORS:
                self._hand_to_thread(batch)  # another connection writes: wait on the thread
                return
            results = [error] * len(batch)
        except Exception as error:  # noqa: BLE001 - the whole batch failed: tell each waiter
            results = [error] * len(batch)
        _settle(batch, results)
        self._written_since_checkpoint += len(batch)
        if self._written_since_checkpoint >= self.checkpoint_every:
            self._written_since_checkpoint = 0
            loop = asyncio.get_running_loop()
            self._checkpointer = loop.run_in_executor(self._executor, self._checkpoint)

    def _connect_loop(self) -> sqlite3.Connection:
        if self._loop_connection is None:
            # Never waits for a lock; checkpoints run on the thread instead.
            self._loop_connection = _connect(self.path, busy_timeout_ms=0, autocheckpoint=0)
        return self._loop_connection

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                results = await loop.run_in_executor(
                    self._executor, self._apply_on_thread, [statement for statement, _ in batch]
                )
            except Exception as error:  # noqa: BLE001 - the whole batch failed: tell each waiter
                results = [error] * len(batch)
            _settle(batch, results)

    def _connect_thread(self) -> sqlite3.Connection:
        if self._thread_connection is None:
            self._thread_connection = _connect(self.path, busy_timeout_ms=5000)
        return self._thread_connection

    def _apply_on_thread(self, statements: list[Statement]) -> list[int | None | BaseException]:
        return self._apply(self._connect_thread(), statements)

    @staticmethod
    def _apply(
        connection: sqlite3.Connection, statements: list[Statement]
    ) -> list[int | None | BaseException]:
        """One transaction; a failing statement fails alone."""
        results: list[int | None | BaseException] = []
        connection.execute("BEGIN IMMEDIATE")
        try:
            for sql, parameters in statements:
                try:
                    results.append(connection.execute(sql, parameters).lastrowid)
                except sqlite3.IntegrityError as error:
                    results.append(error)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return results

    def _checkpoint(self) -> None:
        """On the writer thread: copy what the log holds into the database (never blocks
        writers; the log is then reused from its start)."""
        self._connect_thread().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _close_thread(self) -> None:
        if self._thread_connection is not None:
            self._thread_connection.close()
            self._thread_connection = None


def _settle(
    batch: list[tuple[Statement, asyncio.Future[int | None]]],
    results: list[int | None | BaseException],
) -> None:
    for (_, future), result in zip(batch, results, strict=True):
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


def _connect(
    path: str, *, busy_timeout_ms: int, autocheckpoint: int | None = None
) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    connection.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    if autocheckpoint is not None:
        connection.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}")
    return connection
