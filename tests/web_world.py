"""A bot for the web tests: an admin token, and runs in every state written straight to the store."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from bot.app import create_app
from bot.appkeys import SERVICES
from bot.config import Settings
from bot.engine.transitions import status_document
from bot.engine.workspace import write_status
from bot.services import Services
from bot.store.runs import Run, RunState
from bot.web.keys import POLL_SECONDS
from tests.fake_forge import FakeForge
from tests.harness import make_settings

ADMIN_TOKEN = "admin-secret-123456"
BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LEAKED = "ghp_" + "A1b2C3d4" * 5  # a GitHub token shape an agent might print
REPO = "kostekIV/test"


def with_admin_token(settings: Settings, token: str | None = ADMIN_TOKEN) -> Settings:
    secret = SecretStr(token) if token else None
    server = settings.server.model_copy(update={"admin_token": secret})
    return settings.model_copy(update={"server": server})


@contextlib.asynccontextmanager
async def serving(settings: Settings, *, poll_seconds: float = 0.05) -> AsyncIterator[TestClient]:
    """The whole app on a real port of 127.0.0.1, with a quick live-tail poll."""
    app = create_app(settings)
    app[POLL_SECONDS] = poll_seconds
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def services_of(client: TestClient) -> Services:
    return client.server.app[SERVICES]


@dataclass
class Seeded:
    completed: Run
    blocked: Run
    failed: Run
    running: Run
    behind_limit: Run
    behind_issue: Run
    behind_pause: Run
    cancelled: Run
    log: Path
    prompt: Path

    def append(self, text: str) -> None:
        with self.log.open("a", encoding="utf-8") as file:
            file.write(text)


async def seed(services: Services, root: Path) -> Seeded:
    """Runs in every state. With `concurrency: {claude: 1}` and gemini paused, the queued ones
    wait for three different reasons, so an unfrozen scheduler starts none of them."""
    runs = services.runs
    base = {"forge": "forgejo", "repo": REPO, "trigger": "comment", "actor": "alice"}
    started = time.time() - 300
    base["created_at"] = started - 10
    completed = await runs.create(
        **base,
        number=1,
        agent="codex",
        model="gpt-5.4-mini",
        task="Fix the README <script>alert('owned')</script>",
        state=RunState.COMPLETED,
        started_at=started,
        finished_at=started + 125,
        pr_url="https://forge.example.org/kostekIV/test/pulls/9",
        status_comment_id=77,
        final_message=f"All done. The token was {LEAKED}",
        diff_stat=" README.md | 1 +",
        exit_code=0,
    )
    blocked = await runs.create(
        **base, number=2, agent="claude", task="Add a CLI", state=RunState.BLOCKED,
        question="Which file should hold it?", started_at=started, finished_at=started + 30,
    )  # fmt: skip
    failed = await runs.create(
        **base, number=3, agent="gemini", task="Speed it up", state=RunState.FAILED,
        reason="exit code 1", exit_code=1, started_at=started, finished_at=started + 20,
    )  # fmt: skip
    cancelled = await runs.create(
        forge="github", repo="octo/hello", number=7, is_pull_request=True, agent="claude",
        trigger="label", actor="bob", task="Review this", state=RunState.CANCELLED,
        reason="cancelled by @bob", status_comment_id=5,
    )  # fmt: skip
    workspace = root / "workspaces" / "run-running"
    meta = workspace / ".meta"
    meta.mkdir(parents=True)
    log, prompt = meta / "agent-claude.log", meta / "prompt.md"
    log.write_text("claude working in /workspace/repo\nreading README.md\n")
    prompt.write_text(f"# Issue 4: Write docs\n\nPlease write the docs. {LEAKED}\n")
    running = await runs.create(
        **base, number=4, agent="claude", task="Write docs", state=RunState.RUNNING,
        started_at=time.time() - 42, workspace_path=str(workspace), branch="agent/issue-4",
    )  # fmt: skip
    write_status(meta, status_document(running))  # as the engine's `record` does
    behind_limit = await runs.create(**base, number=5, agent="claude", task="Another")
    behind_issue = await runs.create(**base, number=4, agent="codex", task="Same issue")
    await services.flags.set_backoff("gemini", 3, time.time() + 1800)
    behind_pause = await runs.create(**base, number=6, agent="gemini", task="Paused pool")
    return Seeded(
        completed,
        blocked,
        failed,
        running,
        behind_limit,
        behind_issue,
        behind_pause,
        cancelled,
        log,
        prompt,
    )


async def until(condition, timeout: float = 10.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def json_of(response: ClientResponse, status: int = 200) -> dict:
    assert response.status == status, await response.text()
    return await response.json()


async def read_event(response: ClientResponse) -> tuple[str, str]:
    event, data = "", []
    while True:
        line = (await asyncio.wait_for(response.content.readline(), 5)).decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif not line and event:
            return event, "\n".join(data)


@pytest.fixture(name="web")
async def web_fixture(
    tmp_path: Path, fake_forge: FakeForge
) -> AsyncIterator[tuple[TestClient, Seeded]]:
    """A served bot with an admin token, a one-run limit for claude, and seeded runs."""
    settings = with_admin_token(make_settings(tmp_path, fake_forge.url, concurrency={"claude": 1}))
    async with serving(settings) as client:
        yield client, await seed(services_of(client), tmp_path)
