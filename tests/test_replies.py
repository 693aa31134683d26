"""The `/status` table: one row per run, with the links a reader needs."""

from __future__ import annotations

import pytest

from bot.replies import run_links, status_table
from bot.store.runs import RunState
from tests.test_messages import make_run

ISSUE = "https://forge.example/o/r/issues/7"


@pytest.mark.parametrize(
    ("fields", "issue_url", "public_url", "expected"),
    [
        ({}, "", "", "–"),
        ({"status_comment_id": 55}, "", "", "–"),  # no issue address: no comment link
        ({"status_comment_id": 55}, ISSUE, "", f"[status]({ISSUE}#issuecomment-55)"),
        ({}, ISSUE, "", "–"),  # no status comment yet
        ({}, "", "https://bot.example/", "[page](https://bot.example/runs/7)"),
        (
            {"pr_url": "https://forge.example/o/r/pulls/9", "status_comment_id": 55},
            ISSUE,
            "https://bot.example",
            "[pull request](https://forge.example/o/r/pulls/9), "
            f"[status]({ISSUE}#issuecomment-55), [page](https://bot.example/runs/7)",
        ),
    ],
)
def test_run_links(
    fields: dict[str, object], issue_url: str, public_url: str, expected: str
) -> None:
    assert run_links(make_run(**fields), issue_url, public_url) == expected


def test_status_table_has_a_row_per_run_with_state_agent_duration_and_links() -> None:
    runs = [
        make_run(
            id=4,
            state=RunState.COMPLETED,
            model="gpt-5",
            started_at=1_700_000_000.0,
            finished_at=1_700_000_125.0,
            status_comment_id=60,
        ),
        make_run(id=3, state=RunState.FAILED, model=None),
    ]
    table = status_table(runs, ISSUE, "https://bot.example")
    lines = table.splitlines()
    assert lines[0] == "runs on this issue, newest first:"
    assert lines[2] == "| run | state | agent | trigger | duration | links |"
    assert lines[4].startswith("| #4 | completed | `codex:gpt-5` | comment by @alice | 2m 05s |")
    assert f"[status]({ISSUE}#issuecomment-60)" in lines[4]
    assert lines[5].startswith("| #3 | failed | `codex` |")
    assert "[page](https://bot.example/runs/3)" in lines[5]


def test_status_table_without_runs() -> None:
    assert status_table([]) == "there are no runs on this issue yet."


@pytest.mark.parametrize(
    ("issue_url", "repo_url", "expected"),
    [
        (
            "https://gh.example/o/r/issues/7",
            "https://gh.example/o/r",
            "https://gh.example/o/r/issues/7",
        ),
        ("", "https://forge.example/o/r", "https://forge.example/o/r/issues/7"),  # Gitea comments
        ("", "", ""),
    ],
)
def test_issue_page_falls_back_to_the_repository_page(
    issue_url: str, repo_url: str, expected: str
) -> None:
    from bot.events import CommentEvent, ForgeKind, RepositoryRef
    from bot.handlers.comments import issue_page

    event = CommentEvent(
        forge="forgejo",
        forge_kind=ForgeKind.FORGEJO,
        repo=RepositoryRef(
            full_name="o/r", clone_url="https://forge.example/o/r.git", html_url=repo_url
        ),
        number=7,
        html_url=issue_url,
        actor_login="alice",
        comment_id=1,
        comment_body="/status",
    )
    assert issue_page(event) == expected
