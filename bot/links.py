"""Links to a run's issue or pull request and to the bot's status comment on the forge."""

from __future__ import annotations

from urllib.parse import urlsplit

from bot.config import Settings
from bot.events import ForgeKind
from bot.store.runs import Run


def forge_web_url(settings: Settings, forge_name: str) -> str | None:
    """The forge's web root: its `url`, or what its API URL implies (github.com by default)."""
    forge = settings.forge(forge_name)
    if forge is None:
        return None
    if forge.url:
        return forge.url.rstrip("/")
    if forge.kind is ForgeKind.GITHUB:
        api = forge.api_url.rstrip("/")
        if not api or urlsplit(api).hostname == "api.github.com":
            return "https://github.com"
        return api.removesuffix("/api/v3")
    return forge.api_url.rstrip("/").removesuffix("/api/v1") or None


def issue_url(settings: Settings, run: Run) -> str | None:
    """The run's issue or pull request on the forge (GitHub: `/pull/N`; Gitea, Forgejo:
    `/pulls/N`), or None when its forge is no longer configured."""
    root = forge_web_url(settings, run.forge)
    forge = settings.forge(run.forge)
    if not root or forge is None:
        return None
    if run.is_pull_request:
        kind = "pull" if forge.kind is ForgeKind.GITHUB else "pulls"
    else:
        kind = "issues"
    return f"{root}/{run.repo}/{kind}/{run.number}"


def status_comment_url(settings: Settings, run: Run) -> str | None:
    """The bot's status comment of the run, or None before it is posted."""
    issue = issue_url(settings, run)
    if issue is None or not run.status_comment_id:
        return None
    return f"{issue}#issuecomment-{run.status_comment_id}"
