"""Tests for bot.normalise: real forge payloads, dialect edge cases, labels and fuzzing."""

import copy
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.events import (
    CommentEvent,
    ForgeKind,
    IgnoredEvent,
    LabelEvent,
    MalformedJsonError,
    PayloadError,
    PingEvent,
)
from bot.normalise import Triaged, diff_label_snapshot, normalise, resolve_label_event, triage

# The checkout sits next to `shared/` (here /work/main beside /work/shared; in CI likewise).
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
GH, GT, FJ = ForgeKind.GITHUB, ForgeKind.GITEA, ForgeKind.FORGEJO


@functools.cache
def _cached(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def load(name: str) -> dict[str, Any]:
    return copy.deepcopy(_cached(name))


def run(kind: ForgeKind, event: str, sub: str | None, payload: object) -> Any:
    return normalise(forge=f"my-{kind}", forge_kind=kind, event_name=event, event_type=sub,
                     payload=payload, delivery_id="d-1")  # fmt: skip


def kind_of(name: str) -> ForgeKind:
    return ForgeKind(name.split("/")[0])


GROUPS = {  # summary key -> fields compared together (all None -> None: not applicable)
    "forge": ("forge", "forge_kind", "delivery_id"),
    "repo": ("repo.full_name", "repo.clone_url", "repo.default_branch", "repo.html_url"),
    "subject": ("number", "is_pull_request", "actor_login", "actor_is_bot", "html_url"),
    "comment": ("comment_id", "comment_kind", "comment_body", "previous_body", "action"),
    "labels": ("labels_added", "labels_removed", "current_labels", "labels_are_snapshot"),
    "head": ("pull_request_head.repo_full_name", "pull_request_head.clone_url",
             "pull_request_head.ref", "pull_request_head.sha", "pull_request_head.is_fork",
             "pull_request_base_ref"),
}  # fmt: skip
SUMMARY = ("type", "repo", "subject", "comment", "labels", "head")  # a CASES row, after 3 columns


def summary(event: Any) -> dict[str, Any]:
    def get(path: str) -> Any:
        return functools.reduce(lambda obj, name: getattr(obj, name, None), path.split("."), event)

    groups = {key: tuple(get(path) for path in paths) for key, paths in GROUPS.items()}
    return {"type": event.type} | {key: None if values == (None,) * len(values) else values
                                   for key, values in groups.items()}  # fmt: skip


def repo(site: str, name: str, branch: str = "master") -> tuple[str, str, str, str]:
    return (name, f"{site}/{name}.git", branch, f"{site}/{name}")


GITHUB, GOGS, KOSTEK = "https://github.com", "http://try.gitea.io", "https://try.gitea.io"
NICE, NICE_SITE = "a_nice_user/hello_world_ci", "https://gitea.com"
CB, CB_SITE, ABC = "test_it/test_ci_thing", "https://codeberg.org", "abc/def-ci-webhook-test"
HELLO, HELLO_URL = repo(GITHUB, "Codertocat/Hello-World"), f"{GITHUB}/Codertocat/Hello-World"
GH_ISSUE = (1, False, "Codertocat", False, f"{HELLO_URL}/issues/1")
GH_PR = (2, True, "Codertocat", False, f"{HELLO_URL}/pull/2")
GH_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
GH_HEAD = (HELLO[0], HELLO[1], "changes", GH_SHA, False, "master")
GOGS_REPO, KOSTEK_REPO = repo(GOGS, "gogits/hello-world"), repo(KOSTEK, "kostekIV/test")
GOGS_URL = f"{GOGS}/gogits/hello-world"
KOSTEK_3 = (3, False, "kostekIV", False, f"{KOSTEK}/kostekIV/test/issues/3")
GT_IC = "gitea/issue_comment.created.json"
GH_IC, GT_PRL = "github/issue_comment.created.json", "gitea/pull_request.label_updated.json"
RIGHT_AWAY = "You are totally right! I'll get this fixed right away."

N, IC, PR = None, "issue_comment", "pull_request"
RV, AP = "pull_request_review", "pull_request_approved"
CASES = [  # file, X-GitHub-Event, …-Event-Type, then SUMMARY (None: not applicable)
    ("github/issues.labeled.json", "issues", N, "label", HELLO, GH_ISSUE, N,
     (("bug",), (), ("bug",), False), N),
    ("github/issues.unlabeled.json", "issues", N, "label", HELLO, GH_ISSUE, N,
     ((), ("bug",), (), False), N),
    (GH_IC, IC, N, "comment", HELLO, GH_ISSUE, (492700400, "issue", RIGHT_AWAY, N, "created"),
     N, N),
    ("github/issue_comment.created.on_pr.json", IC, N, "comment", repo(GITHUB, ABC),
     (2, True, "lts-def", False, f"{GITHUB}/{ABC}/pull/2"),
     (751955664, "pull_request", "trigger abc", N, "created"), N, N),
    ("github/issue_comment.edited.json", IC, N, "comment", HELLO, GH_ISSUE, (492700400, "issue",
     "You are totally right! I'll get this fixed today.", RIGHT_AWAY, "edited"), N, N),
    ("github/pull_request.labeled.json", PR, N, "label", HELLO, GH_PR, N,
     (("bug",), (), ("bug",), False), GH_HEAD),
    ("github/pull_request_review_comment.created.json", "pull_request_review_comment", N,
     "comment", HELLO, GH_PR, (284312630, "review_comment",
     "Maybe you should use more emoji on this line.", N, "created"), N, GH_HEAD),
    ("github/ping.json", "ping", N, "ping", N, N, N, N, N),
    (GT_IC, IC, IC, "comment", GOGS_REPO, (1, False, "unknwon", False, f"{GOGS_URL}/issues/1"),
     (43, "issue", "Got it", N, "created"), N, N),
    ("gitea/issue_comment.created.modern.json", IC, IC, "comment", KOSTEK_REPO, KOSTEK_3,
     (24400, "issue", "test comment", N, "created"), N, N),
    ("gitea/issue_comment.edited.json", IC, IC, "comment", KOSTEK_REPO, KOSTEK_3,
     (24400, "issue", "edit test comment", "test comment\r\n", "edited"), N, N),
    ("gitea/pull_request_comment.created.json", IC, "pull_request_comment", "comment", GOGS_REPO,
     (2, True, "unknwon", False, f"{GOGS_URL}/pulls/2"),
     (45, "pull_request", "run gofmt", N, "created"), N, N),
    (GT_PRL, PR, "pull_request_label", "label", repo(NICE_SITE, NICE, "main"),
     (7, True, "a_nice_user", False, f"{NICE_SITE}/{NICE}/pulls/7"), N,
     ((), (), ("bug", "help wanted"), True), (NICE, f"{NICE_SITE}/{NICE}.git", "jony-patch-1",
     "07977177c2cd7d46bad37b8472a9d50e7acb9d1f", False, "main")),
    ("forgejo/pull_request.label_updated.json", PR, "pull_request_label", "label",
     repo(CB_SITE, CB, "main"), (1, True, "6543", False, f"{CB_SITE}/{CB}/pulls/1"), N,
     ((), (), ("Kind/Enhancement", "Kind/Testing"), True), (CB, f"{CB_SITE}/{CB}.git",
     "6543-patch-1", "36b5813240a9d2daa29b05046d56a53e18f39a3e", False, "main")),
]  # fmt: skip


def test_every_fixture_is_in_the_table() -> None:
    found = sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.glob("*/*.json"))
    assert found == sorted(row[0] for row in CASES) and len(found) == 14


