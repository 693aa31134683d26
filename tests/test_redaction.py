"""Redaction: known secret values in every encoding, common token shapes, and look-alikes kept."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config.loader import parse_settings
from bot.redaction import Redactor, redactor_from_settings, secret_forms, settings_secrets

ALPHANUMERIC_36 = "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY2zA4"
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
    "-----END RSA PRIVATE KEY-----"
)
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxMjM0NSIsImV4cCI6MTcwMDAwMDAwMH0.c2lnbmF0dXJlLXBhcnQ"

SHOULD_REDACT = [
    (f"token ghp_{ALPHANUMERIC_36} used", "token *** used"),
    (f"token gho_{ALPHANUMERIC_36} used", "token *** used"),
    (f"token ghu_{ALPHANUMERIC_36} used", "token *** used"),
    (f"token ghs_{ALPHANUMERIC_36} used", "token *** used"),
    (f"token ghr_{ALPHANUMERIC_36} used", "token *** used"),
    ("pat github_pat_11ABCDEFG0123456789_abcdefghijKLMNOPQRSTuvwxyz012345 end", "pat *** end"),
    ("OPENAI_API_KEY=sk-" + "Ab1" * 16 + " next", "OPENAI_API_KEY=*** next"),
    ("key sk-proj-Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0-_xyz end", "key *** end"),
    ("key sk-ant-api03-Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0uvw-AAAA end", "key *** end"),
    ("google AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q end", "google *** end"),
    ("slack xoxb-123456789012-abcdefghijKLMN end", "slack *** end"),
    ("slack xoxp-1234-5678-abcdefghij end", "slack *** end"),
    ("gitlab glpat-Ab1Cd2Ef3Gh4Ij5Kl6Mn7 end", "gitlab *** end"),
    ("aws AKIAIOSFODNN7EXAMPLE end", "aws *** end"),
    (f"key:\n{PEM}\ndone", "key:\n***\ndone"),
    ("cut off: -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk", "cut off: ***"),
    ("Authorization: token 0123456789abcdef", "Authorization: token ***"),
    ("authorization: Bearer abc.def-ghi", "authorization: Bearer ***"),
    ('-H "Authorization: Basic dXNlcjpwYXNzd29yZA=="', '-H "Authorization: Basic ***"'),
    (
        "GIT_CONFIG_VALUE_0=Authorization: basic Zm9vOmJhcg==",
        "GIT_CONFIG_VALUE_0=Authorization: basic ***",
    ),
    ("sent Bearer abcdefghij0123456789 ok", "sent Bearer *** ok"),
    (
        "clone https://x-access-token:hunter2@forge.example.org/o/r.git",
        "clone https://x-access-token:***@forge.example.org/o/r.git",
    ),
    ("remote http://user:p4ss:w0rd@host/r", "remote http://user:***@host/r"),
    (f"jwt {JWT} end", "jwt *** end"),
    (f"two ghp_{ALPHANUMERIC_36}\nAKIAIOSFODNN7EXAMPLE", "two ***\n***"),
]

SHOULD_NOT_REDACT = [
    "sketch the sk- prefix",
    "sk-",
    "sk-learn is a library",
    "task-runner-configuration-values-are-long",
    "a-very-long-identifier-sk-abcdefghij1234567890",
    "commit 3f786850e387550fdab836ed7e6dc881de23001b",
    "ghp_abc is too short",
    "github_pat_short",
    "AKIA is not a key, nor AKIAshort",
    "ssh://git@forge.example.org/o/r.git",
    "https://forge.example.org:8443/o/r",
    "mail me@example.org",
    "Bearer of bad news",
    "Authorization: required",
    "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----",
    "eyJhbGciOiJIUzI1NiJ9 alone",
    "xoxb- alone",
]


@pytest.mark.parametrize(("text", "expected"), SHOULD_REDACT)
def test_token_shapes_are_redacted(text: str, expected: str) -> None:
    assert Redactor(()).redact(text) == expected


@pytest.mark.parametrize("text", SHOULD_NOT_REDACT)
def test_look_alikes_are_kept(text: str) -> None:
    assert Redactor(()).redact(text) == text


SECRET = "Very$ecret/Value:42"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"value {SECRET} end", "value *** end"),
        (f"{SECRET}{SECRET}", "***"),
        (f"url https://h/?key={quote(SECRET, safe='')}&x=1", "url https://h/?key=***&x=1"),
        (f"url https://h/{quote(SECRET)}", "url https://h/***"),
        (f"b64 {base64.b64encode(SECRET.encode()).decode()} end", "b64 *** end"),
        (f"basic {base64.b64encode(f'x-access-token:{SECRET}'.encode()).decode()}", "basic ***"),
        (f"basic {base64.b64encode(f'oauth2:{SECRET}'.encode()).decode()}", "basic ***"),
        (f"padded \n{SECRET}\n", "padded \n***\n"),
    ],
)
def test_known_values_are_redacted_in_every_form(text: str, expected: str) -> None:
    assert Redactor([SECRET]).redact(text) == expected


@pytest.mark.parametrize("user", ["alice", "bot", "a", "someone-else"])
def test_base64_of_any_user_and_secret_loses_the_secret(user: str) -> None:
    encoded = base64.b64encode(f"{user}:{SECRET}".encode()).decode()
    redacted = Redactor([SECRET]).redact(f"creds={encoded};")
    assert "***" in redacted
    # What is left: the user's part, and at most a few characters (≤ 12 bits) at each edge.
    before, after = redacted.removeprefix("creds=").removesuffix(";").split("***")
    assert len(before) <= len(base64.b64encode(f"{user}:".encode()).rstrip(b"=")) + 2
    assert len(after.rstrip("=")) <= 2


@pytest.mark.parametrize("secret", ["", "abc", "12345"])
def test_short_values_are_ignored(secret: str) -> None:
    assert secret_forms(secret) == set()
    assert Redactor([secret]).redact("abc 12345 text") == "abc 12345 text"


def test_overlapping_secrets_are_redacted_as_their_union() -> None:
    redactor = Redactor(["abcdefgh", "efghijklmn"])
    assert redactor.redact("xx abcdefghijklmn yy") == "xx *** yy"


def test_a_secret_inside_a_token_shape_leaves_nothing_behind() -> None:
    token = f"ghp_{ALPHANUMERIC_36}"
    assert Redactor([token[:12]]).redact(f"<{token}>") == "<***>"


def settings_for(tmp_path: Path, environ: dict[str, str]):
    (tmp_path / "app.pem").write_text(PEM)
    raw = {
        "forges": [
            {
                "name": "forgejo",
                "kind": "forgejo",
                "url": "https://forge.example.org",
                "token_env": "FORGE_TOKEN",
                "webhook_secret_env": "FORGE_SECRET",
            },
            {
                "name": "github",
                "kind": "github",
                "app_id": 1,
                "private_key_path": "app.pem",
                "webhook_secret_env": "GITHUB_SECRET",
            },
        ],
        "dispatch": {"pass_env": ["OPENAI_API_KEY", "UNSET_KEY"]},
    }
    return parse_settings(raw, environ, tmp_path)


ENVIRON = {
    "FORGE_TOKEN": "forge-token-0123456789",
    "FORGE_SECRET": "webhook-secret-abcdef",
    "GITHUB_SECRET": "github-hook-secret-xyz",
    "OPENAI_API_KEY": "openai-key-value-987654",
    "BOT_ADMIN_TOKEN": "admin-token-value-555",
    "UNRELATED": "not-a-secret-at-all",
}


def test_secrets_come_from_the_settings_and_pass_env(tmp_path: Path) -> None:
    secrets = settings_secrets(settings_for(tmp_path, ENVIRON), ENVIRON)
    expected = {value for name, value in ENVIRON.items() if name != "UNRELATED"} | {PEM}
    assert set(secrets) == expected


@pytest.mark.parametrize(
    "name", ["FORGE_TOKEN", "FORGE_SECRET", "GITHUB_SECRET", "OPENAI_API_KEY", "BOT_ADMIN_TOKEN"]
)
def test_every_configured_secret_is_redacted(tmp_path: Path, name: str) -> None:
    redactor = redactor_from_settings(settings_for(tmp_path, ENVIRON), ENVIRON)
    value = ENVIRON[name]
    basic = base64.b64encode(f"x-access-token:{value}".encode()).decode()
    text = f"a {value} b Authorization-less {basic} c {PEM} d {ENVIRON['UNRELATED']}"
    redacted = redactor.redact(text)
    assert value not in redacted and basic not in redacted and PEM not in redacted
    assert ENVIRON["UNRELATED"] in redacted


def test_unset_pass_env_variables_add_nothing(tmp_path: Path) -> None:
    environ = {key: value for key, value in ENVIRON.items() if key != "OPENAI_API_KEY"}
    secrets = settings_secrets(settings_for(tmp_path, environ), environ)
    assert ENVIRON["OPENAI_API_KEY"] not in secrets


SECRET_ALPHABET = st.characters(min_codepoint=33, max_codepoint=0x2FF, blacklist_characters="*")


@settings(max_examples=300, deadline=None)
@given(
    secret=st.text(SECRET_ALPHABET, min_size=6, max_size=40),
    before=st.text(max_size=200),
    after=st.text(max_size=200),
    copies=st.integers(min_value=1, max_value=3),
)
def test_a_planted_secret_never_survives(secret: str, before: str, after: str, copies: int) -> None:
    text = before + (secret + after) * copies
    redacted = Redactor([secret]).redact(text)
    assert secret not in redacted
    assert "***" in redacted


@settings(max_examples=100, deadline=None)
@given(prefix=st.text(max_size=100), suffix=st.text(max_size=100))
def test_a_planted_token_never_survives(prefix: str, suffix: str) -> None:
    token = f"ghp_{ALPHANUMERIC_36}"
    assert token not in Redactor(()).redact(f"{prefix} {token} {suffix}")


def test_a_200_kilobyte_log_is_redacted_correctly() -> None:
    secrets = [f"secret-number-{index}-value" for index in range(10)]
    lines = []
    for index in range(4000):
        line = f"{index:05d} INFO building module {index} at 3f786850e387550fdab836ed7e6dc881"
        if index % 500 == 0:
            line += f" leaked {secrets[index // 500 % 10]} and ghp_{ALPHANUMERIC_36}"
        lines.append(line)
    log = "\n".join(lines)
    assert len(log) > 200_000
    redacted = Redactor(secrets).redact(log)
    assert not any(secret in redacted for secret in secrets)
    assert "ghp_" not in redacted
    assert redacted.count("***") == 16
    assert redacted.count("\n") == log.count("\n")
