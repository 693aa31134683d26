"""Commands and label triggers end to end: signed delivery → permission → run row and replies."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from bot.commands import REGISTRY
from bot.reload import apply_reload
from bot.store.runs import RunState
from tests.deliveries import load_fixture
from tests.fake_forge import FakeForge
from tests.harness import BOT_LOGIN, Bot, make_settings

GITEA_REPO = "kostekIV/test"
GITHUB_REPO = "Codertocat/Hello-World"


def gitea_comment(fake: FakeForge, body: str, author: str = "alice", number: int = 3) -> dict:
    """The modern Gitea comment fixture, re-pointed at a comment that exists on the fake."""
    payload = copy.deepcopy(load_fixture("gitea/issue_comment.created.modern.json"))
    comment_id = fake.add_comment(GITEA_REPO, number, body, author)
    payload["comment"].update({"id": comment_id, "body": body})
    payload["comment"]["user"]["login"] = author
    payload["sender"]["login"] = author
    payload["issue"]["number"] = number
    return payload


def github_comment(fake: FakeForge, body: str, author: str = "alice") -> dict:
    payload = copy.deepcopy(load_fixture("github/issue_comment.created.json"))
    comment_id = fake.add_comment(GITHUB_REPO, 1, body, author)
    payload["comment"].update({"id": comment_id, "body": body})
    payload["comment"]["user"]["login"] = author
    payload["sender"]["login"] = author
    return payload


@pytest.fixture
def fake(fake_forge: FakeForge) -> FakeForge:
    fake_forge.add_repo(GITEA_REPO, family="gitea")
    fake_forge.add_issue(GITEA_REPO, 3, "Fix the README", "It has typos.", author="alice")
    fake_forge.add_repo(GITHUB_REPO, family="github")
    fake_forge.add_issue(GITHUB_REPO, 1, "Spelling error in the README file", "", author="alice")
    for repo in (GITEA_REPO, GITHUB_REPO):
        fake_forge.set_permission(repo, "alice", "write")
        fake_forge.set_permission(repo, "rita", "read")
    return fake_forge


def bodies(fake: FakeForge, repo: str, number: int) -> list[str]:
    return [c.body for c in fake.comments_on(repo, number) if c.author == BOT_LOGIN]


async def send_gitea(bot: Bot, payload: dict[str, Any]) -> None:
    response = await bot.deliver("gitea", payload, "issue_comment", "issue_comment")
    assert response.status == 202, await response.text()


async def test_dispatch_from_a_writer_queues_a_run_with_the_parsed_command(
    bot: Bot, fake: FakeForge
) -> None:
    body = (
        "/dispatch codex:gpt-5.4-mini template=security persona=careful-maintainer var.area=docs"
        "\nfix it\nplease"
    )
    payload = gitea_comment(fake, body)
    await send_gitea(bot, payload)
    [run] = await bot.services.runs.list()
    assert (run.forge, run.repo, run.number, run.is_pull_request) == ("gitea", GITEA_REPO, 3, False)
    assert (run.agent, run.model, run.template) == ("codex", "gpt-5.4-mini", "security")
    assert run.options == {"persona": "careful-maintainer", "variables": {"area": "docs"}}
    assert run.instructions == "fix it\nplease"
    assert run.task == "Test issue\n\nTest body"  # the issue title and body from the payload
    assert (run.state, run.trigger, run.actor) == (RunState.QUEUED, "comment", "alice")
    assert run.trigger_comment_id == payload["comment"]["id"]
    assert run.clone_url == payload["repository"]["clone_url"]
    # 👀 on the comment, then one status comment carrying the run's marker.
    assert fake.reactions_on(payload["comment"]["id"]) == ["eyes"]
    [status] = bodies(fake, GITEA_REPO, 3)
    assert f"<!-- agent-bot:run={run.id} -->" in status
    assert "> /dispatch codex:gpt-5.4-mini" in status and "@alice" in status
    assert run.status_comment_id is not None


async def test_dispatch_from_a_reader_is_refused_with_a_reply_and_no_run(
    bot: Bot, fake: FakeForge
) -> None:
    await send_gitea(bot, gitea_comment(fake, "/dispatch claude fix it", author="rita"))
    assert await bot.services.runs.list() == []
    [refusal] = bodies(fake, GITEA_REPO, 3)
    assert "@rita" in refusal and "`read`" in refusal and "`write`" in refusal
    assert "> /dispatch claude fix it" in refusal
    permission_calls = fake.calls_to(
        "GET", "/api/v1/repos/kostekIV/test/collaborators/rita/permission"
    )
    assert len(permission_calls) == 1


async def test_silent_refusal_posts_nothing(tmp_path, fake: FakeForge) -> None:
    from tests.harness import make_settings, running_bot

    settings = make_settings(tmp_path, fake.url, permissions={"on_refuse": "silent"})
    async with running_bot(settings, fake, frozen=True) as bot:
        await send_gitea(bot, gitea_comment(fake, "/dispatch claude x", author="rita"))
        assert bodies(fake, GITEA_REPO, 3) == []
        assert await bot.services.runs.list() == []


@pytest.mark.parametrize(
    ("permissions", "author", "allowed"),
    [
        ({"deny_users": ["alice"]}, "alice", False),
        ({"allow_users": ["rita"]}, "rita", True),
        ({"min_permission": "read"}, "rita", True),
        ({"min_permission": "admin"}, "alice", False),
        ({}, "helper[bot]", False),
        ({"allow_bots": ["helper[bot]"]}, "helper[bot]", True),
    ],
)
async def test_who_may_trigger(
    tmp_path, fake: FakeForge, permissions: dict, author: str, allowed: bool
) -> None:
    from tests.harness import make_settings, running_bot

    fake.set_permission(GITEA_REPO, "helper[bot]", "write")
    settings = make_settings(tmp_path, fake.url, permissions=permissions)
    async with running_bot(settings, fake, frozen=True) as bot:
        await send_gitea(bot, gitea_comment(fake, "/dispatch claude x", author=author))
        assert bool(await bot.services.runs.list()) is allowed


async def test_permission_is_cached(bot: Bot, fake: FakeForge) -> None:
    await send_gitea(bot, gitea_comment(fake, "/status"))
    await send_gitea(bot, gitea_comment(fake, "/status"))
    assert (
        len(fake.calls_to("GET", "/api/v1/repos/kostekIV/test/collaborators/alice/permission")) == 1
    )


async def test_help_replies_with_the_generated_help(bot: Bot, fake: FakeForge) -> None:
    await send_gitea(bot, gitea_comment(fake, "/help"))
    [help_reply] = bodies(fake, GITEA_REPO, 3)
    assert help_reply.startswith("> /help")
    for spec in REGISTRY.values():
        assert spec.usage in help_reply


async def test_bad_arguments_get_usage_and_no_run(bot: Bot, fake: FakeForge) -> None:
    await send_gitea(bot, gitea_comment(fake, "/dispatch nosuch:model fix"))
    [error] = bodies(fake, GITEA_REPO, 3)
    assert "unknown agent" in error and "Usage:" in error
    assert await bot.services.runs.list() == []


async def test_unknown_persona_gets_an_error_with_usage_and_no_run(
    bot: Bot, fake: FakeForge
) -> None:
    await send_gitea(bot, gitea_comment(fake, "/dispatch codex persona=nosuch fix"))
    [error] = bodies(fake, GITEA_REPO, 3)
    assert error.startswith("> /dispatch codex persona=nosuch fix")
    assert "unknown persona 'nosuch'" in error
    assert "careful-maintainer, test-first" in error
    assert f"Usage: `{REGISTRY['dispatch'].usage}`" in error and "@alice" in error
    assert await bot.services.runs.list() == []


async def test_templates_dir_names_are_accepted_after_a_reload(
    tmp_path: Path, bot: Bot, fake: FakeForge
) -> None:
    templates_dir = tmp_path / "templates"
    (templates_dir / "personas").mkdir(parents=True)
    (templates_dir / "house-style.md").write_text("Follow the house style.\n", encoding="utf-8")
    (templates_dir / "personas" / "release-manager.md").write_text("You ship.\n", "utf-8")
    body = "/dispatch codex template=house-style persona=release-manager fix it"
    await send_gitea(bot, gitea_comment(fake, body))
    [error] = bodies(fake, GITEA_REPO, 3)
    assert "unknown template 'house-style'" in error
    assert await bot.services.runs.list() == []

    dispatch = {"templates_dir": str(templates_dir)}
    await apply_reload(bot.services, make_settings(tmp_path, fake.url, dispatch=dispatch))
    await send_gitea(bot, gitea_comment(fake, body))
    [run] = await bot.services.runs.list()
    assert (run.template, run.options) == ("house-style", {"persona": "release-manager"})


async def test_unknown_slash_words_are_ignored(bot: Bot, fake: FakeForge) -> None:
    await send_gitea(bot, gitea_comment(fake, "/deploy now\n/lgtm"))
    assert bodies(fake, GITEA_REPO, 3) == []
    assert fake.calls_to("GET", "/api/v1/repos/kostekIV/test/collaborators/alice/permission") == []


async def test_the_bots_own_comments_are_dropped(bot: Bot, fake: FakeForge) -> None:
    await send_gitea(bot, gitea_comment(fake, "/dispatch claude loop", author=BOT_LOGIN))
    assert await bot.services.runs.list() == []
    assert len(fake.calls) == 0


async def test_busy_issue_rejects_a_second_dispatch_then_cancel_and_status(
    bot: Bot, fake: FakeForge
) -> None:
    await send_gitea(bot, gitea_comment(fake, "/dispatch claude one"))
    await send_gitea(bot, gitea_comment(fake, "/dispatch claude two"))
    runs = await bot.services.runs.list()
    assert len(runs) == 1
    assert "/cancel" in bodies(fake, GITEA_REPO, 3)[-1]
    await send_gitea(bot, gitea_comment(fake, "/cancel\n/status"))
    [run] = await bot.services.runs.list()
    assert run.state is RunState.CANCELLED and run.reason == "cancelled by @alice"
    cancel_reply, status_reply = bodies(fake, GITEA_REPO, 3)[-2:]
    assert f"cancelled run #{run.id}" in cancel_reply
    assert f"| #{run.id} | cancelled | `claude` |" in status_reply


async def test_edited_comment_counts_only_added_commands(bot: Bot, fake: FakeForge) -> None:
    payload = copy.deepcopy(load_fixture("gitea/issue_comment.edited.json"))
    comment_id = fake.add_comment(GITEA_REPO, 3, "x", "alice")
    payload["comment"].update({"id": comment_id, "body": "/status\n/dispatch claude go"})
    payload["comment"]["user"]["login"] = "alice"
    payload["sender"]["login"] = "alice"
    payload["changes"] = {"body": {"from": "/status"}}
    await bot.deliver("gitea", payload, "issue_comment", "issue_comment")
    [run] = await bot.services.runs.list()
    assert run.instructions == "go"
    assert not any(body.startswith("> /status") for body in bodies(fake, GITEA_REPO, 3))


async def test_github_label_added_dispatches_and_removed_cancels(bot: Bot, fake: FakeForge) -> None:
    fake.set_permission(GITHUB_REPO, "Codertocat", "admin")
    labeled = copy.deepcopy(load_fixture("github/issues.labeled.json"))
    labeled["label"]["name"] = "agent:claude"
    await bot.deliver("github", labeled, "issues")
    [run] = await bot.services.runs.list()
    assert (run.agent, run.trigger, run.actor, run.task) == (
        "claude",
        "label",
        "Codertocat",
        "Spelling error in the README file\n\nIt looks like you accidently spelled 'commit' with two 't's.",
    )
    unlabeled = copy.deepcopy(load_fixture("github/issues.unlabeled.json"))
    unlabeled["label"]["name"] = "agent:claude"
    await bot.deliver("github", unlabeled, "issues")
    [run] = await bot.services.runs.list()
    assert run.state is RunState.CANCELLED


async def test_gitea_label_snapshot_diff(bot: Bot, fake: FakeForge) -> None:
    repo = "a_nice_user/hello_world_ci"
    fake.add_repo(repo, family="gitea")
    fake.set_permission(repo, "a_nice_user", "write")
    payload = copy.deepcopy(load_fixture("gitea/pull_request.label_updated.json"))
    base_labels = payload["pull_request"]["labels"]
    # First sighting: bug + help wanted (not triggers). Then "dispatch" is added.
    await bot.deliver("gitea", payload, "pull_request", "pull_request_label")
    assert await bot.services.runs.list() == []
    payload["pull_request"]["labels"] = [
        *base_labels,
        {**base_labels[0], "id": 99, "name": "dispatch"},
    ]
    await bot.deliver("gitea", payload, "pull_request", "pull_request_label")
    [run] = await bot.services.runs.list()
    assert (run.agent, run.is_pull_request, run.number) == ("codex", True, 7)
    # The same full list again (e.g. another label edited) adds nothing new.
    await bot.deliver("gitea", payload, "pull_request", "pull_request_label")
    assert len(await bot.services.runs.list()) == 1
    # "dispatch" removed → the run is cancelled.
    payload["pull_request"]["labels"] = base_labels
    payload["action"] = "label_updated"
    await bot.deliver("gitea", payload, "pull_request", "pull_request_label")
    [run] = await bot.services.runs.list()
    assert run.state is RunState.CANCELLED
    assert await bot.services.labels.get("gitea", repo, 7) == ("bug", "help wanted")


async def test_github_comment_dispatch_uses_the_default_agent(bot: Bot, fake: FakeForge) -> None:
    payload = github_comment(fake, "/dispatch fix the flaky test")
    response = await bot.deliver("github", payload, "issue_comment")
    assert response.status == 202
    [run] = await bot.services.runs.list()
    assert (run.agent, run.model, run.instructions) == ("codex", None, "fix the flaky test")
    assert fake.reactions_on(payload["comment"]["id"]) == ["eyes"]


async def test_status_lists_the_runs_with_links_to_their_status_comment_and_page(
    tmp_path: Path, fake: FakeForge
) -> None:
    from tests.harness import running_bot

    settings = make_settings(tmp_path, fake.url, server={"public_url": "https://bot.example/"})
    async with running_bot(settings, fake, frozen=True) as bot:
        payload = gitea_comment(fake, "/dispatch claude fix it")
        await send_gitea(bot, payload)
        [run] = await bot.services.runs.list()
        await send_gitea(bot, gitea_comment(fake, "/status"))
    status_reply = bodies(fake, GITEA_REPO, 3)[-1]
    assert status_reply.startswith("> /status")
    assert f"| #{run.id} | queued | `claude` | comment by @alice |" in status_reply
    assert run.status_comment_id is not None
    issue_url = payload["repository"]["html_url"] + "/issues/3"  # Gitea sends no issue page
    assert f"[status]({issue_url}#issuecomment-{run.status_comment_id})" in status_reply
    assert f"[page](https://bot.example/runs/{run.id})" in status_reply
