"""Loads config.yaml: `${VAR}` expansion, secret resolution, and errors that name the key path."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr, ValidationError

from bot.config.models import Settings

VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key path and the reason."""


def _location(parts: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in parts) or "(top level)"


def _expand(value: Any, environ: Mapping[str, str], path: tuple[Any, ...]) -> Any:
    """Replace `${VAR}` / `${VAR:-default}` in every string of the parsed YAML tree."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            raise ConfigError(f"{_location(path)}: environment variable {name} is not set")

        return VARIABLE.sub(substitute, value)
    if isinstance(value, dict):
        return {key: _expand(item, environ, (*path, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, environ, (*path, index)) for index, item in enumerate(value)]
    return value


def _format_validation_error(error: ValidationError) -> str:
    lines = []
    for detail in error.errors():
        location = _location(tuple(part for part in detail["loc"] if part != "function-after"))
        message = detail["msg"].removeprefix("Value error, ")
        lines.append(f"{location}: {message}")
    return "; ".join(lines)


def parse_settings(raw: Any, environ: Mapping[str, str], base_dir: Path) -> Settings:
    """Validate an already-parsed YAML document and resolve its secrets."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("(top level): must be a mapping of sections")
    _refuse_literal_secrets(raw)
    expanded = _expand(raw, environ, ())
    try:
        settings = Settings.model_validate(expanded)
    except ValidationError as error:
        raise ConfigError(_format_validation_error(error)) from None
    return _resolve_secrets(settings, environ, base_dir)


RESOLVED_SECRET_KEYS = {
    "token": "token_env",
    "webhook_secret": "webhook_secret_env",
    "private_key": "private_key_path",
    "admin_token": "admin_token_env",
}


def _refuse_literal_secrets(raw: dict[str, Any]) -> None:
    """Secrets are never literal in the file: only their *_env names (or a key file) are."""
    sections: list[tuple[str, Any]] = [("server", raw.get("server"))]
    forges = raw.get("forges")
    if isinstance(forges, list):
        sections += [(f"forges.{index}", entry) for index, entry in enumerate(forges)]
    for where, section in sections:
        if not isinstance(section, dict):
            continue
        for key, instead in RESOLVED_SECRET_KEYS.items():
            if key in section:
                raise ConfigError(
                    f"{where}.{key}: secrets are never written in the file; use {instead}"
                )


def _secret(environ: Mapping[str, str], name: str | None) -> SecretStr | None:
    value = environ.get(name, "") if name else ""
    return SecretStr(value) if value else None


def _resolve_secrets(settings: Settings, environ: Mapping[str, str], base_dir: Path) -> Settings:
    forges = []
    for index, forge in enumerate(settings.forges):
        where = f"forges.{index}"
        webhook_secret = _secret(environ, forge.webhook_secret_env)
        if webhook_secret is None:
            raise ConfigError(
                f"{where}.webhook_secret_env: environment variable {forge.webhook_secret_env} "
                f"is not set; a forge without a webhook secret is refused"
            )
        private_key = None
        if forge.private_key_path is not None:
            key_path = forge.private_key_path
            if not key_path.is_absolute():
                key_path = base_dir / key_path
            try:
                private_key = SecretStr(key_path.read_text())
            except OSError as error:
                raise ConfigError(
                    f"{where}.private_key_path: cannot read {key_path}: {error.strerror}"
                ) from None
        forges.append(
            forge.model_copy(
                update={
                    "token": _secret(environ, forge.token_env),
                    "webhook_secret": webhook_secret,
                    "private_key": private_key,
                }
            )
        )
    server = settings.server.model_copy(
        update={"admin_token": _secret(environ, settings.server.admin_token_env)}
    )
    return settings.model_copy(update={"forges": forges, "server": server})


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, expand, validate and resolve a config file; raise ConfigError on any problem."""
    environ = os.environ if environ is None else environ
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}:{where}: {problem}") from None
    try:
        return parse_settings(raw, environ, path.resolve().parent)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def mask_settings(settings: Settings) -> str:
    """The effective configuration as YAML, with every resolved secret shown as set/unset only."""
    data = json.loads(settings.model_dump_json())
    for forge_data, forge in zip(data["forges"], settings.forges, strict=True):
        forge_data["token"] = "***" if forge.token else "(not set)"
        forge_data["webhook_secret"] = "***" if forge.webhook_secret else "(not set)"
        if forge.private_key_path is not None:
            forge_data["private_key"] = "***" if forge.private_key else "(not read)"
    data["server"]["admin_token"] = "***" if settings.server.admin_token else "(not set)"
    return yaml.safe_dump(data, sort_keys=False)
