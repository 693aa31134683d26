"""Per-issue label snapshots, for Gitea/Forgejo deliveries that only carry the full label list."""

from __future__ import annotations

import json

from bot.store.batch_writer import BatchWriter
from bot.store.database import Database, now


class LabelSnapshots:
    """Reads go through the shared connection; writes through `writer` when one is given."""

    def __init__(self, database: Database, writer: BatchWriter | None = None) -> None:
        self.database = database
        self.writer = writer

    async def get(self, forge: str, repo: str, number: int) -> tuple[str, ...] | None:
        row = await self.database.fetch_one(
            "SELECT labels FROM label_snapshots WHERE forge = ? AND repo = ? AND number = ?",
            (forge, repo, number),
        )
        return tuple(json.loads(row[0])) if row else None

    async def put(self, forge: str, repo: str, number: int, labels: tuple[str, ...]) -> None:
        write = self.writer.execute if self.writer is not None else self.database.execute
        await write(
            "INSERT INTO label_snapshots (forge, repo, number, labels, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (forge, repo, number)"
            " DO UPDATE SET labels = excluded.labels, updated_at = excluded.updated_at",
            (forge, repo, number, json.dumps(sorted(labels)), now()),
        )
