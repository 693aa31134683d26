"""The HTTP layer forge adapters share: gidgethub with retries, rate limits and typed errors."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import gidgethub
from gidgethub.aiohttp import GitHubAPI

from bot.forge.protocol import (
    ForgeConflict,
    ForgeError,
    ForgeForbidden,
    ForgeNotFound,
    ForgeUnavailable,
    Permission,
)

log = logging.getLogger(__name__)

# Told of every try of a forge request: (forge name, method, HTTP status, or 0 for no answer).
ForgeCallObserver = Callable[[str, str, int], None]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A POST may have taken effect when it times out or gets a 500, so it is only retried when the
# forge surely did not act on it: the connection failed, or the forge said 503 (unavailable).
POST_RETRY_STATUSES = frozenset({503})
PERMISSION_BY_NAME = {
    "owner": Permission.ADMIN,
    "admin": Permission.ADMIN,
    "maintain": Permission.WRITE,
    "write": Permission.WRITE,
    "push": Permission.WRITE,
    "triage": Permission.READ,
    "read": Permission.READ,
    "pull": Permission.READ,
    "none": Permission.NONE,
}


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: `attempts` per request, backoff `base_delay * 2**n` (+jitter, capped)."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.25  # up to this fraction of the delay is added at random
    deadline: float = 90.0  # overall cap on one call, waits included
    timeout: float = 30.0  # per attempt
    max_rate_limit_wait: float = 60.0  # wait out a rate limit this short; raise beyond it

    def backoff(self, attempt: int) -> float:
        delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return delay * (1 + random.uniform(0, self.jitter))


def parse_permission(permission: str | None, role_name: str | None = None) -> Permission:
    """The best of a forge's permission and role name (owner→admin, maintain→write, triage→read)."""
    found = [PERMISSION_BY_NAME.get((value or "").lower()) for value in (permission, role_name)]
    known = [value for value in found if value is not None]
    return max(known, key=lambda value: value.rank) if known else Permission.NONE


def repo_vars(repo: str) -> dict[str, str]:
    """URL variables `owner` and `repo` of "owner/name"."""
    owner, _, name = repo.partition("/")
    if not owner or not name or "/" in name:
        raise ValueError(f"a repository is 'owner/name', not {repo!r}")
    return {"owner": owner, "repo": name}


def _message(error: gidgethub.HTTPException) -> str:
    texts = [argument for argument in error.args if isinstance(argument, str)]
    return texts[0] if texts else error.status_code.phrase


