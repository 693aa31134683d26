"""Typed keys for what the aiohttp application holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.services import Services
    from bot.store.inbox import Inbox
    from bot.worker import InboxWorker

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
SERVICES: web.AppKey[Services] = web.AppKey("services")
INBOX: web.AppKey[Inbox] = web.AppKey("inbox")
WORKER: web.AppKey[InboxWorker] = web.AppKey("worker")
