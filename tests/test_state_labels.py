"""State labels on the fake forge: exactly one `agent/…` label, created on the repo if missing."""

from __future__ import annotations

import aiohttp
import pytest

from bot.config.models import StateLabelsConfig
from bot.feedback.state_labels import sync_state_label, wanted_label
from bot.forge.factory import create_forge
from bot.store.runs import Run, RunState
from tests.fake_forge import FakeForge


@pytest.mark.parametrize(
    ("state", "label"),
    [
        (RunState.QUEUED, "agent/queued"),
        (RunState.RUNNING, "agent/running"),
        (RunState.BLOCKED, "agent/blocked"),
        (RunState.COMPLETED, "agent/done"),
        (RunState.FAILED, "agent/failed"),
        (RunState.CANCELLED, None),
    ],
)
def test_wanted_label(state: RunState, label: str | None) -> None:
    assert wanted_label(StateLabelsConfig(), state) == label


def run_in(state: RunState, repo: str) -> Run:
    return Run(
        id=1,
        forge="f",
        repo=repo,
        number=3,
        agent="codex",
        trigger="label",
        actor="a",
        state=state,
        created_at=0,
    )


@pytest.mark.parametrize("family", ["gitea", "github"])
async def test_one_state_label_follows_the_run(fake_forge: FakeForge, family: str) -> None:
    repo = "o/r"
    fake_forge.add_repo(repo, family=family)
    fake_forge.add_issue(repo, 3, "t", labels=("bug",))
    api_url = fake_forge.url + ("/api/v1" if family == "gitea" else "")
    async with aiohttp.ClientSession() as session:
        forge = create_forge(
            name="f",
            kind=family,
            session=session,
            api_url=api_url,
            token="test-token",
            bot_login="agent-bot",
        )
        config = StateLabelsConfig()
        for state in (
            RunState.QUEUED,
            RunState.RUNNING,
            RunState.BLOCKED,
            RunState.RUNNING,
            RunState.COMPLETED,
        ):
            await sync_state_label(config, forge, run_in(state, repo))
            labels = fake_forge.labels_on(repo, 3)
            assert sorted(labels) == sorted(["bug", wanted_label(config, state)])
        await sync_state_label(config, forge, run_in(RunState.CANCELLED, repo))
        assert fake_forge.labels_on(repo, 3) == ["bug"]
        await sync_state_label(
            StateLabelsConfig(enabled=False), forge, run_in(RunState.FAILED, repo)
        )
        assert fake_forge.labels_on(repo, 3) == ["bug"]
