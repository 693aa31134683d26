"""SQLite storage: the webhook inbox, runs, label snapshots, pool backoff and flags."""

from bot.store.database import Database, open_database

__all__ = ["Database", "open_database"]
