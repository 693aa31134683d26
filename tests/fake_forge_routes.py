"""The fake forge's endpoint handlers, keyed by API family, method and spec path template."""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.fake_forge_bodies import (
    Context,
    Problem,
    Reply,
    comment_body,
    issue_body,
    label_body,
    labels_of,
    permission_body,
    reaction_body,
    repo_body,
    user_body,
)

Handler = Callable[[Context], Reply]
ROUTES: dict[tuple[str, str, str], Handler] = {}
GITEA_REACTIONS = {"+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes"}
REPO = "/repos/{owner}/{repo}"
GITEA_ISSUE, GITHUB_ISSUE = REPO + "/issues/{index}", REPO + "/issues/{issue_number}"


def route(family: str, method: str, template: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES[(family, method, template)] = handler
        return handler

    return register


@route("gitea", "GET", "/user")
@route("github", "GET", "/user")
def get_authenticated_user(context: Context) -> Reply:
    return 200, user_body(context, context.login), {}


@route("github", "GET", "/users/{username}")
def get_user(context: Context) -> Reply:
    if context.params["username"] not in context.forge.users:
        raise Problem(404, "Not Found")
    return 200, user_body(context, context.params["username"]), {}


@route("gitea", "GET", REPO)
@route("github", "GET", REPO)
def get_repo(context: Context) -> Reply:
    return 200, repo_body(context, context.repo()), {}


@route("gitea", "GET", GITEA_ISSUE)
@route("github", "GET", GITHUB_ISSUE)
def get_issue(context: Context) -> Reply:
    return 200, issue_body(context, context.repo(), context.issue()), {}


@route("gitea", "GET", GITEA_ISSUE + "/comments")
@route("github", "GET", GITHUB_ISSUE + "/comments")
def list_comments(context: Context) -> Reply:
    issue, repo = context.issue(), context.repo()
    found = [c for c in context.forge.comments_on(repo.full_name, issue.number) if not c.review]
    bodies = [comment_body(context, comment) for comment in found]
    return (200, bodies, {}) if context.gitea else context.page(bodies)


@route("gitea", "POST", GITEA_ISSUE + "/comments")
@route("github", "POST", GITHUB_ISSUE + "/comments")
def create_comment(context: Context) -> Reply:
    issue, repo = context.issue(), context.repo()
    comment_id = context.forge.add_comment(
        repo.full_name, issue.number, context.body["body"], context.login
    )
    return 201, comment_body(context, context.forge.comments[comment_id]), {}


@route("gitea", "GET", REPO + "/issues/comments/{id}")
@route("github", "GET", REPO + "/issues/comments/{comment_id}")
def get_comment(context: Context) -> Reply:
    return 200, comment_body(context, context.comment()), {}


@route("gitea", "PATCH", REPO + "/issues/comments/{id}")
@route("github", "PATCH", REPO + "/issues/comments/{comment_id}")
def edit_comment(context: Context) -> Reply:
    comment = context.comment()
    if comment.author != context.login:
        raise Problem(403, "only the author may edit this comment in the fake")
    comment.body = context.body["body"]
    return 200, comment_body(context, comment), {}


def _react(context: Context, review: bool) -> Reply:
    comment, content = context.comment(review=review), (context.body or {}).get("content", "")
    if context.gitea and content not in GITEA_REACTIONS:
        raise Problem(403, f"'{content}' is not an allowed reaction")
    for reaction in context.forge.reactions:
        if (reaction["comment_id"], reaction["login"], reaction["content"]) == (
            comment.id,
            context.login,
            content,
        ):
            return 200, reaction_body(context, reaction), {}
    reaction = {
        "comment_id": comment.id,
        "login": context.login,
        "content": content,
        "review": review,
    }
    reaction |= {"id": context.forge.new_id(), "created_at": context.forge.now_iso()}
    context.forge.reactions.append(reaction)
    return 201, reaction_body(context, reaction), {}


def _reactions(context: Context, review: bool) -> Reply:
    comment = context.comment(review=review)
    found = [r for r in context.forge.reactions if r["comment_id"] == comment.id]
    bodies = [reaction_body(context, reaction) for reaction in found]
    return (200, bodies, {}) if context.gitea else context.page(bodies)


route("gitea", "POST", REPO + "/issues/comments/{id}/reactions")(lambda c: _react(c, False))
route("github", "POST", REPO + "/issues/comments/{comment_id}/reactions")(
    lambda c: _react(c, False)
)
route("github", "POST", REPO + "/pulls/comments/{comment_id}/reactions")(lambda c: _react(c, True))
route("gitea", "GET", REPO + "/issues/comments/{id}/reactions")(lambda c: _reactions(c, False))
route("github", "GET", REPO + "/issues/comments/{comment_id}/reactions")(
    lambda c: _reactions(c, False)
)
route("github", "GET", REPO + "/pulls/comments/{comment_id}/reactions")(
    lambda c: _reactions(c, True)
)


@route("gitea", "GET", REPO + "/collaborators/{collaborator}/permission")
@route("github", "GET", REPO + "/collaborators/{username}/permission")
def get_permission(context: Context) -> Reply:
    login = context.params.get("collaborator") or context.params["username"]
    return 200, permission_body(context, context.repo(), login), {}


@route("gitea", "GET", REPO + "/labels")
@route("github", "GET", REPO + "/labels")
def list_labels(context: Context) -> Reply:
    return context.page([label_body(context, label) for label in context.repo().labels.values()])


@route("gitea", "POST", REPO + "/labels")
@route("github", "POST", REPO + "/labels")
def create_label(context: Context) -> Reply:
    repo, name, color = context.repo(), context.body["name"], context.body.get("color", "ededed")
    if not re.fullmatch(r"#?[0-9a-fA-F]{6}" if context.gitea else r"[0-9a-fA-F]{6}", color):
        raise Problem(422, f"invalid color {color!r}")
    taken = any(label.name.lower() == name.lower() for label in repo.labels.values())
    if taken and not context.gitea:  # Gitea/Forgejo allow duplicate names; GitHub does not
        raise Problem(
            422,
            "Validation Failed",
            [{"resource": "Label", "code": "already_exists", "field": "name"}],
        )
    label = repo.labels[context.forge.add_label(repo.full_name, name, color, duplicate=True)]
    label.description = context.body.get("description", "")
    return 201, label_body(context, label), {}


@route("gitea", "POST", GITEA_ISSUE + "/labels")
@route("github", "POST", GITHUB_ISSUE + "/labels")
def add_issue_labels(context: Context) -> Reply:
    repo, issue = context.repo(), context.issue()
    wanted = context.body["labels"] if isinstance(context.body, dict) else context.body
    for item in wanted:
        item = item["name"] if isinstance(item, dict) else item
        matches = [label for label in repo.labels.values() if item in (label.id, label.name)]
        if not matches and context.gitea:
            raise Problem(422, f"label {item!r} does not exist")
        name = (
            matches[0].name
            if matches
            else repo.labels[context.forge.add_label(repo.full_name, item)].name
        )
        if name not in issue.labels:
            issue.labels.append(name)
    return 200, labels_of(context, repo, issue), {}


@route("gitea", "GET", GITEA_ISSUE + "/labels")
@route("github", "GET", GITHUB_ISSUE + "/labels")
def list_issue_labels(context: Context) -> Reply:
    labels = labels_of(context, context.repo(), context.issue())
    return (200, labels, {}) if context.gitea else context.page(labels)


@route("gitea", "DELETE", GITEA_ISSUE + "/labels/{id}")
@route("github", "DELETE", GITHUB_ISSUE + "/labels/{name}")
def remove_issue_label(context: Context) -> Reply:
    repo, issue = context.repo(), context.issue()
    if context.gitea:
        label = repo.labels.get(int(context.params["id"]))
        if label is None:
            raise Problem(422, "label does not exist")
        if label.name in issue.labels:
            issue.labels.remove(label.name)
        return 204, None, {}
    if context.params["name"] not in issue.labels:
        raise Problem(404, "Label does not exist")
    issue.labels.remove(context.params["name"])
    return 200, labels_of(context, repo, issue), {}
