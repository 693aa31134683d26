"""The webhook inbox: every accepted delivery is stored before it is acknowledged."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass

from bot.store.batch_writer import BatchWriter
from bot.store.database import Database, now


@dataclass(frozen=True)
class InboxRow:
    id: int
    forge: str
    delivery_id: str
    event: str
    event_type: str | None
    body: bytes


class Inbox:
    """Deliveries are written through `writer` when one is given (batched under load)."""

    def __init__(self, database: Database, writer: BatchWriter | None = None) -> None:
        self.database = database
        self.writer = writer

    async def _write(self, sql: str, parameters: tuple) -> int | None:
        if self.writer is not None:
            return await self.writer.execute(sql, parameters)
        cursor = await self.database.execute(sql, parameters)
        return cursor.lastrowid

    async def add(
        self, forge: str, delivery_id: str, event: str, event_type: str | None, body: bytes
    ) -> int | None:
        """Store a delivery; return its row id, or None when this delivery id was seen before."""
        try:
            return await self._write(
                "INSERT INTO inbox (forge, delivery_id, event, event_type, body, received_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (forge, delivery_id, event, event_type, body, now()),
            )
        except sqlite3.IntegrityError:
            return None

    async def get(self, row_id: int) -> InboxRow | None:
        row = await self.database.fetch_one(
            "SELECT id, forge, delivery_id, event, event_type, body FROM inbox WHERE id = ?",
            (row_id,),
        )
        return InboxRow(*row) if row else None

    async def unprocessed(self) -> list[InboxRow]:
        # The ids come from the (forge, delivery_id) index, which holds them: the bodies of
        # processed rows are not read.
        rows = await self.database.fetch_all(
            "SELECT id, forge, delivery_id, event, event_type, body FROM inbox WHERE id IN"
            " (SELECT id FROM inbox EXCEPT SELECT inbox_id FROM inbox_outcomes) ORDER BY id"
        )
        return [InboxRow(*row) for row in rows]

    async def mark_processed(self, row_id: int, outcome: str, error: str | None = None) -> None:
        await self._write(
            "INSERT INTO inbox_outcomes (inbox_id, processed_at, outcome, error)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (inbox_id) DO UPDATE SET"
            " processed_at = excluded.processed_at, outcome = excluded.outcome,"
            " error = excluded.error",
            (row_id, now(), outcome, error),
        )

    async def prune(self, processed_before: float, batch: int = 500) -> int:
        """Delete deliveries processed before `processed_before`; return how many.

        In batches, so that the shared connection is never held for long. Unprocessed rows
        are kept whatever their age: they are still to be processed. A trigger deletes each
        one's outcome with it.
        """
        deleted = 0
        while True:
            cursor = await self.database.execute(
                "DELETE FROM inbox WHERE id IN (SELECT inbox_id FROM inbox_outcomes"
                " WHERE processed_at < ? ORDER BY inbox_id LIMIT ?)",
                (processed_before, batch),
            )
            deleted += cursor.rowcount
            if cursor.rowcount < batch:
                return deleted

    async def outcome(self, forge: str, delivery_id: str) -> str | None:
        row = await self.database.fetch_one(
            "SELECT outcome FROM inbox JOIN inbox_outcomes ON inbox_outcomes.inbox_id = inbox.id"
            " WHERE forge = ? AND delivery_id = ?",
            (forge, delivery_id),
        )
        return row[0] if row else None

    async def claim_comment_action(
        self,
        forge: str,
        comment_kind: str,
        comment_id: int,
        action: str,
        body: str,
        delivery_id: str,
    ) -> bool:
        """Record a comment action; False when another delivery carried it before (a replay)."""
        body_hash = hashlib.sha256(body.encode()).hexdigest()
        try:
            await self.database.execute(
                "INSERT INTO comment_actions"
                " (forge, comment_kind, comment_id, action, body_hash, delivery_id, seen_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (forge, comment_kind, comment_id, action, body_hash, delivery_id, now()),
            )
        except sqlite3.IntegrityError:
            # Seen before: a replay, unless it is this same delivery being re-processed after
            # a crash, which must go on where it stopped.
            row = await self.database.fetch_one(
                "SELECT delivery_id FROM comment_actions WHERE forge = ? AND comment_kind = ?"
                " AND comment_id = ? AND action = ? AND body_hash = ?",
                (forge, comment_kind, comment_id, action, body_hash),
            )
            return row is not None and row[0] == delivery_id
        return True
