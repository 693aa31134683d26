"""The long-lived objects the handlers share, built once per application."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.dispatcher import Dispatcher
from bot.forge.protocol import Forge
from bot.permissions import PermissionChecker
from bot.store.batch_writer import BatchWriter
from bot.store.database import Database
from bot.store.flags import Flags
from bot.store.inbox import Inbox
from bot.store.labels import LabelSnapshots
from bot.store.runs import Runs

if TYPE_CHECKING:
    from bot.engine.scheduler import Scheduler
    from bot.feedback.lifecycle import RunFeedback
    from bot.feedback.outbox import Outbox


@dataclass
class Services:
    settings: Settings
    database: Database
    inbox: Inbox
    runs: Runs
    labels: LabelSnapshots
    flags: Flags
    dispatcher: Dispatcher
    forges: dict[str, Forge] = field(default_factory=dict)
    permission_checkers: dict[str, PermissionChecker] = field(default_factory=dict)
    scheduler: Scheduler | None = None
    outbox: Outbox | None = None
    feedback: RunFeedback | None = None

    @classmethod
    def from_database(
        cls, settings: Settings, database: Database, writer: BatchWriter | None = None
    ) -> Services:
        runs = Runs(database)
        return cls(
            settings=settings,
            database=database,
            inbox=Inbox(database, writer),
            runs=runs,
            labels=LabelSnapshots(database, writer),
            flags=Flags(database),
            dispatcher=Dispatcher(runs, on_busy=settings.dispatch.on_busy),
        )

    def add_forge(self, forge: Forge) -> None:
        forge_config = self.settings.forge(forge.name)
        assert forge_config is not None, forge.name
        self.forges[forge.name] = forge
        self.permission_checkers[forge.name] = PermissionChecker(
            self.settings.permissions, forge_config, forge
        )
