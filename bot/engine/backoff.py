"""Pool backoff (seed's trackFailureRate): quick failures in a row pause a pool for a while."""

from __future__ import annotations

import logging

from bot.logs import get_logger, log_event
from bot.services import Services
from bot.store.database import now
from bot.store.runs import Run, RunState

logger = get_logger("backoff")


async def record_outcome_for_backoff(services: Services, run: Run) -> float | None:
    """Count a quick failure or reset the count; return the pause end when one starts."""
    settings = services.settings.backoff
    pool = run.agent
    state = await services.flags.backoff(pool)
    if run.state is RunState.CANCELLED:
        return None  # a person's decision says nothing about the pool's health
    quick = (
        run.state is RunState.FAILED
        and run.started_at is not None
        and (run.finished_at or now()) - run.started_at < settings.window_seconds
    )
    if not quick:
        if state.failure_count:
            await services.flags.set_backoff(pool, 0, state.paused_until)
        return None
    count = state.failure_count + 1
    if count >= settings.failures:
        until = now() + settings.pause_minutes * 60
        await services.flags.set_backoff(pool, 0, until)
        log_event(
            logger,
            logging.WARNING,
            "pool paused",
            pool=pool,
            failures=count,
            minutes=settings.pause_minutes,
            run=run.id,
        )
        return until
    await services.flags.set_backoff(pool, count, state.paused_until)
    return None


async def paused_pools(services: Services) -> dict[str, float]:
    """Pools whose pause has not ended yet, with when it ends."""
    current = now()
    return {
        backoff.pool: backoff.paused_until
        for backoff in await services.flags.all_backoffs()
        if backoff.paused_until and backoff.paused_until > current
    }
