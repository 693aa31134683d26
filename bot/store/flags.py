"""Small persistent switches (freeze) and per-pool backoff state."""

from __future__ import annotations

from dataclasses import dataclass

from bot.store.database import Database, now


@dataclass(frozen=True)
class PoolBackoff:
    pool: str
    failure_count: int
    paused_until: float | None


class Flags:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def get(self, name: str) -> str | None:
        row = await self.database.fetch_one("SELECT value FROM flags WHERE name = ?", (name,))
        return row[0] if row else None

    async def set(self, name: str, value: str) -> None:
        await self.database.execute(
            "INSERT INTO flags (name, value, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
            " updated_at = excluded.updated_at",
            (name, value, now()),
        )

    async def is_frozen(self) -> bool:
        return await self.get("frozen") == "1"

    async def set_frozen(self, frozen: bool) -> None:
        await self.set("frozen", "1" if frozen else "0")

    async def backoff(self, pool: str) -> PoolBackoff:
        row = await self.database.fetch_one(
            "SELECT pool, failure_count, paused_until FROM pool_backoff WHERE pool = ?", (pool,)
        )
        return PoolBackoff(*row) if row else PoolBackoff(pool, 0, None)

    async def all_backoffs(self) -> list[PoolBackoff]:
        rows = await self.database.fetch_all(
            "SELECT pool, failure_count, paused_until FROM pool_backoff ORDER BY pool"
        )
        return [PoolBackoff(*row) for row in rows]

    async def set_backoff(self, pool: str, failure_count: int, paused_until: float | None) -> None:
        await self.database.execute(
            "INSERT INTO pool_backoff (pool, failure_count, paused_until, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (pool) DO UPDATE SET"
            " failure_count = excluded.failure_count, paused_until = excluded.paused_until,"
            " updated_at = excluded.updated_at",
            (pool, failure_count, paused_until, now()),
        )
