"""Removes secrets from text before it leaves the bot: known values and common token shapes."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:
    from bot.config.models import Settings

MASK = "***"
MINIMUM_SECRET_LENGTH = 6
# The user names git and the forges put before the secret in HTTP Basic authentication.
BASIC_AUTH_USERS = ("x-access-token", "oauth2", "git", "token", "x-oauth-basic")

# Token shapes redacted whole, whatever the configuration says.
TOKEN_SHAPES = (
    r"gh[pousr]_[A-Za-z0-9]{36,}",  # GitHub classic tokens
    r"github_pat_[A-Za-z0-9_]{22,}",  # GitHub fine-grained tokens
    # OpenAI (sk-, sk-proj-, …) and Anthropic (sk-ant-…): not inside a word like "task-…",
    # and with a digit, as random keys have and hyphenated words do not.
    r"(?<![A-Za-z0-9_-])sk-(?=[A-Za-z_-]*[0-9])[A-Za-z0-9_-]{20,}",
    r"AIza[0-9A-Za-z_-]{35}",  # Google API keys
    r"xox[abprs]-[A-Za-z0-9-]{10,}",  # Slack
    r"glpat-[A-Za-z0-9_-]{20,}",  # GitLab
    r"(?:AKIA|ASIA)[0-9A-Z]{16}",  # AWS access key ids
    # A private key block, or its start up to the end of a text that cut it off.
    r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END[A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",  # JWTs
)
# Shapes of which only the part after a prefix is secret: (prefix, secret).
PREFIXED_SHAPES = (
    (r"(?i:authorization)[\"']?\s*[:=]\s*[\"']?(?i:token|bearer|basic)\s+", r"[^\s\"',;]+"),
    (r"(?i:bearer)\s+", r"[A-Za-z0-9._~+/-]{16,}=*"),
    (r"://[^/\s:@]*:", r"[^/\s@]+(?=@)"),  # the password of URL user-info
)


def _shape_pattern() -> re.Pattern[str]:
    """One zero-width pattern whose single matched group is the secret part, at every start.

    Zero-width (a lookahead), so that overlapping matches are all found and their union is
    redacted: a shape that starts inside another cannot hide part of it.
    """
    alternatives = [f"({shape})" for shape in TOKEN_SHAPES]
    alternatives += [f"{prefix}({secret})" for prefix, secret in PREFIXED_SHAPES]
    return re.compile(f"(?=(?:{'|'.join(alternatives)}))")


SHAPE_PATTERN = _shape_pattern()


def _base64_forms(data: bytes) -> set[str]:
    """The base64 of `data`, and the part of it that shows wherever `data` sits in a longer
    base64 text (at each of the three byte alignments), in the standard and URL alphabets."""
    forms = {base64.b64encode(data).decode("ascii")}
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data).decode("ascii")
        start = (8 * offset + 5) // 6  # the first character made of `data` bits only
        end = 8 * (offset + len(data)) // 6  # past the last one
        forms.add(encoded[start:end])
    forms |= {form.replace("+", "-").replace("/", "_") for form in forms}
    return {form for form in forms if len(form) >= MINIMUM_SECRET_LENGTH}


def secret_forms(secret: str) -> set[str]:
    """Every form in which `secret` may show in a text: as is, URL-encoded, base64 (alone and
    as git's Basic authentication `user:secret`)."""
    forms: set[str] = set()
    for value in {secret, secret.strip()}:
        if len(value) < MINIMUM_SECRET_LENGTH:
            continue
        forms |= {value, quote(value, safe=""), quote(value), quote_plus(value)}
        forms |= _base64_forms(value.encode())
        for user in BASIC_AUTH_USERS:
            forms.add(base64.b64encode(f"{user}:{value}".encode()).decode("ascii"))
    return forms


class Redactor:
    """Replaces known secret values (and their encodings) and token shapes with `***`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            forms |= secret_forms(secret)
        self.patterns = [SHAPE_PATTERN]
        if forms:
            # Longest first, so that at one position the longest known value is the one found.
            literals = "|".join(
                re.escape(form) for form in sorted(forms, key=lambda f: (-len(f), f))
            )
            self.patterns.insert(0, re.compile(f"(?=({literals}))"))

    def redact(self, text: str) -> str:
        spans = []
        for pattern in self.patterns:
            for match in pattern.finditer(text):
                start, end = match.span(match.lastindex or 0)
                if end > start:
                    spans.append((start, end))
        if not spans:
            return text
        spans.sort()
        pieces = []
        kept_from = 0  # the end of the redacted text so far
        merged_start, merged_end = spans[0]
        for start, end in spans[1:]:
            if start <= merged_end:
                merged_end = max(merged_end, end)
                continue
            pieces += [text[kept_from:merged_start], MASK]
            kept_from, (merged_start, merged_end) = merged_end, (start, end)
        pieces += [text[kept_from:merged_start], MASK, text[merged_end:]]
        return "".join(pieces)


def settings_secrets(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """The secret values the bot knows: the agents' API keys (`dispatch.pass_env` set in
    `environ`), every forge's token, webhook secret and private key, and the admin token."""
    names = list(settings.dispatch.pass_env)
    values = []
    for forge in settings.forges:
        names += [name for name in (forge.token_env, forge.webhook_secret_env) if name]
        for secret in (forge.token, forge.webhook_secret, forge.private_key):
            if secret is not None:
                values.append(secret.get_secret_value())
    if settings.server.admin_token_env:
        names.append(settings.server.admin_token_env)
    if settings.server.admin_token is not None:
        values.append(settings.server.admin_token.get_secret_value())
    values += [environ[name] for name in names if environ.get(name)]
    return list(dict.fromkeys(values))


def redactor_from_settings(settings: Settings, environ: Mapping[str, str]) -> Redactor:
    return Redactor(settings_secrets(settings, environ))


_cached: tuple[Settings, frozenset[tuple[str, str]], Redactor] | None = None


def cached_redactor(settings: Settings, environ: Mapping[str, str]) -> Redactor:
    """`redactor_from_settings`, built once per settings object and environment (compiling the
    patterns for every secret form is too much work to repeat for each comment or page)."""
    global _cached
    key = frozenset(environ.items())
    if _cached is None or _cached[0] is not settings or _cached[1] != key:
        _cached = (settings, key, redactor_from_settings(settings, environ))
    return _cached[2]
