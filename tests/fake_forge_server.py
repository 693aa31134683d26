"""The fake forge's HTTP side: spec matching, auth, failure injection and call recording."""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web

from tests.fake_forge_bodies import Context, Problem
from tests.fake_forge_routes_pulls import ROUTES  # all routes, both modules
from tests.fake_forge_spec import load_spec

GITEA_PREFIX = "/api/v1"


@dataclass
class RecordedCall:
    """One request the fake answered."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    status: int

    def __str__(self) -> str:
        query = "?" + "&".join(f"{key}={value}" for key, value in self.query.items())
        body = "" if self.json is None else " " + json.dumps(self.json, sort_keys=True)
        return f"{self.method} {self.path}{query if self.query else ''}{body} -> {self.status}"


@dataclass
class _Injection:
    method: str
    pattern: re.Pattern[str]
    times: int
    status: int = 0
    seconds: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class ForgeServer:
    """Answers requests for `FakeForge`, which holds the state the routes read and change."""

    def __init__(self) -> None:
        self.url = ""  # http://127.0.0.1:PORT once started; Gitea's API is url + "/api/v1"
        self.clock = time.time
        self.tokens: dict[str, str] = {}  # token -> login
        self.token_expiry: dict[str, float] = {}
        self.calls: list[RecordedCall] = []
        self.internal_errors: list[str] = []
        self.app_id: str | None = None
        self.app_public_key: str | None = None
        self._injections: list[_Injection] = []

    # -- failure injection -----------------------------------------------------------------
    def fail(
        self,
        method: str,
        path_regex: str,
        status: int = 503,
        times: int = 2,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next `times` matching requests with `status` (method "*" = any)."""
        self._injections.append(
            _Injection(method, re.compile(path_regex), times, status, 0.0, headers or {})
        )

    def delay(self, method: str, path_regex: str, seconds: float, times: int = 1) -> None:
        """Hold the next `times` matching requests for `seconds`, then answer them normally."""
        self._injections.append(_Injection(method, re.compile(path_regex), times, 0, seconds))

    def rate_limit(self, method: str, path_regex: str, *, reset_in: float, times: int = 1) -> None:
        """GitHub's primary rate limit: 403 with x-ratelimit-remaining 0 until reset."""
        reset = str(int(self.clock() + reset_in))
        headers = {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": reset,
        }
        self.fail(method, path_regex, 403, times, headers)

    def calls_to(self, method: str, path: str | re.Pattern[str]) -> list[RecordedCall]:
        """Calls by method ("*" = any) whose path starts with `path` (str) or matches it (regex)."""

        def matches(call: RecordedCall) -> bool:
            if isinstance(path, re.Pattern):
                return path.search(call.path) is not None
            return call.path.startswith(path)

        return [call for call in self.calls if method in ("*", call.method) and matches(call)]

    # -- serving ---------------------------------------------------------------------------
    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        family = "gitea" if request.path.startswith(GITEA_PREFIX + "/") else "github"
        query = {key: request.query.getone(key) for key in request.query}
        text = await request.text()
        try:
            body = json.loads(text) if text.strip() else None
        except ValueError:
            status, payload, headers = 400, {"message": "the body is not JSON"}, {}
        else:
            status, payload, headers = await self._answer(request, family, query, body)
        self.calls.append(RecordedCall(request.method, request.path, query, body, status))
        if payload is None:
            return web.Response(status=status, headers=headers)
        return web.json_response(payload, status=status, headers=headers)

    async def _answer(
        self, request: web.Request, family: str, query: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        for injection in list(self._injections):
            if injection.method in ("*", request.method) and injection.pattern.search(request.path):
                injection.times -= 1
                if injection.times <= 0:
                    self._injections.remove(injection)
                await asyncio.sleep(injection.seconds)
                if injection.status:
                    return injection.status, {"message": "injected failure"}, injection.headers
        spec = load_spec(family)
        operation = spec.match(request.method, request.rel_url.raw_path.removeprefix(spec.prefix))
        if isinstance(operation, str):
            return 404, {"message": f"not in the spec: {operation}"}, {}
        try:
            login = self._authenticate(request, family, operation.template)
            problems = spec.check_query(operation, query) or spec.check_body(operation, body)
            if problems:
                raise Problem(
                    400 if spec.check_query(operation, query) else 422, "; ".join(problems)
                )
            handler = ROUTES.get((family, request.method, operation.template))
            if handler is None:
                raise Problem(
                    501, f"the fake does not implement {request.method} {operation.template}"
                )
            context = Context(self, family, operation.params, query, body, login, request.url)
            status, payload, headers = handler(context)
        except Problem as problem:
            return problem.status, problem.payload(family), {}
        except Exception as error:  # a bug in the fake: fail the test that met it
            self.internal_errors.append(f"{request.method} {request.path}: {error!r}")
            return 500, {"message": f"fake forge bug: {error!r}"}, {}
        schema = spec.response_schema(operation, status)
        problems = spec.check(schema, payload, "response", request=False) if schema else []
        if status not in spec.spec_statuses(operation):
            problems.append(f"status {status} is not spec'd")
        if problems:
            self.internal_errors.append(f"{request.method} {request.path}: {problems}")
            return 500, {"message": f"fake forge bug: {problems}"}, {}
        return status, payload, headers

    def _authenticate(self, request: web.Request, family: str, template: str) -> str:
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("token", "bearer") or not credential:
            raise Problem(401, "Requires authentication")
        if family == "github" and (
            template.startswith("/app") or template.endswith("/installation")
        ):
            if scheme.lower() != "bearer":
                raise Problem(401, "a GitHub App JWT goes in 'Authorization: Bearer <jwt>'")
            return self._check_app_jwt(credential.strip())
        login = self.tokens.get(credential.strip())
        expiry = self.token_expiry.get(credential.strip())
        if login is None or (expiry is not None and self.clock() >= expiry):
            raise Problem(401, "Bad credentials")
        return login

    def _check_app_jwt(self, token: str) -> str:
        if self.app_public_key is None:
            raise Problem(401, "no GitHub App is configured in the fake")
        options = {"verify_exp": False, "verify_iat": False, "verify_nbf": False}
        try:
            claims = jwt.decode(token, self.app_public_key, algorithms=["RS256"], options=options)
        except jwt.PyJWTError as error:
            raise Problem(401, f"A JSON web token could not be decoded: {error}") from error
        now = self.clock()
        if str(claims.get("iss")) != self.app_id:
            raise Problem(401, "'iss' claim is not this app's id")
        if not claims.get("exp") or not now < claims["exp"] <= now + 600 + 5:
            raise Problem(401, "'exp' claim is expired or too far in the future (max 10 minutes)")
        if int(claims.get("iat", now + 999)) > now + 5:
            raise Problem(401, "'iat' claim is in the future")
        return "app"
