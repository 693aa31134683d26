"""Shared pytest fixtures: the fake forge and a bot wired to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fake_forge import FakeForge, fake_forge_fixture  # noqa: F401
from tests.harness import BOT_LOGIN, TOKEN, Bot, make_settings, running_bot
from tests.web_world import web_fixture  # noqa: F401


@pytest.fixture
async def bot(tmp_path: Path, fake_forge: FakeForge) -> AsyncIterator[Bot]:
    fake_forge.add_token(TOKEN, BOT_LOGIN)
    settings = make_settings(tmp_path, fake_forge.url)
    async with running_bot(settings, fake_forge, frozen=True) as running:
        yield running
