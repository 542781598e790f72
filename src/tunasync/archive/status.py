"""A mirror's archive figures: what `tunasync archive status` prints and the worker posts to the
manager's `GET /archive` (the shape `manager.metrics.archive_summary` and the status page read)."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from .index import ArchiveIndex
from .policy import WAITING_STATES, Policy, due_query, evict_after
from .states import FileState

PROBLEM_KEY = "store_problem"  # index meta: why the last store run gave up on a bundle ("" = it did not)


def next_evictions(index: ArchiveIndex, policy: Policy, limit: int = 10) -> list[dict[str, Any]]:
    """The files on disk that become due first (by mtime); empty files never leave and are not listed,
    nor are cached ones (the cache budget, not their age, decides when they go)."""
    rows = index.oldest_waiting(WAITING_STATES, limit)
    out = []
    for path, size, mtime_ns, state in rows:
        due = evict_after(mtime_ns, policy)
        out.append({"path": path, "size": size, "state": state, "due": due.isoformat(timespec="seconds"),
                    "due_ts": int(due.timestamp())})
    return out


def figures(index: ArchiveIndex, policy: Policy, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(timezone.utc)
    counts = index.counts()
    bundles = index.db.read(lambda r: r.bundles.totals())
    deleted = index.db.read(lambda r: r.files.deleted_total())
    due_now = index.due_total(due_query(policy, now))
    nxt = next_evictions(index, policy, 1)
    return {
        "states": {s.value: {"files": counts[s.value][0], "bytes": counts[s.value][1]} for s in FileState},
        "copies": {str(k): v for k, v in sorted(index.copies_histogram().items())},
        "bundles": {s: {"count": n, "padded_bytes": b} for s, (n, b) in sorted(bundles.items())},
        "deleted_upstream": {"files": deleted[0], "bytes": deleted[1]},
        "evictable_now": {"files": due_now[0], "bytes": due_now[1]},
        "next_eviction": nxt[0]["due"] if nxt else None,
        "copies_wanted": policy.copies,
        "keep_years": policy.keep_years,
        "updated": int(time.time()),
    }
