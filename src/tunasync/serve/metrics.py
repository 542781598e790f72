"""What `tunasync serve` reports at /metrics: the retrieval metrics the Grafana dashboard reads
(`tunasync.metrics.RetrievalMetrics`, whole-file retrievals), and serve's own counters."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from ..filecoin.ipni import SKIPPED_RECORDS
from ..filecoin.multiaddr import SKIPPED_ADDRS
from ..metrics import RetrievalMetrics, new_registry


class ServeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or new_registry(process=True)
        self.retrieval = RetrievalMetrics(self.registry)
        self.requests = Counter("tunasync_serve_requests", "Requests answered, by what answered them.",
                                ["kind"], registry=self.registry)  # file, evicted, listing, piece, error
        self.range_retrievals = Counter("tunasync_serve_range_retrievals",
                                        "Ranged retrievals of evicted files (not cached), by result.",
                                        ["result"], registry=self.registry)
        self.joins = Counter("tunasync_serve_retrieval_joins",
                             "Clients served by a retrieval another request had started (single flight).",
                             registry=self.registry)
        self.in_flight = Gauge("tunasync_serve_retrievals_in_flight", "Whole-file retrievals running now.",
                               registry=self.registry)
        self.cache_evictions = Counter("tunasync_serve_cache_evictions",
                                       "Cached files returned to evicted by the cache budget.",
                                       registry=self.registry)
        self.registry.register(SKIPPED_ADDRS)  # process-wide: unreadable provider multiaddrs met while retrieving
        self.registry.register(SKIPPED_RECORDS)  # process-wide: unusable IPNI records met while retrieving
