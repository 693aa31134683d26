"""Which queued runs may start now: FIFO under global, per-pool and per-model limits (pure)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.config.models import ConcurrencyConfig
from bot.store.runs import Run


@dataclass(frozen=True)
class Waiting:
    """A queued run that cannot start yet, and why."""

    run_id: int
    reason: str


@dataclass(frozen=True)
class Selection:
    start: tuple[Run, ...]
    waiting: tuple[Waiting, ...]


def issue_key(run: Run) -> tuple[str, str, int]:
    return (run.forge, run.repo.lower(), run.number)


def select_runs_to_start(
    queued: Iterable[Run],
    running: Iterable[Run],
    limits: ConcurrencyConfig,
    *,
    paused_pools: Mapping[str, float] | None = None,
    frozen: bool = False,
) -> Selection:
    """Walk the queue oldest first and start every run that fits.

    A run that does not fit waits without blocking later runs of other pools (a run of a full
    pool must not hold up a free one), but runs of the same issue keep their order: one active
    run per issue/PR, so a run queued behind a running one waits for it.
    """
    paused_pools = paused_pools or {}
    running = list(running)
    total = len(running)
    per_pool = Counter(run.agent for run in running)
    per_model = Counter((run.agent, run.model) for run in running)
    busy_issues = {issue_key(run) for run in running}
    start: list[Run] = []
    waiting: list[Waiting] = []
    for run in queued:
        reason = _why_waiting(run, limits, total, per_pool, per_model, busy_issues, paused_pools)
        if frozen:
            reason = "dispatch is frozen"
        if reason:
            waiting.append(Waiting(run.id, reason))
            busy_issues.add(issue_key(run))  # later runs of this issue stay behind it
            continue
        start.append(run)
        total += 1
        per_pool[run.agent] += 1
        per_model[(run.agent, run.model)] += 1
        busy_issues.add(issue_key(run))
    return Selection(tuple(start), tuple(waiting))


def claim_limits(run: Run, limits: ConcurrencyConfig) -> dict[str, int]:
    """The limits that apply to `run` (0 = none): the decision below applies them, and
    `Runs.claim_for_start` checks them again when it claims the run."""
    pool = limits.pools.get(run.agent)
    return {
        "total": limits.total,
        "pool_total": pool.total if pool is not None else 0,
        "model_total": pool.models.get(run.model or "", 0) if pool is not None else 0,
    }


def _why_waiting(
    run: Run,
    limits: ConcurrencyConfig,
    total: int,
    per_pool: Counter[str],
    per_model: Counter[tuple[str, str | None]],
    busy_issues: set[tuple[str, str, int]],
    paused_pools: Mapping[str, float],
) -> str:
    if issue_key(run) in busy_issues:
        return "another run of this issue is active"
    if run.agent in paused_pools:
        return f"pool {run.agent} is paused after repeated quick failures"
    applying = claim_limits(run, limits)
    if applying["total"] and total >= applying["total"]:
        return f"global limit of {applying['total']} running"
    if applying["pool_total"] and per_pool[run.agent] >= applying["pool_total"]:
        return f"pool {run.agent} is at its limit of {applying['pool_total']}"
    model_total = applying["model_total"]
    if model_total and per_model[(run.agent, run.model)] >= model_total:
        return f"model {run.agent}:{run.model} is at its limit of {model_total}"
    return ""