@pytest.mark.parametrize("row", CASES, ids=[row[0] for row in CASES])
def test_fixture(row: tuple) -> None:
    (name, event, sub), expected = row[:3], dict(zip(SUMMARY, row[3:], strict=True))
    got = summary(run(kind := kind_of(name), event, sub, load(name)))
    assert got.pop("forge") in [(f"my-{kind}", kind, "d-1"), ("my-github", N, N)]  # N: ping
    assert got == expected


@pytest.mark.parametrize(("action", "now", "diff"), [
    ("label_updated", ("agent", "bug"), (("agent",), ("old",))),
    ("label_cleared", (), ((), ("bug", "old"))),
])  # fmt: skip
@pytest.mark.parametrize("kind", [GT, FJ])
def test_gitea_issue_label(kind: ForgeKind, action: str, now: tuple, diff: tuple) -> None:
    payload = load("gitea/issue_comment.created.modern.json") | {"action": action}
    del payload["comment"], payload["is_pull"]  # an `issues` payload is an issue_comment's minus
    payload["issue"]["labels"] = [{"id": 1, "name": "agent"}, {"id": 2, "name": "bug"}]
    event = run(kind, "issues", "issue_label", payload)
    assert isinstance(event, LabelEvent) and summary(event)["labels"] == ((), (), now, True)
    assert (event.number, event.is_pull_request, event.actor_login) == (3, False, "kostekIV")
    resolved = resolve_label_event(event, ["bug", "old"])
    assert (resolved.labels_added, resolved.labels_removed) == diff


