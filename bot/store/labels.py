"""Per-issue label snapshots, for Gitea/Forgejo deliveries that only carry the full label list."""

from __future__ import annotations

import json

from bot.store.database import Database, now


class LabelSnapshots:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def get(self, forge: str, repo: str, number: int) -> tuple[str, ...] | None:
        row = await self.database.fetch_one(
            "SELECT labels FROM label_snapshots WHERE forge = ? AND repo = ? AND number = ?",
            (forge, repo, number),
        )
        return tuple(json.loads(row[0])) if row else None

    async def put(self, forge: str, repo: str, number: int, labels: tuple[str, ...]) -> None:
        await self.database.execute(
            "INSERT INTO label_snapshots (forge, repo, number, labels, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (forge, repo, number)"
            " DO UPDATE SET labels = excluded.labels, updated_at = excluded.updated_at",
            (forge, repo, number, json.dumps(sorted(labels)), now()),
        )
