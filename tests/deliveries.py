"""The shared fixtures' payloads with the headers each forge sends, signed for tests."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from bot.signatures import sign

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURES = SHARED / "fixtures"

# file → (X-GitHub-Event, Gitea/Forgejo event type), from shared/fixtures/README.md
FIXTURE_HEADERS: dict[str, tuple[str, str | None]] = {
    "github/issues.labeled.json": ("issues", None),
    "github/issues.unlabeled.json": ("issues", None),
    "github/issue_comment.created.json": ("issue_comment", None),
    "github/issue_comment.created.on_pr.json": ("issue_comment", None),
    "github/issue_comment.edited.json": ("issue_comment", None),
    "github/pull_request.labeled.json": ("pull_request", None),
    "github/pull_request_review_comment.created.json": ("pull_request_review_comment", None),
    "github/ping.json": ("ping", None),
    "gitea/issue_comment.created.json": ("issue_comment", "issue_comment"),
    "gitea/issue_comment.created.modern.json": ("issue_comment", "issue_comment"),
    "gitea/issue_comment.edited.json": ("issue_comment", "issue_comment"),
    "gitea/pull_request_comment.created.json": ("issue_comment", "pull_request_comment"),
    "gitea/pull_request.label_updated.json": ("pull_request", "pull_request_label"),
    "forgejo/pull_request.label_updated.json": ("pull_request", "pull_request_label"),
}


def load_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def signed_headers(
    forge_kind: str,
    secret: str,
    body: bytes,
    event: str,
    event_type: str | None = None,
    delivery: str | None = None,
) -> dict[str, str]:
    """The headers a real forge of `forge_kind` sends with a signed delivery."""
    delivery = delivery or str(uuid.uuid4())
    signature = sign(secret, body)
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": f"sha256={signature}",
    }
    if forge_kind in ("gitea", "forgejo"):
        headers |= {
            "X-Gitea-Event": event,
            "X-Gitea-Delivery": delivery,
            "X-Gitea-Signature": signature,
        }
        if event_type:
            headers["X-Gitea-Event-Type"] = event_type
    if forge_kind == "forgejo":
        headers |= {
            "X-Forgejo-Event": event,
            "X-Forgejo-Delivery": delivery,
            "X-Forgejo-Signature": signature,
        }
        if event_type:
            headers["X-Forgejo-Event-Type"] = event_type
    return headers