def github_review(action: str = "submitted", body: str | None = "/agent run") -> dict[str, Any]:
    payload = load("github/pull_request_review_comment.created.json")
    review = {"id": 99, "body": body, "user": payload.pop("comment")["user"]}
    changes = {"body": {"from": "old"}} if action == "edited" else None
    return payload | {"action": action, "review": review, "changes": changes}


def gitea_review(action: str = "reviewed", content: str = "/agent fix") -> dict[str, Any]:
    review = {"type": "pull_request_review_approved", "content": content}
    return load(GT_PRL) | {"action": action, "review": review}


@pytest.mark.parametrize("sub", ["pull_request_review_approved", None])
def test_review_bodies(sub: str | None) -> None:
    got = summary(run(GH, RV, N, github_review()))
    assert (got["comment"], got["head"]) == ((99, "review", "/agent run", N, "created"), GH_HEAD)
    assert summary(run(GH, RV, N, github_review("edited")))["comment"][3:] == ("old", "edited")
    event = run(FJ, AP, sub, gitea_review())
    assert summary(event)["comment"][1:] == ("review", "/agent fix", None, "created")
    assert summary(event)["subject"][:3] == (7, True, "a_nice_user") and event.comment_id < 0
    assert event.pull_request_head.ref == "jony-patch-1"
    assert run(FJ, AP, sub, gitea_review()).comment_id == event.comment_id  # replay: same id
    assert run(FJ, AP, sub, gitea_review(content="/agent x")).comment_id != event.comment_id
    assert run(GT, IC, "pull_request_comment", gitea_review()).comment_kind == "review"  # old Gitea


@pytest.mark.parametrize(("kind", "event", "sub", "payload"), [
    (GH, "push", N, {}), (GH, "issues", N, {"action": "opened"}),
    (GH, PR, N, {"action": "closed"}), (GT, "push", "push", {"ref": "refs/heads/x"}),
    (GH, IC, N, load(GH_IC) | {"action": "deleted"}), (GT, IC, IC, {"action": "deleted"}),
    (GH, RV, N, github_review(body=None)), (GH, RV, N, github_review(action="dismissed")),
    (GT, PR, PR, {"action": "opened"}), (GT, "release", N, {}),
    (FJ, AP, "pull_request_review_approved", gitea_review(content=" ")),
    (FJ, PR, "pull_request_review_request", {"action": "review_requested"}),
])  # fmt: skip
def test_ignored(kind: ForgeKind, event: str, sub: str | None, payload: dict) -> None:
    result = run(kind, event, sub, payload)
    assert isinstance(result, IgnoredEvent) and result.reason


def test_dialect_details() -> None:
    on_pr = load("gitea/issue_comment.created.modern.json") | {"is_pull": True}
    assert run(GT, IC, "pull_request_comment", on_pr).comment_kind == "pull_request"
    for user in ({"login": "renovate[bot]", "type": "User"}, {"login": "app", "type": "Bot"}):
        bot = load(GH_IC)
        bot["comment"]["user"] |= user
        assert run(GH, IC, N, bot).actor_is_bot
    fork = load("github/pull_request.labeled.json")
    fork["pull_request"]["head"]["repo"] |= {"id": 5, "full_name": "someone/Hello-World"}
    assert run(GH, PR, N, fork).pull_request_head.is_fork
    fork["pull_request"]["head"]["repo"] = None  # the fork was deleted
    assert summary(run(GH, PR, N, fork))["head"] == ("", "", "changes", GH_SHA, True, "master")
    big = load(GH_IC)
    big["comment"]["body"] = "x" * 5_000_000
    assert len(run(GH, IC, N, big).comment_body) == 5_000_000
    assert isinstance(run(GT, "ping", N, {}), PingEvent)
    labeled = run(GH, "issues", N, load("github/issues.labeled.json"))
    assert resolve_label_event(labeled, ["zzz"]) is labeled  # GitHub names its change already


