"""Structured logging: one line per event, key=value or JSON, with delivery/run/repo/issue."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, TextIO

LOGGER_NAME = "bot"
CONTEXT_KEYS = ("delivery", "forge", "repo", "issue", "run")


def get_logger(name: str = "") -> logging.Logger:
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME)


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Log `event` with structured fields; None values are left out."""
    if not logger.isEnabledFor(level):
        return
    logger.log(level, event, extra={"fields": {k: v for k, v in fields.items() if v is not None}})


def _quote(value: Any) -> str:
    text = str(value)
    if text == "" or any(character in text for character in ' ="\n\t'):
        return json.dumps(text)
    return text


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        parts = [
            f"time={self.formatTime(record, '%Y-%m-%dT%H:%M:%S')}",
            f"level={record.levelname.lower()}",
            f"event={_quote(record.getMessage())}",
        ]
        parts += [f"{key}={_quote(value)}" for key, value in fields.items()]
        if record.exc_info:
            parts.append(f"error={_quote(self.formatException(record.exc_info))}")
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def make_formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else KeyValueFormatter()


def configure_logging(
    log_format: str = "keyvalue", level: str = "INFO", stream: TextIO | None = None
) -> logging.Handler:
    """Send the bot's logs, one line per event, to `stream` (default stderr)."""
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(make_formatter(log_format))
    root = logging.getLogger(LOGGER_NAME)
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    return handler


def reconfigure_logging(log_format: str, level: str) -> None:
    """Apply a reloaded `logging` section to the handlers already in place (same streams)."""
    root = logging.getLogger(LOGGER_NAME)
    for handler in root.handlers:
        handler.setFormatter(make_formatter(log_format))
    root.setLevel(level)
