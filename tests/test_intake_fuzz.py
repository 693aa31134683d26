"""Fuzzing the webhook endpoint over real HTTP: no input ever gets a 500."""

from __future__ import annotations

import asyncio
import copy
import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import create_app
from tests.deliveries import FIXTURE_HEADERS, load_fixture, signed_headers
from tests.harness import SECRETS, make_settings

ALLOWED = {200, 202, 400, 401, 404, 413, 415}


class ServerThread:
    """The bot served from its own event loop in a thread, so sync hypothesis tests can post."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(self.app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = self.runner.addresses[0][1]
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self) -> ServerThread:
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def post(self, forge: str, body: bytes, headers: dict[str, str]) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.request("POST", f"/webhook/{forge}", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        connection.close()
        return response.status


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    tmp_path: Path = tmp_path_factory.mktemp("fuzz")
    # The forge API points at a closed port: any processing that reaches it fails fast.
    settings = make_settings(tmp_path, "http://127.0.0.1:9", server={"max_body_mb": 1})
    with ServerThread(create_app(settings)) as running:
        yield running


def send(server: ServerThread, name: str, body: bytes) -> int:
    forge = name.split("/")[0]
    event, event_type = FIXTURE_HEADERS[name]
    return server.post(forge, body, signed_headers(forge, SECRETS[forge], body, event, event_type))


fixture_names = st.sampled_from(sorted(FIXTURE_HEADERS))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    return found


@FUZZ
@given(name=fixture_names, body=st.binary(max_size=2000))
def test_random_bodies(server: ServerThread, name: str, body: bytes) -> None:
    assert send(server, name, body) in ALLOWED


@FUZZ
@given(name=fixture_names, cut=st.floats(min_value=0, max_value=1))
def test_truncated_fixtures(server: ServerThread, name: str, cut: float) -> None:
    body = json.dumps(load_fixture(name)).encode()
    assert send(server, name, body[: int(len(body) * cut)]) in ALLOWED


@FUZZ
@given(name=fixture_names, data=st.data(), replacement=json_values)
def test_wrong_types_in_known_fields(
    server: ServerThread, name: str, data: st.DataObject, replacement: Any
) -> None:
    payload = copy.deepcopy(load_fixture(name))
    path = data.draw(st.sampled_from(paths(payload)))
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = replacement
    assert send(server, name, json.dumps(payload).encode()) in ALLOWED


@FUZZ
@given(name=fixture_names, size=st.integers(min_value=10_000, max_value=2_000_000))
def test_huge_strings(server: ServerThread, name: str, size: int) -> None:
    payload = copy.deepcopy(load_fixture(name))
    for key in ("comment", "issue", "pull_request"):
        if isinstance(payload.get(key), dict):
            payload[key]["body"] = "/dispatch " + "x" * size
    body = json.dumps(payload).encode()
    status = send(server, name, body)
    assert status in ALLOWED
    if len(body) > 1024 * 1024:  # the server's max_body_mb is 1
        assert status == 413
