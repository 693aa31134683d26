"""Label changes: a mapped label added dispatches its agent; removed, it cancels (DESIGN §4)."""

from __future__ import annotations

from bot.events import LabelEvent
from bot.handlers.common import announce_submission, check_actor, post_comment, request_from_event
from bot.normalise import resolve_label_event
from bot.replies import reply
from bot.services import Services


async def handle_label_change(services: Services, event: LabelEvent, *, ignored: bool) -> str:
    repo = event.repo.full_name
    previous = await services.labels.exchange(event.forge, repo, event.number, event.current_labels)
    if event.labels_are_snapshot:
        event = resolve_label_event(event, previous)
    if ignored:
        return "ignored-actor"
    mapping = services.settings.labels
    added = [label for label in event.labels_added if label in mapping]
    removed = [label for label in event.labels_removed if label in mapping]
    if not added and not removed:
        return "no-trigger"
    forge = services.forges.get(event.forge)
    if forge is None:
        return "no-forge-client"
    label = (added or removed)[0]
    quoted = f"label `{label}` {'added' if added else 'removed'}"
    decision = await check_actor(services, forge, event, quoted)
    if not decision.allowed:
        return "refused"
    if removed and not added:
        cancelled = await services.dispatcher.cancel_active(
            event.forge, repo, event.number, f"label `{label}` removed by @{event.actor_login}"
        )
        if cancelled:
            ids = ", ".join(f"#{run.id}" for run in cancelled)
            await post_comment(forge, event, reply(quoted, event.actor_login, f"cancelled {ids}."))
        return "cancelled" if cancelled else "nothing-to-cancel"
    agent_spec = mapping[label]
    if agent_spec == "default":
        agent_spec = services.settings.dispatch.default_agent
    agent, _, model = agent_spec.partition(":")
    request = request_from_event(
        event,
        agent=agent,
        model=model or None,
        template=services.settings.dispatch.default_template,
        trigger="label",
        command_line=quoted,
    )
    result = await services.dispatcher.submit(request)
    run = await announce_submission(services, forge, event, result, quoted)
    return "queued" if run else "busy"
