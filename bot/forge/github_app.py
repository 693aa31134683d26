"""GitHub App authentication: app JWT, installation per repository, cached installation tokens."""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Callable

import aiohttp
import jwt

from bot.forge.http import ForgeClient, RetryPolicy, repo_vars
from bot.forge.protocol import ForgeError, ForgeNotFound

log = logging.getLogger(__name__)

JWT_BACKDATE_SECONDS = 60  # GitHub's advice against clock drift
JWT_LIFETIME_SECONDS = 9 * 60  # from now; GitHub refuses an `exp` over 10 minutes away


class GitHubAppAuth:
    """Installation tokens for a GitHub App, each cached until `refresh_margin` before expiry."""

    def __init__(
        self,
        app_id: int | str,
        private_key_pem: str,
        session: aiohttp.ClientSession,
        api_url: str = "https://api.github.com",
        *,
        clock: Callable[[], float] = time.time,
        policy: RetryPolicy | None = None,
        refresh_margin: float = 300.0,
    ) -> None:
        self.app_id = str(app_id)
        self._private_key = private_key_pem
        self.clock = clock
        self.refresh_margin = refresh_margin
        self.client = ForgeClient(session, base_url=api_url, policy=policy, clock=clock)
        self._installations: dict[str, int] = {}
        self._tokens: dict[int, tuple[str, float]] = {}  # installation id -> (token, expires at)
        self._locks: dict[int, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"GitHubAppAuth(app_id={self.app_id!r})"

    def make_jwt(self) -> str:
        """A fresh app JWT (RS256): issued a minute ago, expiring in nine minutes."""
        now = int(self.clock())
        claims = {"iat": now - JWT_BACKDATE_SECONDS, "exp": now + JWT_LIFETIME_SECONDS}
        return jwt.encode(claims | {"iss": self.app_id}, self._private_key, algorithm="RS256")

    async def installation_id(self, repo: str) -> int:
        """The id of the app's installation that covers `repo` (cached)."""
        if repo not in self._installations:
            url = "/repos/{owner}/{repo}/installation"
            try:
                answer = await self.client.call("GET", url, repo_vars(repo), jwt=self.make_jwt())
            except ForgeNotFound as error:
                message = f"the GitHub App {self.app_id} is not installed on {repo}"
                raise ForgeNotFound(404, message) from error
            self._installations[repo] = int(answer["id"])
        return self._installations[repo]

    async def installation_token(self, repo: str) -> str:
        """A token for `repo`'s installation, fetched again when close to its expiry."""
        installation = await self.installation_id(repo)
        lock = self._locks.setdefault(installation, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(installation)
            if cached and self.clock() < cached[1] - self.refresh_margin:
                return cached[0]
            url = "/app/installations/{installation_id}/access_tokens"
            variables = {"installation_id": installation}
            answer = await self.client.call("POST", url, variables, jwt=self.make_jwt())
            expires_at = _parse_time(answer.get("expires_at"), self.clock() + 3600)
            self._tokens[installation] = (answer["token"], expires_at)
            log.info(
                "new GitHub App installation token for %s (installation %d)", repo, installation
            )
            return answer["token"]

    def forget(self, repo: str) -> None:
        """Drop what is cached for `repo` (after a 401: the token or installation went away)."""
        installation = self._installations.pop(repo, None)
        if installation is not None:
            self._tokens.pop(installation, None)


def _parse_time(value: object, default: float) -> float:
    if not isinstance(value, str):
        return default
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError as error:
        raise ForgeError(0, f"GitHub sent an unreadable expires_at {value!r}") from error
