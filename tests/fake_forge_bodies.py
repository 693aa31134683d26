"""The fake forge's data model, request context, error answers and spec-shaped bodies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from yarl import URL

from tests.fake_forge_spec import load_spec

if TYPE_CHECKING:
    from tests.fake_forge import FakeForge

Reply = tuple[int, Any, dict[str, str]]
PERMISSION_OF_GITHUB_ROLE = {"maintain": "write", "triage": "read"}


@dataclass
class FakeUser:
    login: str
    id: int
    type: str = "User"  # or "Bot"


@dataclass
class FakeLabel:
    id: int
    name: str
    color: str = "ededed"
    description: str = ""


@dataclass
class FakePull:
    head_ref: str
    head_sha: str
    head_repo: str
    base_ref: str
    draft: bool = False


@dataclass
class FakeIssue:
    id: int
    number: int
    title: str
    body: str
    author: str
    labels: list[str] = field(default_factory=list)
    state: str = "open"
    pull: FakePull | None = None


@dataclass
class FakeComment:
    id: int
    repo: str
    number: int
    body: str
    author: str
    created_at: str
    review: bool = False  # a GitHub review comment (on a diff line)


@dataclass
class FakeRepo:
    id: int
    full_name: str
    family: str
    clone_url: str
    default_branch: str = "main"
    private: bool = False
    time_tracking: bool = True
    labels: dict[int, FakeLabel] = field(default_factory=dict)
    issues: dict[int, FakeIssue] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)
    installation_id: int | None = None


class Problem(Exception):
    """An error answer, shaped like the family's error body."""

    def __init__(self, status: int, message: str, errors: list[Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors

    def payload(self, family: str) -> dict[str, Any]:
        if family == "gitea":
            return {"message": self.message, "url": "https://forgejo.org/api/swagger"}
        body = {"message": self.message, "documentation_url": "https://docs.github.com/rest"}
        return body | ({"errors": self.errors} if self.errors is not None else {})


@dataclass
class Context:
    forge: FakeForge
    family: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    login: str
    url: URL

    @property
    def gitea(self) -> bool:
        return self.family == "gitea"

    def repo(self) -> FakeRepo:
        repo = self.forge.repos.get(f"{self.params['owner']}/{self.params['repo']}")
        if repo is None or repo.family != self.family:
            raise Problem(404, "Not Found")
        return repo

    def issue(self) -> FakeIssue:
        names = ("index", "issue_number", "pull_number")
        number = next(self.params[name] for name in names if name in self.params)
        issue = self.repo().issues.get(int(number))
        if issue is None:
            raise Problem(404, "Not Found")
        return issue

    def comment(self, *, review: bool = False) -> FakeComment:
        comment = self.forge.comments.get(int(self.params.get("id") or self.params["comment_id"]))
        if comment is None or comment.repo != self.repo().full_name or comment.review != review:
            raise Problem(404, "Not Found")
        return comment

    def page(self, items: list[Any]) -> Reply:
        size_name, default, maximum = ("limit", 30, 50) if self.gitea else ("per_page", 30, 100)
        try:
            size = min(max(int(self.query.get(size_name, default)), 1), maximum)
            number = max(int(self.query.get("page", 1)), 1)
        except ValueError as error:
            raise Problem(422, f"bad paging parameter: {error}") from error
        last = max(1, -(-len(items) // size))
        headers = {"X-Total-Count": str(len(items))} if self.gitea else {}
        if number < last:
            links = [(number + 1, "next"), (last, "last")]
            headers["Link"] = ", ".join(
                f'<{self.url.update_query({size_name: size, "page": target})}>; rel="{rel}"'
                for target, rel in links
            )
        return 200, items[(number - 1) * size : number * size], headers


# -- bodies --------------------------------------------------------------------------------
def user_body(context: Context, login: str) -> dict[str, Any]:
    user = context.forge.add_user(login)
    web = f"{context.forge.url}/{login}"
    if context.gitea:
        return {
            "id": user.id,
            "login": login,
            "login_name": "",
            "full_name": login,
            "html_url": web,
        }
    overlay = {
        "login": login,
        "id": user.id,
        "type": user.type,
        "html_url": web,
        "site_admin": False,
    }
    return load_spec("github").shape("simple-user", overlay)


def repo_body(context: Context, repo: FakeRepo, schema: str = "full-repository") -> dict[str, Any]:
    name = repo.full_name.split("/")[1]
    web = f"{context.forge.url}/{repo.full_name}"
    overlay = {"id": repo.id, "name": name, "full_name": repo.full_name, "private": repo.private}
    overlay |= {
        "owner": user_body(context, repo.full_name.split("/")[0]),
        "html_url": web,
        "fork": False,
    }
    overlay |= {"clone_url": repo.clone_url, "default_branch": repo.default_branch}
    if context.gitea:
        return overlay | {"empty": False, "has_issues": True, "has_pull_requests": True}
    return load_spec("github").shape(schema, overlay)


def label_body(context: Context, label: FakeLabel) -> dict[str, Any]:
    overlay = {
        "id": label.id,
        "name": label.name,
        "color": label.color,
        "description": label.description,
    }
    if context.gitea:
        return overlay | {"exclusive": False, "is_archived": False}
    return load_spec("github").shape(
        "label", overlay | {"node_id": f"L{label.id}", "default": False}
    )


def labels_of(context: Context, repo: FakeRepo, issue: FakeIssue) -> list[dict[str, Any]]:
    by_name = {label.name: label for label in repo.labels.values()}
    return [label_body(context, by_name[name]) for name in issue.labels]


def issue_body(context: Context, repo: FakeRepo, issue: FakeIssue) -> dict[str, Any]:
    kind = "pulls" if issue.pull else "issues"
    web = f"{context.forge.url}/{repo.full_name}/{kind}/{issue.number}"
    overlay = {"id": issue.id, "number": issue.number, "title": issue.title, "body": issue.body}
    overlay |= {"user": user_body(context, issue.author), "state": issue.state, "html_url": web}
    overlay |= {"labels": labels_of(context, repo, issue)}
    if context.gitea:
        meta = {"merged": False, "draft": issue.pull.draft, "html_url": web} if issue.pull else None
        return overlay | {
            "pull_request": meta,
            "repository": {"id": repo.id, "full_name": repo.full_name},
        }
    if issue.pull:
        overlay["pull_request"] = {"url": web, "html_url": web, "diff_url": web, "patch_url": web}
    return load_spec("github").shape("issue", overlay)


def comment_body(context: Context, comment: FakeComment) -> dict[str, Any]:
    web = f"{context.forge.url}/{comment.repo}/issues/{comment.number}#issuecomment-{comment.id}"
    overlay = {"id": comment.id, "body": comment.body, "user": user_body(context, comment.author)}
    overlay |= {"html_url": web, "created_at": comment.created_at, "updated_at": comment.created_at}
    if context.gitea:
        return overlay | {"issue_url": web.split("#")[0], "original_author": "", "assets": []}
    api = f"{context.forge.url}/repos/{comment.repo}/issues"
    overlay |= {"node_id": f"C{comment.id}", "url": f"{api}/comments/{comment.id}"}
    return load_spec("github").shape(
        "issue-comment", overlay | {"issue_url": f"{api}/{comment.number}"}
    )


def pull_body(context: Context, repo: FakeRepo, issue: FakeIssue) -> dict[str, Any]:
    assert issue.pull is not None
    pull, forge = issue.pull, context.forge
    body = issue_body(context, repo, issue) if context.gitea else {}
    overlay = {"id": issue.id, "number": issue.number, "title": issue.title, "body": issue.body}
    overlay |= {"state": issue.state, "user": user_body(context, issue.author), "draft": pull.draft}
    overlay |= {"merged": False, "html_url": f"{forge.url}/{repo.full_name}/pulls/{issue.number}"}
    branches = []
    for name, ref, sha in (
        (pull.head_repo, pull.head_ref, pull.head_sha),
        (repo.full_name, pull.base_ref, "b" * 40),
    ):
        owner, other = name.split("/")[0], forge.repos[name]
        repo_shape = repo_body(context, other, "repository")
        branches.append(
            {
                "label": ref if context.gitea else f"{owner}:{ref}",
                "ref": ref,
                "sha": sha,
                "repo": repo_shape,
            }
        )
        branches[-1] |= (
            {"repo_id": other.id} if context.gitea else {"user": user_body(context, owner)}
        )
    overlay |= {"head": branches[0], "base": branches[1]}
    if context.gitea:
        return body | overlay | {"labels": body["labels"], "mergeable": True}
    return load_spec("github").shape(
        "pull-request", overlay | {"labels": labels_of(context, repo, issue)}
    )


def reaction_body(context: Context, reaction: dict[str, Any]) -> dict[str, Any]:
    overlay = {"user": user_body(context, reaction["login"]), "content": reaction["content"]}
    overlay |= {"created_at": reaction["created_at"]}
    if context.gitea:
        return overlay
    return load_spec("github").shape("reaction", overlay | {"id": reaction["id"], "node_id": "R"})


def permission_body(context: Context, repo: FakeRepo, login: str) -> dict[str, Any]:
    if login not in context.forge.users:
        raise Problem(404, f"{login} is not a user" if not context.gitea else "user does not exist")
    default = "none" if repo.private else "read"
    if context.gitea and login == repo.full_name.split("/")[0]:
        default = "owner"
    role = repo.permissions.get(login, default)
    if context.gitea:
        caller = repo.permissions.get(context.login, "admin")
        if context.login != login and caller not in ("admin", "owner"):
            raise Problem(
                403,
                "Only admins can query all permissions, repo admins can query all repo permissions",
            )
        return {"permission": role, "role_name": role, "user": user_body(context, login)}
    permission = PERMISSION_OF_GITHUB_ROLE.get(role, role)
    user = load_spec("github").shape(
        "nullable-collaborator", user_body(context, login) | {"role_name": role}
    )
    return load_spec("github").shape(
        "repository-collaborator-permission",
        {"permission": permission, "role_name": role, "user": user},
    )
