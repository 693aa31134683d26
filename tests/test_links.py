"""Links to a run's issue, pull request and status comment, for each kind of forge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.links import forge_web_url, issue_url, status_comment_url
from tests.harness import make_settings
from tests.test_messages import make_run

FORGE = "https://forge.example.org"


def settings_with(tmp_path: Path, **github: str) -> Settings:
    """The test settings (forges `forgejo` and `github`), the GitHub one's URLs replaced."""
    settings = make_settings(tmp_path, FORGE)
    forges = [
        forge.model_copy(update=github) if forge.kind == "github" else forge
        for forge in settings.forges
    ]
    return settings.model_copy(update={"forges": forges})


@pytest.mark.parametrize(
    ("github", "expected"),
    [
        ({"url": "", "api_url": ""}, "https://github.com"),
        ({"url": "", "api_url": "https://api.github.com"}, "https://github.com"),
        ({"url": "", "api_url": "https://ghe.example.com/api/v3"}, "https://ghe.example.com"),
        ({"url": "https://ghe.example.com/", "api_url": ""}, "https://ghe.example.com"),
    ],
)
def test_forge_web_url_of_github(tmp_path: Path, github: dict[str, str], expected: str) -> None:
    settings = settings_with(tmp_path, **github)
    assert forge_web_url(settings, "github") == expected
    assert forge_web_url(settings, "forgejo") == FORGE
    assert forge_web_url(settings, "gone") is None


GHE = {"url": "", "api_url": "https://ghe.example.com/api/v3"}


@pytest.mark.parametrize(
    ("run", "issue", "comment"),
    [
        ({"forge": "forgejo"}, f"{FORGE}/owner/repo/issues/3", None),
        (
            {"forge": "forgejo", "status_comment_id": 41},
            f"{FORGE}/owner/repo/issues/3",
            f"{FORGE}/owner/repo/issues/3#issuecomment-41",
        ),
        (
            {"forge": "forgejo", "is_pull_request": True, "status_comment_id": 41},
            f"{FORGE}/owner/repo/pulls/3",
            f"{FORGE}/owner/repo/pulls/3#issuecomment-41",
        ),
        (
            {"forge": "github", "is_pull_request": True, "status_comment_id": 41},
            "https://ghe.example.com/owner/repo/pull/3",
            "https://ghe.example.com/owner/repo/pull/3#issuecomment-41",
        ),
        (
            {"forge": "github", "status_comment_id": 41},
            "https://ghe.example.com/owner/repo/issues/3",
            "https://ghe.example.com/owner/repo/issues/3#issuecomment-41",
        ),
        ({"forge": "gone", "status_comment_id": 41}, None, None),
    ],
)
def test_issue_and_status_comment_urls(
    tmp_path: Path, run: dict[str, Any], issue: str | None, comment: str | None
) -> None:
    settings = settings_with(tmp_path, **GHE)
    assert issue_url(settings, make_run(**run)) == issue
    assert status_comment_url(settings, make_run(**run)) == comment
