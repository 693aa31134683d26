"""The aiosqlite connection, its pragmas and the migration runner."""

from __future__ import annotations

import time
from pathlib import Path

import aiosqlite

from bot.store.migrations import MIGRATIONS


class Database:
    """One shared connection in autocommit mode; aiosqlite serialises statements on its thread.

    Each statement commits by itself (one thread hop, no separate COMMIT), so a change that
    must be atomic is made in one statement (as `Runs.claim_for_start` does) or by a trigger
    (as a deleted delivery's outcome goes with it).
    """

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self.connection = connection

    async def execute(self, sql: str, parameters: tuple | dict = ()) -> aiosqlite.Cursor:
        return await self.connection.execute(sql, parameters)

    # Reads run to completion in one call on the connection's thread. A statement left open
    # across awaits (execute, then fetch, then close) would hold a read snapshot while other
    # coroutines' writes run on the same connection; once another connection (the intake
    # writer) commits, such a write fails at once with SQLITE_BUSY_SNAPSHOT.

    async def fetch_one(self, sql: str, parameters: tuple | dict = ()) -> aiosqlite.Row | None:
        rows = await self.connection.execute_fetchall(sql, parameters)
        return next(iter(rows), None)

    async def fetch_all(self, sql: str, parameters: tuple | dict = ()) -> list[aiosqlite.Row]:
        return list(await self.connection.execute_fetchall(sql, parameters))

    async def ping(self) -> bool:
        row = await self.fetch_one("SELECT 1")
        return row is not None

    async def schema_version(self) -> int:
        row = await self.fetch_one("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def close(self) -> None:
        await self.connection.close()


async def migrate(database: Database) -> int:
    """Apply the migrations the file has not seen; return the resulting version."""
    version = await database.schema_version()
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        await database.connection.executescript(
            f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
        )
    return await database.schema_version()


async def open_database(path: Path | str) -> Database:
    """Open (creating folders as needed) and migrate the database at `path`."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    connection = await aiosqlite.connect(str(path), isolation_level=None)
    connection.row_factory = aiosqlite.Row
    pragmas = ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=5000")
    for pragma in pragmas:
        await connection.execute_fetchall(f"PRAGMA {pragma}")
    database = Database(connection)
    await migrate(database)
    return database


def now() -> float:
    """Wall-clock seconds; one place so tests can reason about stored times."""
    return time.time()
