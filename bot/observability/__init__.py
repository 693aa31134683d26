"""Observability: Prometheus metrics for `GET /metrics` (structured logs live in bot.logs)."""

from bot.observability.metrics import METRICS, Metrics, instrument_forge, metrics_endpoint

__all__ = ["METRICS", "Metrics", "instrument_forge", "metrics_endpoint"]