@pytest.mark.parametrize(("name", "event", "mutate", "needle"), [
    (GH_IC, IC, lambda p: p["issue"].update(number="x"), "issue.number"),
    (GH_IC, IC, lambda p: p["issue"].update(number=0), "issue.number"),
    (GH_IC, IC, lambda p: p.update(comment=[]), "comment"),
    (GH_IC, IC, lambda p: p.pop("repository"), "repository"),
    (GH_IC, IC, lambda p: p.pop("action"), "action"),
    (GH_IC, IC, lambda p: p["issue"]["labels"].append(7), "issue.labels.1"),
    (GT_PRL, PR, lambda p: p["pull_request"]["head"].pop("ref"), "pull_request.head.ref"),
    (GT_IC, IC, lambda p: p["comment"].update(id=True), "comment.id"),
])  # fmt: skip
def test_payload_errors(name: str, event: str, mutate: Any, needle: str) -> None:
    payload = load(name)
    mutate(payload)
    with pytest.raises(PayloadError) as info:
        run(kind_of(name), event, IC if "gitea" in name else None, payload)
    assert f"'{needle}'" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(PayloadError, match="expected a JSON object"):
        run(kind_of(name), event, None, [payload])


@pytest.mark.parametrize(("previous", "current", "added", "removed"), [
    (None, [], (), ()), ([], ["a"], ("a",), ()), (["a", "c"], ["b", "c"], ("b",), ("a",)),
    (None, ["b", "a"], ("a", "b"), ()),  # first sighting: every label counts as added
    (["a", "b"], ["b", "a"], (), ()),  # same set, any order: no change
    (["a"], ["a", "a", "b"], ("b",), ()),  # duplicates ignored
    (["a", "b"], [], (), ("a", "b")),  # label_cleared
    (("Kind/Bug",), {"kind/bug"}, ("kind/bug",), ("Kind/Bug",)),  # case-sensitive
])  # fmt: skip
def test_diff_label_snapshot(previous: Any, current: Any, added: tuple, removed: tuple) -> None:
    assert diff_label_snapshot(previous, current) == (added, removed)


ACTIONS = st.sampled_from(["created", "edited", "deleted", "labeled", "unlabeled", "submitted",
                           "reviewed", "label_updated", "label_cleared"])  # fmt: skip
