"""Configuration: defaults, `${VAR}`/`*_env` secrets, and bad files naming the key and reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import ConfigError, load_settings, mask_settings
from bot.config.loader import parse_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
ENVIRON = {"SECRET": "s3cret-value", "TOKEN": "t0ken-value"}


def forge(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "forgejo",
        "kind": "forgejo",
        "url": "https://forge.example.org",
        "token_env": "TOKEN",
        "webhook_secret_env": "SECRET",
        **overrides,
    }


def parse(raw: Any, environ: dict[str, str] | None = None):
    return parse_settings(raw, ENVIRON if environ is None else environ, Path("."))


def test_defaults_match_the_design() -> None:
    settings = parse({})
    assert settings.server.port == 8080 and settings.server.max_body_bytes == 25 * 1024 * 1024
    assert settings.permissions.min_permission == "write"
    assert settings.labels["dispatch"] == "default" and settings.labels["agent:local"] == "local"
    assert settings.dispatch.runtime == "auto" and settings.dispatch.image == "core-dev"
    assert settings.dispatch.timeout_minutes == 60 and settings.dispatch.on_busy == "reject"
    assert settings.concurrency.total == 4
    assert (settings.backoff.failures, settings.backoff.window_seconds) == (3, 60)
    assert settings.backoff.pause_minutes == 30
    assert settings.time_tracking == "auto"
    assert settings.after_run.push and settings.after_run.open_pr and settings.after_run.draft


def test_secrets_come_from_the_environment_and_are_masked() -> None:
    settings = parse({"forges": [forge()]})
    [forge_config] = settings.forges
    assert forge_config.webhook_secret.get_secret_value() == "s3cret-value"
    assert forge_config.token.get_secret_value() == "t0ken-value"
    masked = mask_settings(settings)
    assert "s3cret-value" not in masked and "t0ken-value" not in masked
    assert "webhook_secret: '***'" in masked
    assert "s3cret" not in repr(settings)


def test_variable_expansion_with_default() -> None:
    raw = {"forges": [forge(url="${FORGE_URL:-https://fallback.example}")]}
    assert parse(raw).forges[0].url == "https://fallback.example"
    environ = {**ENVIRON, "FORGE_URL": "https://real.example/"}
    assert parse(raw, environ).forges[0].url == "https://real.example"
    assert parse(raw, environ).forges[0].effective_api_url == "https://real.example/api/v1"


def test_deliveries_are_kept_30_days_unless_configured() -> None:
    assert parse({}).database.keep_deliveries_days == 30
    assert parse({"database": {"keep_deliveries_days": None}}).database.keep_deliveries_days is None
    assert parse({"database": {"keep_deliveries_days": 0.5}}).database.keep_deliveries_days == 0.5


def test_concurrency_pools_and_models() -> None:
    settings = parse(
        {"concurrency": {"total": 5, "codex": {"total": 3, "gpt-5.4-mini": 1}, "claude": 1}}
    )
    assert settings.concurrency.total == 5
    assert settings.concurrency.pools["codex"].total == 3
    assert settings.concurrency.pools["codex"].models == {"gpt-5.4-mini": 1}
    assert settings.concurrency.pools["claude"].total == 1


def test_github_defaults_and_enterprise_api_url() -> None:
    github = {"name": "gh", "kind": "github", "token_env": "TOKEN", "webhook_secret_env": "SECRET"}
    assert parse({"forges": [github]}).forges[0].effective_api_url == "https://api.github.com"
    enterprise = {**github, "url": "https://git.corp.example"}
    assert parse({"forges": [enterprise]}).forges[0].effective_api_url == (
        "https://git.corp.example/api/v3"
    )


@pytest.mark.parametrize(
    ("raw", "environ", "expected"),
    [
        ([1, 2], None, "(top level): must be a mapping"),
        ({"server": {"port": 0}}, None, "server.port: Input should be greater than or equal to 1"),
        ({"server": {"port": "http"}}, None, "server.port: Input should be a valid integer"),
        ({"sever": {}}, None, "sever: Extra inputs are not permitted"),
        (
            {"database": {"keep_deliveries_days": 0}},
            None,
            "database.keep_deliveries_days: Input should be greater than 0",
        ),
        ({"forges": [forge(kind="gitlab")]}, None, "forges.0.kind: Input should be"),
        ({"forges": [forge(name="Bad Name")]}, None, "forges.0.name: String should match pattern"),
        ({"forges": [forge(url="")]}, None, "forges.0: a forgejo forge needs url"),
        ({"forges": [forge(url="ftp://x")]}, None, "forges.0.url: must be an http(s) URL"),
        (
            {"forges": [forge()]},
            {"TOKEN": "t"},
            "forges.0.webhook_secret_env: environment variable SECRET is not set",
        ),
        (
            {"forges": [{k: v for k, v in forge().items() if k != "webhook_secret_env"}]},
            None,
            "forges.0.webhook_secret_env: Field required",
        ),
        (
            {"forges": [forge(token="literal")]},
            None,
            "forges.0.token: secrets are never written in the file; use token_env",
        ),
        ({"forges": [forge(), forge()]}, None, "duplicate forge name 'forgejo'"),
        (
            {"forges": [forge(url="${NOPE}")]},
            None,
            "forges.0.url: environment variable NOPE is not set",
        ),
        (
            {"forges": [{"name": "gh", "kind": "github", "webhook_secret_env": "SECRET"}]},
            None,
            "forges.0: GitHub needs token_env",
        ),
        (
            {
                "forges": [
                    {"name": "gh", "kind": "github", "app_id": 1, "webhook_secret_env": "SECRET"}
                ]
            },
            None,
            "needs both app_id and private_key_path",
        ),
        (
            {
                "forges": [
                    {
                        "name": "gh",
                        "kind": "github",
                        "app_id": 1,
                        "private_key_path": "/nonexistent.pem",
                        "webhook_secret_env": "SECRET",
                    }
                ]
            },
            None,
            "forges.0.private_key_path: cannot read",
        ),
        (
            {"permissions": {"min_permission": "owner"}},
            None,
            "permissions.min_permission: Input should be",
        ),
        ({"permissions": {"on_refuse": "shout"}}, None, "permissions.on_refuse: Input should be"),
        ({"labels": {"agent:x": "nosuch"}}, None, "labels.agent:x: unknown agent 'nosuch'"),
        ({"dispatch": {"runtime": "lxc"}}, None, "dispatch.runtime: Input should be"),
        ({"dispatch": {"on_busy": "wait"}}, None, "dispatch.on_busy: Input should be"),
        (
            {"dispatch": {"timeout_minutes": 0}},
            None,
            "dispatch.timeout_minutes: Input should be greater",
        ),
        (
            {"dispatch": {"default_agent": "hal"}},
            None,
            "dispatch.default_agent: unknown agent 'hal'",
        ),
        (
            {"dispatch": {"pass_env": ["OK", "NOT OK"]}},
            None,
            "dispatch.pass_env.1: String should match",
        ),
        (
            {"concurrency": {"codex": -1}},
            None,
            "concurrency.pools.codex.total: Input should be greater",
        ),
        ({"backoff": {"failures": 0}}, None, "backoff.failures: Input should be greater"),
        ({"time_tracking": "sometimes"}, None, "time_tracking: Input should be"),
        ({"after_run": {"qa": "make test"}}, None, "after_run.qa: Input should be a valid list"),
        (
            {"agents": {"aider": {"where": "native"}}},
            None,
            "agents.aider.command: a new agent needs a command",
        ),
        (
            {"agents": {"aider": {"command": []}}},
            None,
            "agents.aider.command: List should have at least 1 item",
        ),
        ({"agents": {"claude": {"where": "moon"}}}, None, "agents.claude.where: Input should be"),
    ],
)
def test_bad_config_names_the_key_and_the_reason(raw: Any, environ, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse(raw, environ)
    assert expected in str(raised.value)


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("server:\n  port: [8080\n")
    with pytest.raises(ConfigError, match=r"config.yaml: line \d+, column \d+"):
        load_settings(path, {})


def test_admin_defined_agent_and_override_are_known() -> None:
    settings = parse(
        {
            "agents": {
                "aider": {"command": ["aider", "--message", "{prompt}"]},
                "claude": {"where": "container"},
            },
            "labels": {"agent:aider": "aider"},
        }
    )
    assert "aider" in settings.known_agents() and "claude" in settings.known_agents()


def test_example_config_documents_every_key() -> None:
    example = yaml.safe_load((REPO_ROOT / "config.example.yaml").read_text())
    settings = load_settings(
        REPO_ROOT / "config.example.yaml",
        {"FORGEJO_WEBHOOK_SECRET": "x", "GITHUB_WEBHOOK_SECRET": "y"},
    )
    dumped = settings.model_dump(mode="json", exclude={"forges"})
    for section, value in dumped.items():
        assert section in example, f"config.example.yaml lacks {section}"
        if isinstance(value, dict) and section not in ("labels", "agents", "concurrency"):
            for key in value:
                assert key in example[section], f"config.example.yaml lacks {section}.{key}"
    text = (REPO_ROOT / "config.example.yaml").read_text()
    for key in ("private_key_path", "app_id", "allow_users", "deny_users", "ignore_users"):
        assert key in text


def test_check_config_prints_masked_config_and_fails_on_a_bad_file(tmp_path: Path) -> None:
    good = tmp_path / "config.yaml"
    good.write_text(yaml.safe_dump({"forges": [forge()]}))
    environ = {"PATH": "/usr/bin:/bin", **ENVIRON}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check-config", "--config", str(good)],
        capture_output=True,
        text=True,
        env=environ,
        cwd=REPO_ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "kind: forgejo" in result.stdout and "s3cret-value" not in result.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"dispatch": {"on_busy": "wait"}}))
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check-config", "--config", str(bad)],
        capture_output=True,
        text=True,
        env=environ,
        cwd=REPO_ROOT,
        check=False,
    )
    assert result.returncode == 2
    assert "dispatch.on_busy" in result.stderr and "Traceback" not in result.stderr
