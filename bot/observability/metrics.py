"""Prometheus metrics (DESIGN §11): one registry per application, database gauges at scrape."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.appkeys import SERVICES
from bot.forge.http import IDEMPOTENT_METHODS, ForgeCallObserver, forge_clients
from bot.logs import get_logger, log_event
from bot.store.runs import Run, RunState

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.engine.executor import RunExecutor
    from bot.services import Services

logger = get_logger("metrics")

# The text format every Prometheus version reads (generate_latest writes it).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FORGE_METHODS = IDEMPOTENT_METHODS | {"POST"}
INTAKE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
RUN_BUCKETS = (10, 30, 60, 120, 300, 600, 900, 1800, 2700, 3600, 5400, 7200, 14400)


class Metrics:
    """Every series the bot exposes, registered in this application's own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.deliveries = Counter(
            "bot_webhook_deliveries",
            "Webhook deliveries by forge, event and outcome (accepted, duplicate, ignored, ping,"
            " unauthorized, bad_request, too_large, unsupported_media_type, not_found)",
            ["forge", "event", "outcome"],
            registry=registry,
        )
        self._delivery_counters: dict[tuple[str, str, str], Any] = {}
        self.intake_seconds = Histogram(
            "bot_webhook_intake_seconds",
            "Time to answer a webhook delivery (verify, store, acknowledge)",
            buckets=INTAKE_BUCKETS,
            registry=registry,
        )
        self.run_duration = Histogram(
            "bot_run_duration_seconds",
            "Duration of finished runs, from start to end, by agent pool and final state",
            ["agent", "state"],
            buckets=RUN_BUCKETS,
            registry=registry,
        )
        self.forge_calls = Counter(
            "bot_forge_api_calls",
            "Forge API requests (each try) by forge, method and HTTP status (0 = no answer)",
            ["forge", "method", "status"],
            registry=registry,
        )
        self.forge_errors = Counter(
            "bot_forge_api_errors",
            "Forge API requests that failed: HTTP status >= 400, or 0 when no answer came",
            ["forge", "method", "status"],
            registry=registry,
        )
        self.runs = Gauge(
            "bot_runs",
            "Runs in the database by state and agent pool",
            ["state", "agent"],
            registry=registry,
        )
        self.queue_depth = Gauge("bot_queue_depth", "Queued runs", registry=registry)
        self.running = Gauge(
            "bot_running_runs", "Running runs per agent pool", ["pool"], registry=registry
        )
        self.backoff_active = Gauge(
            "bot_pool_backoff_active",
            "1 while an agent pool is paused after repeated quick failures",
            ["pool"],
            registry=registry,
        )
        self.frozen = Gauge("bot_dispatch_frozen", "1 while dispatch is frozen", registry=registry)
        self.concurrency_limit = Gauge(
            "bot_concurrency_limit",
            "Effective concurrency limits (0 = unlimited): total, per pool, per pool:model",
            ["pool"],
            registry=registry,
        )
        self.config_reloads = Counter(
            "bot_config_reloads",
            "Configuration reloads by outcome (applied, rejected)",
            ["outcome"],
            registry=registry,
        )
        self.config_loaded = Gauge(
            "bot_config_loaded_timestamp_seconds",
            "When the configuration in force was loaded",
            registry=registry,
        )
        self.config_loaded.set_to_current_time()

    # -- events --------------------------------------------------------------------------------
    def observe_delivery(self, forge: str, event: str, outcome: str, seconds: float) -> None:
        key = (forge, event, outcome)
        counter = self._delivery_counters.get(key)
        if counter is None:  # looked up once per label set: this runs for every delivery
            counter = self._delivery_counters[key] = self.deliveries.labels(*key)
        counter.inc()
        self.intake_seconds.observe(seconds)

    def observe_forge_call(self, forge: str, method: str, status: int) -> None:
        method = method.upper() if method.upper() in FORGE_METHODS else "OTHER"
        self.forge_calls.labels(forge, method, str(status)).inc()
        if status == 0 or status >= 400:
            self.forge_errors.labels(forge, method, str(status)).inc()

    async def observe_run(self, run: Run) -> None:
        """An executor `on_finished` hook: one observation per run that this process ends."""
        if run.started_at is None or run.state.is_active:
            return
        duration = max((run.finished_at or time.time()) - run.started_at, 0.0)
        self.run_duration.labels(run.agent, run.state.value).observe(duration)

    def observe_reload(self, applied: bool) -> None:
        self.config_reloads.labels("applied" if applied else "rejected").inc()
        if applied:
            self.config_loaded.set_to_current_time()

    def attach(self, services: Services, executor: RunExecutor) -> None:
        """Count the forges' API calls and observe every run the executor ends."""
        for forge in services.forges.values():
            instrument_forge(forge, forge.name, self.observe_forge_call)
        executor.on_finished.insert(0, self.observe_run)

    # -- scrape-time gauges ----------------------------------------------------------------------
    async def refresh(self, services: Services) -> None:
        """Read the state gauges from the database, then set them all at once (no await between)."""
        rows = await services.database.fetch_all(
            "SELECT state, agent, COUNT(*) FROM runs GROUP BY state, agent"
        )
        frozen = await services.flags.is_frozen()
        backoffs = await services.flags.all_backoffs()
        settings = services.settings
        counts = {(str(state), str(agent)): int(count) for state, agent, count in rows}
        pools = set(settings.known_agents()) | {agent for _, agent in counts}
        pools |= {backoff.pool for backoff in backoffs}
        current = time.time()
        paused = {b.pool for b in backoffs if b.paused_until and b.paused_until > current}

        self.runs.clear()
        for state in RunState:
            for pool in sorted(pools):
                self.runs.labels(state.value, pool).set(counts.get((state.value, pool), 0))
        queued = sum(count for (state, _), count in counts.items() if state == RunState.QUEUED)
        self.queue_depth.set(queued)
        running = {pool: n for (state, pool), n in counts.items() if state == RunState.RUNNING}
        self.running.clear()
        self.backoff_active.clear()
        for pool in sorted(pools):
            self.running.labels(pool).set(running.get(pool, 0))
            self.backoff_active.labels(pool).set(1 if pool in paused else 0)
        self.frozen.set(1 if frozen else 0)
        self.set_limits(settings)

    def set_limits(self, settings: Settings) -> None:
        limits = settings.concurrency
        self.concurrency_limit.clear()
        self.concurrency_limit.labels("total").set(limits.total)
        for pool, limit in limits.pools.items():
            self.concurrency_limit.labels(pool).set(limit.total)
            for model, model_limit in limit.models.items():
                self.concurrency_limit.labels(f"{pool}:{model}").set(model_limit)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def instrument_forge(adapter: object, name: str, observer: ForgeCallObserver) -> None:
    """Label a forge adapter's HTTP clients with its configured name and count their calls."""
    for client in forge_clients(adapter):
        client.forge_name = name
        client.observer = observer


METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)


async def metrics_endpoint(request: web.Request) -> web.Response:
    """`GET /metrics`: the Prometheus text exposition of this application's registry."""
    metrics = request.app[METRICS]
    try:
        await metrics.refresh(request.app[SERVICES])
    except Exception as error:  # noqa: BLE001 - counters are still worth serving
        log_event(logger, logging.WARNING, "metrics refresh failed", error=repr(error))
    return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})
