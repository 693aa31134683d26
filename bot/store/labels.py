"""Per-issue label snapshots, for Gitea/Forgejo deliveries that only carry the full label list.

The last set seen for an issue is kept in memory (write-through, bounded) as well as in SQLite,
and `exchange` swaps it atomically: two deliveries about one issue, handled at once by the
inbox worker's consumers, see each other's change instead of both diffing against the same
stale set (which could dispatch one added label twice).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections import OrderedDict

import orjson

from bot.logs import get_logger, log_event
from bot.store.batch_writer import BatchWriter
from bot.store.database import Database, now

logger = get_logger("labels")

Key = tuple[str, str, int]
Snapshot = tuple[str, ...] | None  # None: the bot has never seen this issue
DEFAULT_CACHE_SIZE = 20_000


class LabelSnapshots:
    """Reads go through the shared connection; writes through `writer` when one is given."""

    def __init__(
        self,
        database: Database,
        writer: BatchWriter | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self.database = database
        self.writer = writer
        self.cache_size = cache_size
        self._cache: OrderedDict[Key, Snapshot] = OrderedDict()
        self._loading: dict[Key, asyncio.Future[None]] = {}
        self._unsaved: dict[Key, asyncio.Future[int | None]] = {}  # writes not yet committed

    async def get(self, forge: str, repo: str, number: int) -> Snapshot:
        key = (forge, repo, number)
        await self._ensure_cached(key)
        return self._cache.get(key)

    async def put(self, forge: str, repo: str, number: int, labels: tuple[str, ...]) -> None:
        await self.exchange(forge, repo, number, labels)

    async def exchange(
        self, forge: str, repo: str, number: int, labels: tuple[str, ...]
    ) -> Snapshot:
        """Store `labels` as the issue's set and return the set stored before, atomically."""
        key = (forge, repo, number)
        await self._ensure_cached(key)
        # No await between reading and replacing the cached set: this is the atomic step.
        previous = self._cache.get(key)
        stored = tuple(sorted(set(labels)))
        self._remember(key, stored)
        await self._write(key, stored)
        return previous

    async def _ensure_cached(self, key: Key) -> None:
        while key not in self._cache:
            loading = self._loading.get(key)
            if loading is not None:
                await asyncio.shield(loading)
                continue
            future = asyncio.get_running_loop().create_future()
            self._loading[key] = future
            try:
                self._remember(key, await self._read(key))
            finally:
                del self._loading[key]
                future.set_result(None)
        self._cache.move_to_end(key)

    def _remember(self, key: Key, labels: Snapshot) -> None:
        self._cache[key] = labels
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    async def _read(self, key: Key) -> Snapshot:
        unsaved = self._unsaved.get(key)
        if unsaved is not None:  # evicted before its write was committed: wait for it
            await asyncio.wait([unsaved])
        row = await self.database.fetch_one(
            "SELECT labels FROM label_snapshots WHERE forge = ? AND repo = ? AND number = ?",
            key,
        )
        return tuple(json.loads(row[0])) if row else None

    async def _write(self, key: Key, labels: tuple[str, ...]) -> None:
        """Through the writer, queued without waiting (a failure is logged): the delivery's
        outcome, recorded after it, goes in the same transaction or a later one, so a crash
        in between leaves the delivery unprocessed, to be processed again at start-up."""
        statement = (
            "INSERT INTO label_snapshots (forge, repo, number, labels, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (forge, repo, number)"
            " DO UPDATE SET labels = excluded.labels, updated_at = excluded.updated_at"
        )
        parameters = (*key, orjson.dumps(labels).decode(), now())
        if self.writer is None:
            await self.database.execute(statement, parameters)
            return
        future = self.writer.enqueue(statement, parameters)
        self._unsaved[key] = future
        future.add_done_callback(functools.partial(self._saved, key))

    def _saved(self, key: Key, future: asyncio.Future[int | None]) -> None:
        if self._unsaved.get(key) is future:
            del self._unsaved[key]
        if not future.cancelled() and future.exception() is not None:
            log_event(
                logger,
                logging.ERROR,
                "label snapshot not saved",
                forge=key[0],
                repo=key[1],
                issue=key[2],
                error=str(future.exception()),
            )
