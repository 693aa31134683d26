"""Read-only queries behind the status pages: filtered runs, the queue, pools and freeze."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from bot.engine.backoff import paused_pools
from bot.engine.limits import select_runs_to_start
from bot.services import Services
from bot.store.database import now
from bot.store.runs import Run, RunState

DEFAULT_LIMIT = 25
MAX_LIMIT = 200
MAX_OFFSET = 10**12


@dataclass(frozen=True)
class RunFilter:
    state: str | None = None
    forge: str | None = None
    repo: str | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    def query(self, **changes: object) -> dict[str, str]:
        """Query parameters that reproduce this filter (with changes), for links."""
        values = {
            "state": self.state,
            "forge": self.forge,
            "repo": self.repo,
            "limit": self.limit if self.limit != DEFAULT_LIMIT else None,
            "offset": self.offset or None,
        }
        values.update(changes)
        return {key: str(value) for key, value in values.items() if value not in (None, "")}


def parse_filter(query: dict[str, str] | web.Request) -> RunFilter:
    """Read state/forge/repo/limit/offset; raise ValueError with a one-line reason."""
    if isinstance(query, web.Request):
        query = dict(query.query)
    state = query.get("state") or None
    if state is not None and state not in {member.value for member in RunState}:
        allowed = ", ".join(member.value for member in RunState)
        raise ValueError(f"state must be one of {allowed}")
    limit = _integer(query, "limit", DEFAULT_LIMIT)
    offset = _integer(query, "offset", 0)
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    if not 0 <= offset <= MAX_OFFSET:
        raise ValueError(f"offset must be between 0 and {MAX_OFFSET}")
    return RunFilter(
        state=state,
        forge=(query.get("forge") or "").strip() or None,
        repo=(query.get("repo") or "").strip() or None,
        limit=limit,
        offset=offset,
    )


def _integer(query: dict[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number") from None


async def filtered_runs(services: Services, run_filter: RunFilter) -> tuple[list[Run], int]:
    """One page of runs matching the filter, newest first, and how many match in all."""
    conditions, parameters = [], []
    if run_filter.state:
        conditions.append("state = ?")
        parameters.append(run_filter.state)
    if run_filter.forge:
        conditions.append("forge = ?")
        parameters.append(run_filter.forge)
    if run_filter.repo:
        conditions.append("lower(repo) = lower(?)")
        parameters.append(run_filter.repo)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    count = await services.database.fetch_one(
        f"SELECT count(*) FROM runs {where}", tuple(parameters)
    )
    rows = await services.database.fetch_all(
        f"SELECT * FROM runs {where} ORDER BY id DESC LIMIT ? OFFSET ?",
        (*parameters, run_filter.limit, run_filter.offset),
    )
    return [Run.model_validate(dict(row)) for row in rows], int(count[0]) if count else 0


@dataclass(frozen=True)
class QueueEntry:
    position: int
    run: Run
    reason: str


@dataclass(frozen=True)
class PoolStatus:
    name: str
    running: int
    limit: int  # 0 = unlimited
    model_limits: dict[str, int] = field(default_factory=dict)
    failure_count: int = 0
    paused_until: float | None = None


@dataclass(frozen=True)
class Overview:
    frozen: bool
    running: int
    total_limit: int
    queue: list[QueueEntry]
    pools: list[PoolStatus]


async def overview(services: Services) -> Overview:
    """The queue with each run's reason to wait, the pools, backoff and freeze, as of now."""
    queued = await services.runs.in_states(RunState.QUEUED.value)
    running = await services.runs.in_states(RunState.RUNNING.value)
    frozen = await services.flags.is_frozen()
    paused = await paused_pools(services)
    limits = services.settings.concurrency
    selection = select_runs_to_start(queued, running, limits, paused_pools=paused, frozen=frozen)
    reasons = {waiting.run_id: waiting.reason for waiting in selection.waiting}
    queue = [
        QueueEntry(position, run, reasons.get(run.id, "starting now"))
        for position, run in enumerate(queued, start=1)
    ]
    backoffs = {backoff.pool: backoff for backoff in await services.flags.all_backoffs()}
    names = sorted(set(limits.pools) | {run.agent for run in running + queued} | set(backoffs))
    current = now()
    pools = []
    for name in names:
        pool_limit = limits.pools.get(name)
        backoff = backoffs.get(name)
        until = backoff.paused_until if backoff else None
        pools.append(
            PoolStatus(
                name=name,
                running=sum(1 for run in running if run.agent == name),
                limit=pool_limit.total if pool_limit else 0,
                model_limits=dict(pool_limit.models) if pool_limit else {},
                failure_count=backoff.failure_count if backoff else 0,
                paused_until=until if until and until > current else None,
            )
        )
    return Overview(frozen, len(running), limits.total, queue, pools)
