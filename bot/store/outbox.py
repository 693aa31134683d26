"""The outbox table: forge writes waiting to be delivered, kept across outages and restarts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiosqlite

from bot.store.database import Database

# The payload keys each operation needs (see bot.feedback.outbox for what they do).
REQUIRED_KEYS: dict[str, frozenset[str]] = {
    "comment.upsert": frozenset({"repo", "number", "run_id", "body"}),
    "comment.create": frozenset({"repo", "number", "body"}),
    "stopwatch.stop": frozenset({"repo", "number"}),
    "times.add": frozenset({"repo", "number", "seconds"}),
    "labels.add": frozenset({"repo", "number", "names"}),
    "labels.remove": frozenset({"repo", "number", "name"}),
    "reaction.add": frozenset({"repo", "comment_id", "comment_kind", "reaction"}),
}


def check_payload(operation: str, payload: Mapping[str, Any]) -> None:
    """Raise ValueError for an unknown operation or a payload missing a key it needs."""
    required = REQUIRED_KEYS.get(operation)
    if required is None:
        raise ValueError(f"unknown outbox operation {operation!r}")
    missing = required - payload.keys()
    if missing:
        raise ValueError(f"{operation} payload lacks {sorted(missing)}")


def encode_payload(payload: Mapping[str, Any]) -> str:
    """The stored form of a payload; sorted keys so equal payloads have equal text."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class OutboxEntry:
    """One pending forge write (a row of the outbox table)."""

    id: int
    run_id: int | None
    forge: str
    operation: str
    dedupe_key: str | None
    payload: dict[str, Any]
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> OutboxEntry:
        values = dict(row)
        values["payload"] = json.loads(values["payload"])
        return cls(**values)

    @property
    def ordering_key(self) -> str:
        """Entries sharing this key are delivered one at a time, oldest first."""
        if self.run_id is not None:
            return f"run:{self.run_id}"
        if self.dedupe_key is not None:
            return f"key:{self.dedupe_key}"
        return f"entry:{self.id}"


class OutboxStore:
    """Reads and writes the outbox table; no forge calls here."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def put(
        self,
        forge: str,
        operation: str,
        payload: Mapping[str, Any],
        *,
        run_id: int | None,
        dedupe_key: str | None,
        now: float,
    ) -> OutboxEntry:
        """Add an entry due at once; one with the same `dedupe_key` is replaced in place
        (it keeps its place in the queue and its retry schedule, and takes the new payload)."""
        row = await self.database.fetch_one(
            "INSERT INTO outbox"
            " (run_id, forge, operation, dedupe_key, payload, next_attempt_at, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (dedupe_key) DO UPDATE SET run_id = excluded.run_id,"
            " forge = excluded.forge, operation = excluded.operation,"
            " payload = excluded.payload"
            " RETURNING *",
            (run_id, forge, operation, dedupe_key, encode_payload(payload), now, now),
        )
        assert row is not None
        return OutboxEntry.from_row(row)

    async def get(self, entry_id: int) -> OutboxEntry | None:
        row = await self.database.fetch_one("SELECT * FROM outbox WHERE id = ?", (entry_id,))
        return OutboxEntry.from_row(row) if row else None

    async def all(self) -> list[OutboxEntry]:
        """Every pending entry, oldest first."""
        rows = await self.database.fetch_all("SELECT * FROM outbox ORDER BY id")
        return [OutboxEntry.from_row(row) for row in rows]

    async def queue_before(self, entry: OutboxEntry) -> list[OutboxEntry]:
        """The entries with `entry`'s ordering key up to and including it, oldest first."""
        if entry.run_id is None and entry.dedupe_key is None:
            return [entry]
        if entry.run_id is not None:
            where, parameters = "run_id = ?", (entry.run_id,)
        else:
            where, parameters = "run_id IS NULL AND dedupe_key = ?", (entry.dedupe_key,)
        rows = await self.database.fetch_all(
            f"SELECT * FROM outbox WHERE {where} AND id < ? ORDER BY id", (*parameters, entry.id)
        )
        return [*(OutboxEntry.from_row(row) for row in rows), entry]

    async def remove(self, entry: OutboxEntry) -> bool:
        """Delete a delivered (or dropped) entry, unless its payload was replaced meanwhile (the
        newer payload still has to go out). True when deleted."""
        cursor = await self.database.execute(
            "DELETE FROM outbox WHERE id = ? AND payload = ?",
            (entry.id, encode_payload(entry.payload)),
        )
        return cursor.rowcount == 1

    async def postpone(self, entry_id: int, *, next_attempt_at: float, error: str) -> None:
        """Count a failed attempt and schedule the next one."""
        await self.database.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?"
            " WHERE id = ?",
            (next_attempt_at, error[:2000], entry_id),
        )

    async def status_comment_id(self, run_id: int) -> int | None:
        row = await self.database.fetch_one(
            "SELECT status_comment_id FROM runs WHERE id = ?", (run_id,)
        )
        return int(row[0]) if row and row[0] is not None else None

    async def set_status_comment_id(self, run_id: int, comment_id: int) -> None:
        await self.database.execute(
            "UPDATE runs SET status_comment_id = ? WHERE id = ?", (comment_id, run_id)
        )
