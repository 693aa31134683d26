"""A running bot wired to the fake forge, with helpers to send signed deliveries."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from bot.app import FORGE_RETRY_POLICY, create_app
from bot.appkeys import SERVICES, WORKER
from bot.config import Settings
from bot.config.loader import parse_settings
from bot.forge.http import RetryPolicy
from bot.services import Services
from bot.store import open_database
from bot.store.flags import Flags
from tests.deliveries import signed_headers
from tests.fake_forge import FakeForge

SECRETS = {"forgejo": "forgejo-secret", "gitea": "gitea-secret", "github": "github-secret"}
TOKEN = "test-token"
BOT_LOGIN = "agent-bot"


def make_settings(tmp_path: Path, forge_url: str, **sections: Any) -> Settings:
    """Settings with three forges (forgejo, gitea, github) pointed at the fake forge."""
    raw: dict[str, Any] = {
        "database": {"path": str(tmp_path / "bot.sqlite3")},
        "forges": [
            {
                "name": kind,
                "kind": kind,
                "url": forge_url,
                "api_url": forge_url + ("" if kind == "github" else "/api/v1"),
                "token_env": "FORGE_TOKEN",
                "webhook_secret_env": f"{kind.upper()}_SECRET",
                "bot_login": BOT_LOGIN,
            }
            for kind in ("forgejo", "gitea", "github")
        ],
        "dispatch": {
            "workspace_root": str(tmp_path / "workspaces"),
            "mirror_root": str(tmp_path / "mirrors"),
        },
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    environ = {f"{kind.upper()}_SECRET": secret for kind, secret in SECRETS.items()}
    environ["FORGE_TOKEN"] = TOKEN
    return parse_settings(raw, environ, tmp_path)


class Bot:
    """The app under test behind a real HTTP client."""

    def __init__(self, client: TestClient, forge: FakeForge | None) -> None:
        self.client = client
        self.forge = forge

    @property
    def services(self) -> Services:
        return self.client.server.app[SERVICES]

    async def idle(self) -> None:
        await self.client.server.app[WORKER].idle()

    async def deliver(
        self,
        forge_name: str,
        payload: Any,
        event: str,
        event_type: str | None = None,
        *,
        delivery: str | None = None,
        secret: str | None = None,
        wait: bool = True,
    ) -> ClientResponse:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = signed_headers(
            forge_name, secret or SECRETS[forge_name], body, event, event_type, delivery
        )
        response = await self.client.post(f"/webhook/{forge_name}", data=body, headers=headers)
        if wait:
            await self.idle()
        return response


@contextlib.asynccontextmanager
async def running_bot(
    settings: Settings,
    forge: FakeForge | None = None,
    *,
    frozen: bool = False,
    retry_policy: RetryPolicy | None = None,
) -> AsyncIterator[Bot]:
    """The bot on a real port; `frozen` keeps runs queued (for tests of what comes before)."""
    if frozen:
        database = await open_database(settings.database.path)
        await Flags(database).set_frozen(True)
        await database.close()
    app = create_app(settings)
    if retry_policy is not None:
        app[FORGE_RETRY_POLICY] = retry_policy
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Bot(client, forge)
    finally:
        await client.close()