class ForgeClient(GitHubAPI):
    """gidgethub's client that retries, waits out short rate limits and raises ForgeError kinds."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        token: str | None = None,
        policy: RetryPolicy | None = None,
        requester: str = "agent-dispatch-bot",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        forge_name: str = "",
        observer: ForgeCallObserver | None = None,
    ) -> None:
        super().__init__(session, requester, oauth_token=token, base_url=base_url.rstrip("/"))
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.sleeper = sleep  # injectable, e.g. to record waits in tests
        self.forge_name = forge_name or urlsplit(base_url).netloc  # a metrics label
        self.observer = observer

    def _observe(self, method: str, status: int) -> None:
        if self.observer is not None:
            try:
                self.observer(self.forge_name, method, status)
            except Exception:  # noqa: BLE001 - counting must never break a forge call
                log.exception("forge call observer failed")

    async def sleep(self, seconds: float) -> None:
        await self.sleeper(seconds)

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        policy, started = self.policy, time.monotonic()
        timeout = aiohttp.ClientTimeout(total=policy.timeout)
        for attempt in range(1, policy.attempts + 1):
            failure: BaseException | None = None
            try:
                async with self._session.request(
                    method, url, headers=headers, data=body, timeout=timeout
                ) as response:
                    result = response.status, response.headers, await response.read()
            except (aiohttp.ClientError, TimeoutError) as error:
                self._observe(method, 0)
                failure = error
                retry = method in IDEMPOTENT_METHODS or isinstance(
                    error, aiohttp.ClientConnectorError
                )
            else:
                self._observe(method, result[0])
                if result[0] < 500:
                    return result
                retry = method in IDEMPOTENT_METHODS or result[0] in POST_RETRY_STATUSES
            delay = policy.backoff(attempt)
            out_of_time = time.monotonic() - started + delay > policy.deadline
            if not retry or attempt == policy.attempts or out_of_time:
                break
            what = repr(failure) if failure else f"HTTP {result[0]}"
            log.warning(
                "forge call %s %s failed (%s), try %d in %.2fs",
                method,
                url,
                what,
                attempt + 1,
                delay,
            )
            await self.sleep(delay)
        if failure is None:
            return result  # gidgethub raises GitHubBroken, mapped to ForgeUnavailable
        kind = "timed out" if isinstance(failure, TimeoutError) else f"failed: {failure!r}"
        raise ForgeUnavailable(0, f"{method} {url} {kind} after {attempt} tries") from failure

    def rate_limit_wait(self, error: gidgethub.HTTPException) -> float | None:
        """Seconds until a rate limit on this 403/429 lifts, or None if it is not one."""
        if error.status_code not in (403, 429):
            return None
        headers = error.headers
        retry_after = headers.get("retry-after")
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                return self.policy.max_rate_limit_wait + 1
        if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
            return max(0.0, float(headers["x-ratelimit-reset"]) - self.clock()) + 1.0
        return None

    async def handle_rate_limit_error(
        self, *, method: str, url: str, exception: gidgethub.HTTPException, attempt: int
    ) -> bool:
        wait = self.rate_limit_wait(exception)
        if (
            wait is None
            or wait > self.policy.max_rate_limit_wait
            or attempt >= self.policy.attempts
        ):
            return False
        log.warning("forge rate limit on %s %s: waiting %.1fs", method, url, wait)
        await self.sleep(wait)
        return True

    def translate(self, error: gidgethub.HTTPException, method: str, url: str) -> ForgeError:
        status, message = int(error.status_code), f"{method} {url}: {_message(error)}"
        wait = self.rate_limit_wait(error)
        if wait is not None:
            return ForgeUnavailable(status, f"{message} (rate limited for {wait:.0f}s more)")
        kinds: dict[int, type[ForgeError]] = {
            403: ForgeForbidden,
            404: ForgeNotFound,
            409: ForgeConflict,
        }
        kind = ForgeUnavailable if status >= 500 else kinds.get(status, ForgeError)
        return kind(status, message)

    @asynccontextmanager
    async def _errors(self, method: str, url: str) -> AsyncIterator[None]:
        try:
            yield
        except gidgethub.HTTPException as error:
            raise self.translate(error, method, url) from error

    async def call(
        self,
        method: str,
        url: str,
        url_vars: Mapping[str, Any] | None = None,
        *,
        data: Any = b"",
        token: str | None = None,
        jwt: str | None = None,
    ) -> Any:
        """One API call; `data` is the JSON body (b"" for none). Returns the decoded answer."""
        variables = dict(url_vars or {})
        async with self._errors(method, url):
            if method == "GET":
                return await self.getitem(url, variables, jwt=jwt, oauth_token=token)
            if method == "DELETE":
                return await self.delete(url, variables, data=data, jwt=jwt, oauth_token=token)
            send = {"POST": self.post, "PATCH": self.patch, "PUT": self.put}[method]
            return await send(url, variables, data=data, jwt=jwt, oauth_token=token)

    async def get_all(
        self, url: str, url_vars: Mapping[str, Any] | None = None, *, token: str | None = None
    ) -> list[Any]:
        """Every item of a GitHub list, following its Link headers (`url` should ask per_page)."""
        async with self._errors("GET", url):
            return [
                item async for item in self.getiter(url, dict(url_vars or {}), oauth_token=token)
            ]

    async def get_pages(
        self,
        url: str,
        url_vars: Mapping[str, Any] | None = None,
        *,
        limit: int = 50,
        max_pages: int = 100,
    ) -> list[Any]:
        """Every item of a Gitea/Forgejo list, asking `page`/`limit` until a page comes back empty.

        Stopping on an empty page (not a short one) copes with a server whose MAX_RESPONSE_ITEMS is
        below `limit`, and not following Link headers copes with a wrong ROOT_URL.
        """
        items: list[Any] = []
        previous: list[Any] | None = None
        for page in range(1, max_pages + 1):
            variables = {**(url_vars or {}), "page": page, "limit": limit}
            paging = "{&page,limit}" if "{?" in url else "{?page,limit}"
            chunk = await self.call("GET", url + paging, variables)
            if not chunk or chunk == previous:
                break
            items.extend(chunk)
            previous = chunk
        return items


def forge_clients(adapter: object) -> list[ForgeClient]:
    """The ForgeClients a forge adapter holds: its own, and those of its parts (a GitHub App)."""
    found: list[ForgeClient] = []
    for value in getattr(adapter, "__dict__", {}).values():
        if isinstance(value, ForgeClient):
            found.append(value)
        elif isinstance(getattr(value, "client", None), ForgeClient):
            found.append(value.client)
    return found
