"""Builds the Forge adapter for a configured forge from plain parameters."""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp

from bot.events import ForgeKind
from bot.forge.gitea import GiteaForge
from bot.forge.github import GitHubForge
from bot.forge.github_app import GitHubAppAuth
from bot.forge.http import RetryPolicy
from bot.forge.protocol import Forge

GITHUB_API_URL = "https://api.github.com"
GITHUB_HOSTS = frozenset({"github.com", "www.github.com", "api.github.com"})


def default_api_url(kind: ForgeKind | str, url: str) -> str:
    """The API root of a forge's web URL: Gitea/Forgejo `URL/api/v1`; GitHub Enterprise
    `URL/api/v3`; github.com (or no URL) `https://api.github.com`."""
    if ForgeKind(kind) is ForgeKind.GITHUB:
        host = urlsplit(url).hostname or ""
        return GITHUB_API_URL if not url or host in GITHUB_HOSTS else url.rstrip("/") + "/api/v3"
    if not url:
        raise ValueError(f"a {kind} forge needs its web URL to derive the API URL")
    return url.rstrip("/") + "/api/v1"


def create_forge(
    *,
    name: str,
    kind: ForgeKind | str,
    session: aiohttp.ClientSession,
    api_url: str,
    token: str | None,
    bot_login: str = "",
    app_id: int | str | None = None,
    private_key_pem: str | None = None,
    policy: RetryPolicy | None = None,
) -> Forge:
    """A Gitea/Forgejo adapter (token), or a GitHub one: an App when `app_id` and
    `private_key_pem` are given, else the token (PAT)."""
    kind = ForgeKind(kind)
    if kind is not ForgeKind.GITHUB:
        if not token:
            raise ValueError(f"the {kind} forge {name!r} needs a token")
        return GiteaForge(name, kind, session, api_url, token, bot_login, policy=policy)
    if (app_id is None) != (private_key_pem is None):
        raise ValueError(f"the GitHub forge {name!r} needs both app_id and private_key_pem")
    if app_id is not None and private_key_pem is not None:
        app = GitHubAppAuth(app_id, private_key_pem, session, api_url, policy=policy)
        return GitHubForge(name, session, api_url, app=app, policy=policy)
    if not token:
        raise ValueError(f"the GitHub forge {name!r} needs a token or a GitHub App")
    return GitHubForge(name, session, api_url, token=token, policy=policy)
