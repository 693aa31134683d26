"""Groups concurrent small writes (inbox rows, their outcomes) into one transaction per batch.

Under load, many deliveries arrive at once; writing each through its own thread hop and commit
would make SQLite the bottleneck of the webhook endpoint. Writes queue here and a single
dedicated thread applies each batch in one transaction, each statement still answered alone
(its row id, or its own constraint error).
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

Statement = tuple[str, tuple[Any, ...]]


class BatchWriter:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._connection: sqlite3.Connection | None = None
        self._pending: list[tuple[Statement, asyncio.Future[int | None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def execute(self, sql: str, parameters: tuple[Any, ...] = ()) -> int | None:
        """Run one statement in the next batch; return its lastrowid (raises its own error)."""
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._pending.append(((sql, parameters), future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close_connection)
        self._executor.shutdown(wait=True)

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                results = await loop.run_in_executor(
                    self._executor, self._apply, [statement for statement, _ in batch]
                )
            except Exception as error:  # noqa: BLE001 - the whole batch failed: tell each waiter
                results = [error] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _apply(self, statements: list[Statement]) -> list[int | None | BaseException]:
        """On the writer thread: one transaction; a failing statement fails alone."""
        if self._connection is None:
            self._connection = sqlite3.connect(self.path, isolation_level=None)
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=NORMAL")
            self._connection.execute("PRAGMA busy_timeout=5000")
            self._connection.execute("PRAGMA wal_autocheckpoint=0")
        connection = self._connection
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

    def _close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
