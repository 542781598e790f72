"""Posting to the managers without making jobs wait for them.

Go posts each status and then the whole schedule synchronously in its scheduling loop, so a slow
manager (an fsync per update) slows every job down. Here the loop hands accepted statuses to the
reporter and goes on; the reporter posts in rounds: every status waiting (each mirror's in order,
mirrors concurrently), then one schedules post with the newest queue snapshot. A round starts when
the previous one is done, so the schedules always follow the statuses they belong to (a status post
zeroes the mirror's next_schedule on the manager; the schedules post after it restores it), and
under load many messages share one schedules post. Every status is posted, in order, as Go posts
each one (a `syncing` that a later status of the same round supersedes included: a Go manager logs
and stores each).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..models import MirrorStatus
    from .manager_client import ManagerClient

log = logging.getLogger(__name__)


class Reporter:
    def __init__(self, client: ManagerClient, snapshot: Callable[[], list[tuple[str, Any]]]):
        self.client = client
        self.snapshot = snapshot  # the schedule queue's entries, read when the post is made
        self._pending: dict[str, list[MirrorStatus]] = {}
        self._schedules_due = False
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="reporter")

    def status(self, st: MirrorStatus) -> None:
        self._pending.setdefault(st.name, []).append(st)
        self.schedules()

    def schedules(self) -> None:
        self._schedules_due = True
        self._idle.clear()
        self._wake.set()

    async def flush(self) -> None:
        """Wait until everything handed over so far has been posted (or failed)."""
        if self._task is None or self._task.done():
            await self._round()
            return
        await self._idle.wait()

    async def stop(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._round()
            except Exception:  # a bug here must not stop reporting
                log.exception("posting to the manager failed")
            if not self._pending and not self._schedules_due:
                self._idle.set()

    async def _round(self) -> None:
        # Take the flag with the statuses: what arrives during this round gets a schedules post of its own.
        pending, self._pending = self._pending, {}
        due, self._schedules_due = self._schedules_due, False
        if pending:
            async def in_order(statuses: list[MirrorStatus]) -> None:
                for st in statuses:
                    await self.client.post_status(st)

            await asyncio.gather(*(in_order(s) for s in pending.values()))
        if due:
            await self.client.post_schedules(self.snapshot())
