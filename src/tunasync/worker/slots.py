"""The `concurrent` slot pool with the force-start bypass (docs/compat.md §5.2).

A run waits for whichever comes first: a free slot, a force-start bypass of its own job, or a kill.
`concurrent = 0` is kept as Go has it (quirk 16): no slot is ever free, only `start -f` runs a job.
"""

from __future__ import annotations

import asyncio
from enum import Enum


class Acquired(Enum):
    SLOT = "slot"  # holds a slot: release it at the end of the run
    BYPASS = "bypass"  # force-started past the limit: nothing to release
    KILLED = "killed"  # told to stop while waiting: the run ends silently


class Slots:
    def __init__(self, concurrent: int):
        self.capacity = max(0, concurrent)
        self._sem = asyncio.Semaphore(self.capacity)
        self.running = 0  # runs holding a slot or a bypass (for tests and the benchmark)
        self.peak = 0

    async def acquire(self, bypass: asyncio.Event, kill: asyncio.Event) -> Acquired:
        if not bypass.is_set() and not kill.is_set() and not self._sem.locked():
            await self._sem.acquire()  # free slot: no waiting, no tasks to create
            return self._took(Acquired.SLOT)
        waiters = {
            asyncio.ensure_future(self._sem.acquire()): Acquired.SLOT,
            asyncio.ensure_future(bypass.wait()): Acquired.BYPASS,
            asyncio.ensure_future(kill.wait()): Acquired.KILLED,
        }
        try:
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in waiters:
                if not fut.done():
                    fut.cancel()
        # Precedence when several finished together: a kill wins, then a slot, then a bypass.
        got = {waiters[f] for f in done}
        slot_fut = next(f for f, kind in waiters.items() if kind is Acquired.SLOT)
        took_slot = slot_fut.done() and not slot_fut.cancelled()
        if Acquired.KILLED in got:
            if took_slot:
                self._sem.release()
            return Acquired.KILLED
        if took_slot:
            return self._took(Acquired.SLOT)
        return self._took(Acquired.BYPASS)

    def _took(self, kind: Acquired) -> Acquired:
        self.running += 1
        self.peak = max(self.peak, self.running)
        return kind

    def release(self, kind: Acquired) -> None:
        if kind is Acquired.KILLED:
            return
        self.running -= 1
        if kind is Acquired.SLOT:
            self._sem.release()
