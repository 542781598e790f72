"""Redis backend in Go's layout, so a Go manager's data is read as it is (docs/compat.md §3.2).

HASH `workers`: id → WorkerStatus JSON; HASH `mirror_status`: `<mirror>/<worker>` → MirrorStatus
JSON. Our additions use keys Go never reads: LIST `tunasync:runs:<worker>/<mirror>` (newest first)
and HASH `tunasync:archive` (`<mirror>/<worker>` → figures JSON).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

from ...models import MirrorStatus, WorkerStatus
from .base import (
    Database,
    HistoryItem,
    RunRecord,
    StatusItem,
    dump_model,
    history_cutoff,
    history_point,
    hour_of,
    load_status,
    load_worker,
    normalise_items,
    should_flush,
    split_status_key,
    status_key,
    status_not_found,
    worker_not_found,
)

WORKERS = "workers"
STATUS = "mirror_status"
ARCHIVE = "tunasync:archive"
POINTS = "tunasync:archive_points:"  # + <mirror>/<worker>: a hash hour -> point JSON


def runs_key(worker_id: str, mirror_id: str) -> str:
    return f"tunasync:runs:{worker_id}/{mirror_id}"


class RedisDatabase(Database):
    shared = True

    def __init__(self, client: aioredis.Redis):
        self.r = client

    @classmethod
    async def open(cls, url: str) -> RedisDatabase:
        # Blocking pool: under a burst of posts, requests wait for a connection instead of failing.
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=64, timeout=10)
        client = aioredis.Redis(connection_pool=pool)
        await client.ping()  # fail at startup, as Go's open does, not at the first request
        return cls(client)

    async def close(self) -> None:
        await self.r.aclose(close_connection_pool=True)

    async def get_worker(self, worker_id: str) -> WorkerStatus:
        raw = await self.r.hget(WORKERS, worker_id)
        w = load_worker(raw) if raw is not None else None
        if w is None:
            raise worker_not_found(worker_id)
        return w

    async def list_workers(self) -> list[WorkerStatus]:
        out = []
        for raw in (await self.r.hgetall(WORKERS)).values():
            w = load_worker(raw)
            if w is not None:
                out.append(w)
        return out

    async def create_worker(self, w: WorkerStatus) -> WorkerStatus:
        await self.r.hset(WORKERS, w.id, dump_model(w))
        return w

    async def delete_worker(self, worker_id: str) -> None:
        if not await self.r.hdel(WORKERS, worker_id):
            raise worker_not_found(worker_id)

    async def get_mirror_status(self, worker_id: str, mirror_id: str) -> MirrorStatus:
        raw = await self.r.hget(STATUS, status_key(worker_id, mirror_id))
        s = load_status(raw) if raw is not None else None
        if s is None:
            raise status_not_found(worker_id, mirror_id)
        return s

    async def update_mirror_status(
        self, worker_id: str, mirror_id: str, s: MirrorStatus, encoded: str | None = None
    ) -> MirrorStatus:
        await self.r.hset(STATUS, status_key(worker_id, mirror_id), encoded or dump_model(s))
        return s

    async def list_mirror_status_items(self) -> list[StatusItem]:
        out = []
        for key, raw in (await self.r.hgetall(STATUS)).items():
            s = load_status(raw)
            if s is not None:
                w, m = split_status_key(_text(key))
                out.append((w, m, s))
        return out

    async def flush_disabled_jobs(self) -> list[tuple[str, str]]:
        victims = []
        keys = []
        for key, raw in (await self.r.hgetall(STATUS)).items():
            s = load_status(raw)
            if s is not None and should_flush(s):
                keys.append(key)
                victims.append(split_status_key(_text(key)))
        if keys:
            await self.r.hdel(STATUS, *keys)
        return victims

    async def add_run(self, worker_id: str, mirror_id: str, run: RunRecord, keep: int) -> None:
        key = runs_key(worker_id, mirror_id)
        async with self.r.pipeline(transaction=True) as p:
            p.lpush(key, run.dumps())
            p.ltrim(key, 0, keep - 1)
            await p.execute()

    async def list_runs(self, worker_id: str, mirror_id: str, limit: int) -> list[RunRecord]:
        out = []
        for raw in await self.r.lrange(runs_key(worker_id, mirror_id), 0, max(limit, 1) - 1):
            try:
                out.append(RunRecord.loads(raw))
            except (ValueError, KeyError):
                continue
        return out

    async def put_archive_stats(self, worker_id: str, mirror_id: str, stats: dict[str, Any],
                                now: float | None = None) -> None:
        when = time.time() if now is None else now
        point = history_point(stats, hour_of(when))
        key = POINTS + status_key(worker_id, mirror_id)
        old = [f for f in await self.r.hkeys(key) if _hour(f) < history_cutoff(when)]
        async with self.r.pipeline(transaction=True) as p:
            p.hset(ARCHIVE, status_key(worker_id, mirror_id), json.dumps(stats, separators=(",", ":")))
            p.hset(key, str(point["t"]), json.dumps(point, separators=(",", ":")))
            if old:
                p.hdel(key, *old)
            await p.execute()

    async def list_archive_history(self, since: int) -> list[HistoryItem]:
        out: list[HistoryItem] = []
        async for key in self.r.scan_iter(match=POINTS + "*", count=500):
            w, m = split_status_key(_text(key)[len(POINTS):])
            points = []
            for field, raw in (await self.r.hgetall(key)).items():
                if _hour(field) < since:
                    continue
                try:
                    point = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(point, dict):
                    points.append(point)
            if points:
                points.sort(key=lambda p: int(p.get("t", 0)))
                out.append((w, m, points))
        out.sort(key=lambda t: (t[0], t[1]))
        return out

    async def list_archive_stats(self) -> list[tuple[str, str, dict[str, Any]]]:
        out = []
        for key, raw in (await self.r.hgetall(ARCHIVE)).items():
            try:
                stats = json.loads(raw)
            except ValueError:
                continue
            if isinstance(stats, dict):
                w, m = split_status_key(_text(key))
                out.append((w, m, stats))
        out.sort(key=lambda t: (t[0], t[1]))
        return out

    async def import_all(self, workers: Iterable[WorkerStatus], statuses: Iterable[MirrorStatus | StatusItem]) -> None:
        wmap: dict[FieldT, EncodableT] = {w.id: dump_model(w) for w in workers}
        smap: dict[FieldT, EncodableT] = {status_key(wid, mid): dump_model(s) for wid, mid, s in normalise_items(statuses)}
        # MULTI/EXEC: redis applies all of it or, if the connection drops before EXEC, none.
        async with self.r.pipeline(transaction=True) as p:
            if wmap:
                p.hset(WORKERS, mapping=dict(wmap))
            if smap:
                p.hset(STATUS, mapping=dict(smap))
            await p.execute()


def _hour(field: bytes | str) -> int:
    try:
        return int(_text(field))
    except ValueError:
        return -1


def _text(key: bytes | str) -> str:
    return key if isinstance(key, str) else key.decode("utf-8", "replace")
