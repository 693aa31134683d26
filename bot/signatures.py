"""Webhook signature checks: HMAC-SHA256 of the raw body, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

SIGNATURE_HEADERS = ("X-Hub-Signature-256", "X-Forgejo-Signature", "X-Gitea-Signature")


def sign(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of `body` (what forges send, with or without `sha256=`)."""
    return hmac.digest(secret.encode(), body, "sha256").hex()


def signature_is_valid(secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    """True when any signature header present matches; a missing signature is invalid.

    `X-Hub-Signature-256` carries `sha256=<hex>`; the Forgejo/Gitea headers carry bare hex.
    Every header that is present must match, so a forged extra header cannot slip through.
    """
    expected = sign(secret, body)
    seen = False
    for name in SIGNATURE_HEADERS:
        value = headers.get(name)
        if value is None:
            continue
        seen = True
        candidate = value.strip()
        if name == "X-Hub-Signature-256":
            if not candidate.startswith("sha256="):
                return False
            candidate = candidate[len("sha256=") :]
        if not hmac.compare_digest(candidate.lower().encode(), expected.encode()):
            return False
    return seen
