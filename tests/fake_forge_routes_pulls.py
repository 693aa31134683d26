"""The fake forge's pull request, time tracking (Gitea/Forgejo) and GitHub App endpoints."""

from __future__ import annotations

import calendar
import time
from typing import Any

from tests.fake_forge_bodies import Context, FakeIssue, FakeRepo, Problem, Reply, pull_body
from tests.fake_forge_routes import GITEA_ISSUE, REPO, ROUTES, route
from tests.fake_forge_spec import load_spec

__all__ = ["ROUTES"]


def _head(repo: FakeRepo, head: str) -> tuple[str, str]:
    """(head repo full name, branch) of a `branch` or `owner:branch` head."""
    owner, _, branch = head.rpartition(":")
    repo_owner, name = repo.full_name.split("/")
    return (f"{owner}/{name}" if owner and owner != repo_owner else repo.full_name), branch


def _pulls(repo: FakeRepo, base: str | None, head: str | None) -> list[FakeIssue]:
    found = [issue for issue in repo.issues.values() if issue.pull]
    if base is not None:
        found = [issue for issue in found if issue.pull and issue.pull.base_ref == base]
    if head is not None:
        head_repo, branch = _head(repo, head)
        found = [
            i
            for i in found
            if i.pull and (i.pull.head_repo, i.pull.head_ref) == (head_repo, branch)
        ]
    return sorted(found, key=lambda issue: issue.number)


@route("gitea", "GET", REPO + "/pulls/{index}")
@route("github", "GET", REPO + "/pulls/{pull_number}")
def get_pull(context: Context) -> Reply:
    repo, issue = context.repo(), context.issue()
    if issue.pull is None:
        raise Problem(404, "Not Found")
    return 200, pull_body(context, repo, issue), {}


@route("gitea", "GET", REPO + "/pulls/{base}/{head}")
def get_pull_by_branches(context: Context) -> Reply:
    """Like Gitea: the latest PR for base and head, whatever its state."""
    repo = context.repo()
    found = _pulls(repo, context.params["base"], context.params["head"])
    if not found:
        raise Problem(404, "pull request does not exist")
    return 200, pull_body(context, repo, found[-1]), {}


@route("github", "GET", REPO + "/pulls")
def list_pulls(context: Context) -> Reply:
    repo, state, head = (
        context.repo(),
        context.query.get("state", "open"),
        context.query.get("head"),
    )
    if head is not None and ":" not in head:
        raise Problem(422, "the fake wants head as owner:branch (GitHub ignores a bare branch)")
    found = _pulls(repo, context.query.get("base"), head)
    found = [issue for issue in found if state == "all" or issue.state == state]
    return context.page([pull_body(context, repo, issue) for issue in found])


@route("gitea", "POST", REPO + "/pulls")
@route("github", "POST", REPO + "/pulls")
def create_pull(context: Context) -> Reply:
    repo, body = context.repo(), context.body
    for key in ("title", "head", "base"):
        if not body.get(key):
            raise Problem(422, f"{key} is required")
    if [issue for issue in _pulls(repo, body["base"], body["head"]) if issue.state == "open"]:
        if context.gitea:
            raise Problem(409, "pull request already exists for these targets")
        raise Problem(
            422,
            "Validation Failed",
            [
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": f"A pull request already exists for {body['head']}.",
                }
            ],
        )
    head_repo, branch = _head(repo, body["head"])
    number = max(repo.issues, default=0) + 1
    draft = bool(body.get("draft")) if not context.gitea else body["title"].startswith("WIP:")
    issue = context.forge.add_pull_request(
        repo.full_name,
        number,
        body["title"],
        body.get("body", ""),
        head_ref=branch,
        head_sha="c" * 40,
        head_repo=head_repo,
        base_ref=body["base"],
        author=context.login,
        draft=draft,
    )
    return 201, pull_body(context, repo, issue), {}


def _tracking(context: Context) -> tuple[str, int]:
    repo, issue = context.repo(), context.issue()
    if not repo.time_tracking:
        raise Problem(403, "time tracking is disabled for this repository")
    return repo.full_name, issue.number


def _finish(context: Context, login: str, record: bool) -> None:
    forge = context.forge
    repo, number, started = forge.stopwatches.pop(login)
    if record:
        seconds = max(1, int(forge.clock() - started))
        forge.tracked_times.append(
            {
                "id": forge.new_id(),
                "repo": repo,
                "number": number,
                "login": login,
                "seconds": seconds,
                "created": forge.clock(),
            }
        )


