"""Servers the benchmarks compare: the bot itself, and bare aiohttp endpoints as baselines."""

from __future__ import annotations

import argparse
import hashlib
import hmac
import sys
import tempfile
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the bot, run from a checkout
SECRET = "bench-secret"


def bare_hmac_app() -> web.Application:
    """The baseline: an aiohttp endpoint that only checks the HMAC and answers 202."""

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        given = request.headers.get("X-Hub-Signature-256", "").removeprefix("sha256=")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return web.Response(status=401)
        return web.Response(status=202)

    app = web.Application(client_max_size=25 * 1024 * 1024)
    app.router.add_post("/webhook/{forge}", handle)
    return app


def bot_app(data_dir: Path) -> web.Application:
    from bot.app import create_app
    from bot.config.loader import parse_settings

    raw = {
        "database": {"path": str(data_dir / "bot.sqlite3")},
        "forges": [
            {
                "name": "forgejo",
                "kind": "forgejo",
                "url": "http://127.0.0.1:9",
                "token_env": "TOKEN",
                "webhook_secret_env": "SECRET",
                "bot_login": "agent-bot",
            }
        ],
        "logging": {"level": "WARNING"},
    }
    settings = parse_settings(raw, {"SECRET": SECRET, "TOKEN": "t"}, data_dir)
    return create_app(settings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["bare", "bot"])
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    if arguments.kind == "bare":
        web.run_app(bare_hmac_app(), host="127.0.0.1", port=arguments.port, print=None)
        return
    from bot.server import run_server  # how `python -m bot serve` runs it

    with tempfile.TemporaryDirectory(prefix="bench-bot-") as data_dir:
        run_server(bot_app(Path(data_dir)), host="127.0.0.1", port=arguments.port)


if __name__ == "__main__":
    main()
