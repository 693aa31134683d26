"""Signature checks: both header styles, constant-time compare, every present header must match."""

from __future__ import annotations

import pytest

from bot.signatures import sign, signature_is_valid

SECRET = "secret"
BODY = b'{"hello": "world"}'
GOOD = sign(SECRET, BODY)


@pytest.mark.parametrize(
    ("headers", "valid"),
    [
        ({"X-Hub-Signature-256": f"sha256={GOOD}"}, True),
        ({"X-Hub-Signature-256": f"sha256={GOOD.upper()}"}, True),
        ({"X-Forgejo-Signature": GOOD}, True),
        ({"X-Gitea-Signature": GOOD}, True),
        ({"X-Hub-Signature-256": f"sha256={GOOD}", "X-Gitea-Signature": GOOD}, True),
        ({}, False),
        ({"X-Hub-Signature-256": GOOD}, False),  # GitHub style needs the sha256= prefix
        ({"X-Hub-Signature-256": f"sha1={GOOD}"}, False),
        ({"X-Hub-Signature-256": "sha256="}, False),
        ({"X-Gitea-Signature": GOOD[:-1]}, False),
        ({"X-Gitea-Signature": sign("other", BODY)}, False),
        ({"X-Hub-Signature-256": f"sha256={GOOD}", "X-Gitea-Signature": "0" * 64}, False),
        ({"X-Forgejo-Signature": "ünïcode"}, False),
    ],
)
def test_signature_headers(headers: dict[str, str], valid: bool) -> None:
    assert signature_is_valid(SECRET, BODY, headers) is valid


def test_a_changed_body_breaks_the_signature() -> None:
    assert not signature_is_valid(SECRET, BODY + b" ", {"X-Gitea-Signature": GOOD})