@route("gitea", "POST", GITEA_ISSUE + "/stopwatch/start")
def start_stopwatch(context: Context) -> Reply:
    where = _tracking(context)
    running = context.forge.stopwatches.get(context.login)
    if running and running[:2] == where:
        raise Problem(409, "Cannot start a stopwatch again if it already exists")
    if running:  # like Forgejo: one stopwatch per user; the running one stops silently
        _finish(context, context.login, record=True)
    context.forge.stopwatches[context.login] = (*where, context.forge.clock())
    return 201, None, {}


@route("gitea", "POST", GITEA_ISSUE + "/stopwatch/stop")
@route("gitea", "DELETE", GITEA_ISSUE + "/stopwatch/delete")
def stop_stopwatch(context: Context) -> Reply:
    where, stop = _tracking(context), context.url.path.endswith("/stop")
    running = context.forge.stopwatches.get(context.login)
    if not running or running[:2] != where:
        raise Problem(409, "Cannot stop a non existent stopwatch")
    _finish(context, context.login, record=stop)
    return (201, None, {}) if stop else (204, None, {})


@route("gitea", "GET", "/user/stopwatches")
def list_stopwatches(context: Context) -> Reply:
    forge, bodies = context.forge, []
    if context.login in forge.stopwatches:
        repo, number, started = forge.stopwatches[context.login]
        seconds, (owner, name) = int(forge.clock() - started), repo.split("/")
        bodies.append(
            {
                "created": forge.now_iso(-seconds),
                "seconds": seconds,
                "duration": f"{seconds}s",
                "issue_index": number,
                "issue_title": forge.repos[repo].issues[number].title,
                "repo_owner_name": owner,
                "repo_name": name,
            }
        )
    return context.page(bodies)


@route("gitea", "POST", GITEA_ISSUE + "/times")
def add_time(context: Context) -> Reply:
    repo, number = _tracking(context)
    if context.body["time"] <= 0:
        raise Problem(400, "time must be positive")
    entry = {"id": context.forge.new_id(), "repo": repo, "number": number, "login": context.login}
    entry |= {"seconds": context.body["time"], "created": context.forge.clock()}
    context.forge.tracked_times.append(entry)
    return 200, _time_body(context, context.forge.tracked_times[-1]), {}


@route("gitea", "GET", GITEA_ISSUE + "/times")
def list_times(context: Context) -> Reply:
    repo, number = _tracking(context)
    entries = [t for t in context.forge.tracked_times if (t["repo"], t["number"]) == (repo, number)]
    if "user" in context.query:
        entries = [t for t in entries if t["login"] == context.query["user"]]
    if "since" in context.query:  # RFC 3339, as Forgejo reads it; whole seconds here
        since = calendar.timegm(time.strptime(context.query["since"], "%Y-%m-%dT%H:%M:%SZ"))
        entries = [t for t in entries if t["created"] >= since]
    return context.page([_time_body(context, entry) for entry in entries])


def _time_body(context: Context, entry: dict[str, Any]) -> dict[str, Any]:
    user = context.forge.users[entry["login"]]
    return {
        "id": entry["id"],
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(entry["created"])),
        "time": entry["seconds"],
        "user_id": user.id,
        "user_name": user.login,
        "issue_id": context.issue().id,
    }


@route("github", "GET", REPO + "/installation")
def get_installation(context: Context) -> Reply:
    repo, forge = context.repo(), context.forge
    if repo.installation_id is None:
        raise Problem(404, "Not Found")
    overlay = {"id": repo.installation_id, "app_id": int(forge.app_id or 0), "target_type": "User"}
    overlay["access_tokens_url"] = (
        f"{forge.url}/app/installations/{repo.installation_id}/access_tokens"
    )
    return 200, load_spec("github").shape("installation", overlay), {}


@route("github", "POST", "/app/installations/{installation_id}/access_tokens")
def create_installation_token(context: Context) -> Reply:
    forge, installation_id = context.forge, int(context.params["installation_id"])
    if all(repo.installation_id != installation_id for repo in forge.repos.values()):
        raise Problem(404, "Not Found")
    token, expires_at = f"ghs_fake{forge.new_id()}", forge.clock() + forge.token_lifetime
    forge.add_token(token, f"{forge.bot_login}[bot]", expires_at=expires_at)
    forge.issued_app_tokens.append(token)
    overlay = {"token": token, "expires_at": forge.now_iso(forge.token_lifetime), "permissions": {}}
    return 201, load_spec("github").shape("installation-token", overlay), {}
