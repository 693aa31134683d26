"""Workspace layout, name and ref validation, branch slugs, URL hygiene and status.json."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.engine.workspace import (
    InvalidName,
    check_remote_url,
    issue_branch_name,
    meta_dir,
    mirror_dir,
    read_status,
    repo_dir,
    safe_git_config,
    split_repo_full_name,
    validate_name,
    validate_ref_name,
    workspace_dir,
    write_status,
)

GOOD_NAMES = ["a", "bot", "my-repo", "my_repo", "repo.js", "A1", "x" * 100, "0day", "a..b"]
BAD_NAMES = [
    *["", ".", "..", ".hidden", "-rf", "_private", "a/b", "../etc", "/etc", "a\\b", "a:b"],
    *["a\x00b", "a\nb", "a\tb", "a b", "x" * 101, "~user", "café"],
    "r\u0435po",  # Cyrillic "е": a look-alike of "repo"
    "ｒｅｐｏ",  # full-width letters
    "repo\u200b",  # zero-width space
]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_names_are_accepted(name: str) -> None:
    assert validate_name(name, "repository") == name


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidName, match="repository"):
        validate_name(name, "repository")


def test_name_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(InvalidName):
        validate_name(None, "owner")  # type: ignore[arg-type]


GOOD_REFS = [
    *["main", "feature/x", "agent/issue-12-fix-readme", "release-1.2", "v1.0.0", "a/b/c"],
    *["fix_{thing}", "über-branch", "a.b", "x" * 255],
]
BAD_REFS = [
    *["", "@", "-delete", "/main", "main/", "main.", "a..b", "../../etc/passwd", "a//b", "a@{1}"],
    *["a b", "a~1", "a^", "a:b", "a?", "a*", "a[0]", "a\\b", "a\x00b", "a\nb", "a\x7fb"],
    *[".hidden", "a/.hidden", "main.lock", "refs/heads/x.lock/y", "x" * 256],
    "é" * 128,  # 256 bytes in UTF-8
    "a\u200bb",  # zero-width space
    "a\u202eb",  # right-to-left override
    "a\u00a0b",  # no-break space
]


@pytest.mark.parametrize("ref", GOOD_REFS)
def test_good_refs_are_accepted(ref: str) -> None:
    assert validate_ref_name(ref) == ref


@pytest.mark.parametrize("ref", BAD_REFS)
def test_bad_refs_are_refused(ref: str) -> None:
    with pytest.raises(InvalidName, match="branch name"):
        validate_ref_name(ref)


@pytest.mark.parametrize("ref", [r for r in GOOD_REFS + BAD_REFS if "\x00" not in r])
def test_ref_rules_agree_with_git(ref: str) -> None:
    """Whatever we accept, git accepts too (we are allowed to be stricter)."""
    completed = subprocess.run(
        ["git", "check-ref-format", "--branch", ref], capture_output=True, check=False
    )
    try:
        validate_ref_name(ref)
    except InvalidName:
        return
    assert completed.returncode == 0, ref


@given(st.text(min_size=1, max_size=40))
def test_accepted_refs_never_escape(ref: str) -> None:
    try:
        validate_ref_name(ref)
    except InvalidName:
        return
    assert ".." not in ref and not ref.startswith(("/", "-")) and "\x00" not in ref
    assert all(part not in ("", ".", "..") for part in ref.split("/"))


def test_workspace_layout(tmp_path: Path) -> None:
    issue = workspace_dir(tmp_path, "forgejo", "owner", "repo", 12, False)
    pull = workspace_dir(tmp_path, "github", "owner", "repo", 3, True)
    assert issue == tmp_path / "forgejo" / "owner" / "repo" / "issue-12"
    assert pull == tmp_path / "github" / "owner" / "repo" / "pr-3"
    assert repo_dir(issue) == issue / "repo"
    assert meta_dir(issue) == issue / ".meta"
    assert mirror_dir(tmp_path, "gitea", "o", "r") == tmp_path / "gitea" / "o" / "r.git"


@pytest.mark.parametrize(
    ("forge", "owner", "repo", "number"),
    [
        ("..", "o", "r", 1),
        ("f", "/etc", "r", 1),
        ("f", "o", "../../x", 1),
        ("f", "o", "r\x00", 1),
        ("f", "o", "r", 0),
        ("f", "o", "r", -3),
        ("f", "o", "r", True),
        ("f", "o", "r", "1"),
    ],
)
def test_workspace_dir_refuses_escapes(forge: str, owner: str, repo: str, number: int) -> None:
    with pytest.raises(InvalidName):
        workspace_dir(Path("/srv/ws"), forge, owner, repo, number, False)


def test_workspace_dir_refuses_a_symlink_that_escapes_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "forgejo").mkdir(parents=True)
    (root / "forgejo" / "evil").symlink_to(tmp_path)
    with pytest.raises(InvalidName, match="escapes"):
        workspace_dir(root, "forgejo", "evil", "repo", 1, False)


def test_split_repo_full_name() -> None:
    assert split_repo_full_name("owner/repo") == ("owner", "repo")
    for bad in ["owner", "a/b/c", "../x", "owner/", "/repo", "owner/re po"]:
        with pytest.raises(InvalidName):
            split_repo_full_name(bad)


@pytest.mark.parametrize(
    ("number", "title", "expected"),
    [
        (12, "Fix README", "agent/issue-12-fix-readme"),
        (1, " Crash when saving: 'a.txt' (v2)!! ", "agent/issue-1-crash-when-saving-a-txt-v2"),
        (5, "Café déjà vu", "agent/issue-5-cafe-deja-vu"),
        (7, "日本語のタイトル", "agent/issue-7"),
        (8, "", "agent/issue-8"),
        (9, "---", "agent/issue-9"),
        (10, "a" * 80, "agent/issue-10-" + "a" * 40),
        (
            11,
            "Make the configuration loader accept environment variables everywhere",
            "agent/issue-11-make-the-configuration-loader-accept",
        ),
        (13, "../../etc/passwd; rm -rf /", "agent/issue-13-etc-passwd-rm-rf"),
    ],
)
def test_issue_branch_name(number: int, title: str, expected: str) -> None:
    name = issue_branch_name(number, title)
    assert name == expected
    assert len(name.split("-", 2)[-1]) <= 40 or name == f"agent/issue-{number}"
    assert not name.endswith("-")
    validate_ref_name(name)


@given(st.integers(min_value=1, max_value=10**9), st.text(max_size=200))
def test_issue_branch_names_are_always_valid(number: int, title: str) -> None:
    name = issue_branch_name(number, title)
    assert name.startswith(f"agent/issue-{number}")
    validate_ref_name(name)


def test_status_round_trip(tmp_path: Path) -> None:
    meta = tmp_path / "ws" / ".meta"
    assert read_status(meta) is None
    path = write_status(meta, {"state": "running", "run_id": 3, "nested": {"a": [1, 2]}})
    assert path == meta / "status.json"
    assert read_status(meta) == {"state": "running", "run_id": 3, "nested": {"a": [1, 2]}}
    write_status(meta, {"state": "completed"})
    assert read_status(meta) == {"state": "completed"}
    assert sorted(os.listdir(meta)) == ["status.json"]  # no temporary file left behind


def test_status_unreadable_or_not_an_object_is_none(tmp_path: Path) -> None:
    (tmp_path / "status.json").write_text("{half")
    assert read_status(tmp_path) is None
    (tmp_path / "status.json").write_text(json.dumps([1, 2]))
    assert read_status(tmp_path) is None


def test_status_refuses_a_symlinked_meta(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / ".meta").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InvalidName):
        write_status(tmp_path / ".meta", {"state": "x"})
    assert not (tmp_path / "elsewhere" / "status.json").exists()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://forge.example.org/o/r.git", "https://forge.example.org/o/r.git"),
        ("https://user:secret@forge.example.org/o/r.git", "https://forge.example.org/o/r.git"),
        ("https://ghp_TOKEN@github.com/o/r.git", "https://github.com/o/r.git"),
        ("ssh://git:pw@forge.example.org/o/r.git", "ssh://git@forge.example.org/o/r.git"),
        ("git@forge.example.org:o/r.git", "git@forge.example.org:o/r.git"),
        ("/srv/git/r.git", "/srv/git/r.git"),
    ],
)
def test_check_remote_url_strips_credentials(url: str, expected: str) -> None:
    assert check_remote_url(url) == expected


@pytest.mark.parametrize("url", ["", " ", "--upload-pack=touch x", "https://a/b\nc", "https://a b"])
def test_check_remote_url_refuses_odd_urls(url: str) -> None:
    with pytest.raises(InvalidName):
        check_remote_url(url)


def test_safe_git_config_keeps_only_harmless_keys() -> None:
    listed = "\0".join(
        [
            "core.repositoryformatversion\n0",
            "core.hookspath\n/tmp/evil",
            "core.fsmonitor\ntouch /tmp/pwned",
            "core.worktree\n/home/bot",
            "include.path\n/tmp/evil.cfg",
            "url.https://evil.example/.insteadof\nhttps://forge.example.org/",
            "http.extraheader\nX-Leak: 1",
            "remote.origin.url\nhttps://u:p@forge.example.org/o/r.git",
            'user.name\nA "quoted" \\ name',
        ]
    )
    text = safe_git_config(listed, {"user.email": "bot@example.org"})
    forbidden = ["hookspath", "fsmonitor", "worktree", "include", "insteadof", "extraheader", ":p@"]
    for word in forbidden:
        assert word not in text.lower()
    assert '\turl = "https://forge.example.org/o/r.git"' in text
    assert '\tname = "A \\"quoted\\" \\\\ name"' in text
    assert '\temail = "bot@example.org"' in text
    with pytest.raises(InvalidName):
        safe_git_config("", {"core.hookspath": "/tmp"})
