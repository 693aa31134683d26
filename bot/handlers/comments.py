"""Slash commands in comments (DESIGN §4): parse, check who asked, act, reply."""

from __future__ import annotations

import logging

from bot.commands import (
    Command,
    CommandError,
    ParseContext,
    commands_added_by_edit,
    parse_comment,
    render_help,
)
from bot.dispatcher import RunRequest
from bot.engine.template_library import TemplateLibrary
from bot.events import CommentEvent
from bot.forge.protocol import Forge, ForgeError
from bot.handlers.common import (
    announce_submission,
    check_actor,
    event_fields,
    logger,
    post_comment,
    request_from_event,
)
from bot.logs import log_event
from bot.replies import command_error, reply, status_table
from bot.services import Services
from bot.store.runs import Run, RunState


def parse_context(services: Services, event: CommentEvent) -> ParseContext:
    """What commands are checked against: the agents and the engine's templates, now.

    Built from the current settings, like the engine's library for each run, so a reload that
    changes `templates_dir` applies to both; names are listed only when a command gives one.
    """
    return ParseContext(
        known_agents=services.settings.known_agents(),
        template_names=TemplateLibrary(services.settings.dispatch.templates_dir),
        is_pull_request=event.is_pull_request,
    )


def issue_page(event: CommentEvent) -> str:
    """The issue's web page; Gitea and Forgejo comment payloads carry only the repository's
    (both forges, and GitHub, send `/issues/N` of a pull request on to its page)."""
    if event.html_url:
        return event.html_url
    return f"{event.repo.html_url}/issues/{event.number}" if event.repo.html_url else ""


async def handle_comment(services: Services, event: CommentEvent) -> str:
    context = parse_context(services, event)
    if event.action == "edited":
        items = commands_added_by_edit(event.previous_body or "", event.comment_body, context)
    else:
        items = parse_comment(event.comment_body, context)
    if not items:
        return "no-command"
    fresh = await services.inbox.claim_comment_action(
        event.forge,
        event.comment_kind.value,
        event.comment_id,
        event.action,
        event.comment_body,
        event.delivery_id,
    )
    if not fresh:
        return "replayed-comment"
    forge = services.forges.get(event.forge)
    if forge is None:
        log_event(logger, logging.ERROR, "no API client for forge", **event_fields(event))
        return "no-forge-client"
    decision = await check_actor(services, forge, event, items[0].line)
    if not decision.allowed:
        return "refused"
    try:
        await forge.add_reaction(event.repo.full_name, event.comment_id, event.comment_kind)
    except ForgeError as error:
        log_event(
            logger, logging.WARNING, "reaction failed", error=str(error), **event_fields(event)
        )
    outcomes = [await execute(services, forge, event, item) for item in items]
    return ",".join(outcomes)


async def execute(
    services: Services, forge: Forge, event: CommentEvent, item: Command | CommandError
) -> str:
    login = event.actor_login
    if isinstance(item, CommandError):
        await post_comment(forge, event, command_error(item.line, login, item.message, item.usage))
        return f"{item.name}:error"
    if item.name == "help":
        settings = services.settings
        text = render_help(
            min_permission=settings.permissions.min_permission,
            default_agent=settings.dispatch.default_agent,
            known_agents=sorted(settings.known_agents()),
        )
        body = reply(item.line, login, "here is what I can do:\n\n" + text)
        await post_comment(forge, event, body)
        return "help"
    if item.name == "status":
        runs = await services.runs.for_issue(event.forge, event.repo.full_name, event.number)
        public_url = services.settings.server.public_url
        table = status_table(runs, issue_page(event), public_url)
        await post_comment(forge, event, reply(item.line, login, table))
        return "status"
    if item.name == "cancel":
        cancelled = await services.dispatcher.cancel_active(
            event.forge, event.repo.full_name, event.number, f"cancelled by @{login}"
        )
        text = (
            "cancelled " + ", ".join(f"run #{run.id}" for run in cancelled) + "."
            if cancelled
            else "there is no queued or running run here to cancel."
        )
        await post_comment(forge, event, reply(item.line, login, text))
        return "cancel"
    request = await request_for(services, forge, event, item)
    if request is None:
        return f"{item.name}:nothing"
    result = await services.dispatcher.submit(request)
    run = await announce_submission(services, forge, event, result, item.line)
    return f"{item.name}:queued" if run else f"{item.name}:busy"


def _comment_fields(event: CommentEvent, item: Command) -> dict[str, object]:
    return {
        "trigger": "comment",
        "trigger_comment_id": event.comment_id,
        "trigger_comment_kind": event.comment_kind.value,
        "command_line": item.line,
    }


async def request_for(
    services: Services, forge: Forge, event: CommentEvent, item: Command
) -> RunRequest | None:
    """The run a dispatch/review/answer/retry asks for, or None after replying why not."""
    settings = services.settings
    if item.name == "dispatch" and item.dispatch is not None:
        arguments = item.dispatch
        agent_spec = arguments.agent or settings.dispatch.default_agent
        agent, _, default_model = agent_spec.partition(":")
        options = {
            key: value
            for key, value in (
                ("persona", arguments.persona),
                ("plan", arguments.plan),
                ("base", arguments.base),
                ("variables", arguments.variables or None),
            )
            if value
        }
        return request_from_event(
            event,
            agent=agent,
            model=arguments.model or default_model or None,
            template=arguments.template or settings.dispatch.default_template,
            options=options,
            instructions=arguments.instructions,
            timeout_minutes=arguments.timeout_minutes,
            **_comment_fields(event, item),
        )
    if item.name == "review":
        agent, _, model = (item.agent_spec or "codex:review").partition(":")
        return request_from_event(
            event,
            agent=agent,
            model=model or None,
            template="review",
            **_comment_fields(event, item),
        )
    runs = await services.runs.for_issue(event.forge, event.repo.full_name, event.number)
    if item.name == "answer":
        blocked = next((run for run in runs if run.state is RunState.BLOCKED), None)
        if blocked is None:
            await post_comment(
                forge, event, reply(item.line, event.actor_login, "there is no blocked run here.")
            )
            return None
        return _repeat(event, item, blocked, resumed_from=blocked.id, answer=item.text)
    if item.name == "retry":
        if not runs:
            await post_comment(
                forge, event, reply(item.line, event.actor_login, "there is no run here to retry.")
            )
            return None
        return _repeat(event, item, runs[0])
    return None


def _repeat(event: CommentEvent, item: Command, run: Run, **extra: object) -> RunRequest:
    """A new request with the parameters of an earlier run."""
    return request_from_event(
        event,
        agent=run.agent,
        model=run.model,
        template=run.template,
        options=run.options,
        task=run.task,
        instructions=run.instructions,
        timeout_minutes=run.timeout_minutes,
        base_branch=run.base_branch,
        **_comment_fields(event, item),
        **extra,
    )