KEYS = st.text(max_size=12) | st.sampled_from(["action", "id", "body", "number", "login"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | ACTIONS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=15,
)
EVENTS = [(kind_of(row[0]), row[1], row[2]) for row in CASES] + [
    (FJ, AP, "pull_request_review_approved"), (GT, "issues", "issue_label"), (GH, RV, N),
    (GT, "x", "y"),
]  # fmt: skip
MODELS = (CommentEvent, LabelEvent, PingEvent, IgnoredEvent)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    if not isinstance(value, dict | list):
        return [prefix]
    items = value.items() if isinstance(value, dict) else enumerate(value)
    return [prefix, *(p for key, child in items for p in paths(child, (*prefix, key)))]


def outcome(call: Callable[[], object]) -> object:
    """What a call gives: its result, or PayloadError (the class) after checking the message."""
    try:
        return call()
    except PayloadError as exc:
        assert str(exc) and "\n" not in str(exc)
        return PayloadError


def check(kind: ForgeKind, event: str, sub: str | None, payload: object) -> None:
    """Fuzzing: any input gives a model or a one-line PayloadError, never another exception;
    the same from the raw body as from the decoded JSON; and triage agrees with normalise."""
    decoded = outcome(lambda: run(kind, event, sub, payload))
    assert decoded is PayloadError or isinstance(decoded, MODELS)
    try:
        body = json.dumps(payload, allow_nan=False).encode()
    except ValueError:
        return  # NaN or infinity: not JSON, so no body can carry it
    if isinstance(payload, dict):
        assert outcome(lambda: run(kind, event, sub, body)) == decoded
    assert_triage_agrees(kind, event, sub, body, decoded)


def assert_triage_agrees(
    kind: ForgeKind, event: str, sub: str | None, body: bytes, normalised: object
) -> None:
    triaged = outcome(lambda: triage(forge=f"my-{kind}", forge_kind=kind, event_name=event,
                                     event_type=sub, payload=body, delivery_id="d-1"))  # fmt: skip
    if isinstance(normalised, CommentEvent | LabelEvent):
        comment = normalised.comment_body if isinstance(normalised, CommentEvent) else None
        assert triaged == Triaged(normalised.repo.full_name, normalised.number, comment)
    else:
        assert triaged == normalised  # the same PayloadError, ignored reason or ping


@pytest.mark.parametrize("row", CASES, ids=[row[0] for row in CASES])
def test_fixture_from_its_body_and_triaged(row: tuple) -> None:
    """Each fixture gives the same event read from its raw body, and triage agrees with it."""
    name, event, sub = row[:3]
    body = (FIXTURES / name).read_bytes()
    event_from_dict = run(kind := kind_of(name), event, sub, load(name))
    assert run(kind, event, sub, body) == event_from_dict
    assert_triage_agrees(kind, event, sub, body, event_from_dict)


BAD_BODIES = [
    ("issue_comment", b"{not json", "malformed JSON"),
    ("pull_request", b'{"action": "label_updated", ', "malformed JSON"),
    ("push", b"\xff\xfe", "malformed JSON"),  # an event the bot ignores: still refused
    ("ping", b"nope", "malformed JSON"),
    ("issues", b"[1, 2]", "expected a JSON object"),
    ("push", b'"text"', "expected a JSON object"),
    ("issue_comment", b'{"action": 5}', "issue_comment: bad field 'action'"),
]


@pytest.mark.parametrize(
    ("kind", "event", "body", "needle"),
    [(kind, *row) for kind in (GH, FJ) for row in BAD_BODIES]
    + [
        (GH, "pull_request", b'{"action": "labeled"}', "missing field 'pull_request'"),
        (FJ, "pull_request", b'{"action": "label_updated"}', "missing field 'pull_request'"),
        (FJ, "issues", b'{"action": "label_cleared", "issue": {}}', "missing field 'issue.number'"),
    ],
)
def test_bad_bodies(kind: ForgeKind, event: str, body: bytes, needle: str) -> None:
    with pytest.raises(PayloadError, match=needle) as normalised:
        run(kind, event, None, body)
    with pytest.raises(PayloadError, match=needle) as triaged:
        triage(forge="f", forge_kind=kind, event_name=event, event_type=None, payload=body)
    malformed = needle == "malformed JSON"  # intake answers these without "payload:"
    assert isinstance(normalised.value, MalformedJsonError) is malformed
    assert isinstance(triaged.value, MalformedJsonError) is malformed


@FUZZ
@given(st.sampled_from(EVENTS), JSON, st.text(max_size=30), st.none() | st.text(max_size=30))
def test_fuzz_random_payloads(target: tuple, payload: Any, name: str, sub: str | None) -> None:
    check(*target, payload)
    check(target[0], name, sub, payload)
    if isinstance(payload, dict):
        check(*target, {"action": "created"} | payload)


@FUZZ
@given(st.sampled_from(CASES), st.data(), JSON, st.integers(0, 30))
def test_fuzz_mutated_fixtures(row: tuple, data: st.DataObject, value: Any, keep: int) -> None:
    name, event, sub = row[:3]
    path = data.draw(st.sampled_from(paths(_cached(name))[1:]))
    for how in ("replace", "delete", "truncate"):
        payload = parent = load(name)
        for key in path[:-1]:
            parent = parent[key]
        if how == "replace":
            parent[path[-1]] = value
        elif how == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):  # keep only the first `keep` keys of that object
            for key in list(parent)[keep:]:
                del parent[key]
        check(kind_of(name), event, sub, payload)
        check(kind_of(name), event, None, payload)
