"""What every route shares: config, database, token table, the /jobs view, change listeners."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from ..models import MirrorStatus, WorkerStatus, timefmt
from .auth import TokenTable
from .config import ManagerConfig
from .db.base import Database, NotFound
from .jobs_view import JobsView

log = logging.getLogger("tunasync.manager")


@dataclass(frozen=True)
class StatusChange:
    """One status record changed; `status` None means it was removed (flush)."""

    worker_id: str
    mirror_id: str
    status: MirrorStatus | None


StatusListener = Callable[[StatusChange], Awaitable[None] | None]


class ManagerState:
    def __init__(self, config: ManagerConfig, db: Database):
        self.config = config
        self.db = db
        self.tokens = TokenTable(config.auth.tokens)
        self.jobs = JobsView(db)
        # Called after every stored status change, in order; keep them quick (start your own task
        # for slow work such as writing a file). Errors are logged, never sent to the client.
        self.on_status_change: list[StatusListener] = []
        self.client: aiohttp.ClientSession | None = None  # worker-bound requests; set at startup
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def lock(self, worker_id: str, mirror_id: str) -> asyncio.Lock:
        """Serialises read-modify-write of one status record."""
        key = (worker_id, mirror_id)
        lk = self._locks.get(key)
        if lk is None:
            lk = self._locks[key] = asyncio.Lock()
        return lk

    async def status_changed(self, worker_id: str, mirror_id: str, s: MirrorStatus | None) -> None:
        self.jobs.changed(worker_id, mirror_id, s)
        change = StatusChange(worker_id, mirror_id, s)
        for listener in self.on_status_change:
            try:
                result = listener(change)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("status change listener %r failed", listener)

    async def refresh_worker(self, worker_id: str) -> None:
        """Go's only 'heartbeat' (quirk 11 kept): last_online moves when a worker posts."""
        try:
            await self.db.touch_worker(worker_id, timefmt.now())
        except NotFound:  # deleted meanwhile: nothing to refresh
            pass

    async def worker_or_none(self, worker_id: str) -> WorkerStatus | None:
        try:
            return await self.db.get_worker(worker_id)
        except NotFound:
            return None


STATE: web.AppKey[ManagerState] = web.AppKey("tunasync_manager_state", ManagerState)
