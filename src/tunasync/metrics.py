"""Prometheus plumbing every daemon shares: a registry per app and the `GET /metrics` route.

Each daemon keeps its own `CollectorRegistry` (never the global default, so tests and several apps
in one process do not collide), defines its metrics on it, and calls `add_metrics_route(app, reg)`.
`before_scrape` hooks run (awaited) just before rendering, for collectors that read a database
snapshot. Metric names are listed in docs/operators.md; all start with `tunasync_`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

__all__ = ["DURATION_BUCKETS", "RETRIEVAL_BUCKETS", "RetrievalMetrics", "add_metrics_route", "new_registry", "render"]

# Sync and retrieval durations span seconds to days: buckets from 1 s to 2 days.
DURATION_BUCKETS = (1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400, 172800, float("inf"))

# Retrievals of evicted files take from tens of milliseconds (a cached block) to minutes.
RETRIEVAL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, float("inf"))

REGISTRY_KEY = web.AppKey("tunasync_metrics_registry", CollectorRegistry)
_HOOKS_KEY = web.AppKey("tunasync_metrics_hooks", list)


def new_registry(process: bool = False) -> CollectorRegistry:
    """A fresh registry; `process=True` adds the standard `process_*` and `python_info` metrics (a daemon's own)."""
    reg = CollectorRegistry(auto_describe=True)
    if process:
        ProcessCollector(registry=reg)
        PlatformCollector(registry=reg)
    return reg


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition format of everything in `registry`."""
    return generate_latest(registry)


def add_metrics_route(app: web.Application, registry: CollectorRegistry, path: str = "/metrics",
                      before_scrape: Callable[[], Awaitable[None]] | None = None) -> None:
    """Serve `registry` at `GET path`; `before_scrape` hooks accumulate if called again with the same app."""
    if REGISTRY_KEY in app:
        if app[REGISTRY_KEY] is not registry:
            raise ValueError("this app already serves another metrics registry")
        if before_scrape is not None:
            app[_HOOKS_KEY].append(before_scrape)
        return
    app[REGISTRY_KEY] = registry
    app[_HOOKS_KEY] = [before_scrape] if before_scrape is not None else []

    async def metrics(_request: web.Request) -> web.Response:
        for hook in app[_HOOKS_KEY]:
            await hook()
        body = render(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get(path, metrics)


class RetrievalMetrics:
    """What `tunasync serve` reports about on-demand retrievals (names used by contrib/grafana).

    `result` is a short word: `ok`, `verify_failed`, `not_found`, `error` (keep the set small).
    """

    def __init__(self, registry: CollectorRegistry):
        self.retrievals = Counter("tunasync_serve_retrievals", "On-demand retrievals of evicted files, by result.",
                                  ["result"], registry=registry)
        self.duration = Histogram("tunasync_serve_retrieval_duration_seconds",
                                  "Time from request to a verified, complete retrieval.", ["result"],
                                  buckets=RETRIEVAL_BUCKETS, registry=registry)
        self.retrieved_bytes = Counter("tunasync_serve_retrieved_bytes", "Verified bytes retrieved from the network.",
                                       registry=registry)

    def observe(self, result: str, seconds: float, nbytes: int = 0) -> None:
        self.retrievals.labels(result).inc()
        self.duration.labels(result).observe(seconds)
        if nbytes:
            self.retrieved_bytes.inc(nbytes)
