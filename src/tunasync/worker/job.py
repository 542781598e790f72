"""One mirror job: a long-lived asyncio task driven by control actions (docs/compat.md §5.1–§5.2).

The task alternates between a *run phase* (state `ready`: a run of docs/compat.md §5.3 is in flight, see run.py) and
an *idle wait*. Control actions arrive through a one-slot queue; a sender waits while it is full,
as with Go's buffered channel. Status messages go out through `send`, which the worker's scheduler
consumes (it filters them by this job's state at the time it processes them, docs/compat.md §4.9).

Quirk 19 (fixed): Go keeps a force-start bypass granted while a run is in flight and lets the *next*
run skip the `concurrent` limit. Here a force-start during a run bypasses only a run that is still
waiting for a slot; a bypass that no run is waiting for is dropped, so the limit holds afterwards.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from ..models import SyncStatus
from .slots import Slots

if TYPE_CHECKING:
    from .providers.base import Provider

log = logging.getLogger(__name__)


class JobState(str, Enum):
    NONE = "none"  # idle, never started or reset
    READY = "ready"  # running, or idle after a run; eligible to run
    PAUSED = "paused"  # stopped by a client
    DISABLED = "disabled"  # task exited
    HALTING = "halting"  # worker shutting down


class Ctrl(str, Enum):
    START = "start"
    STOP = "stop"
    DISABLE = "disable"
    RESTART = "restart"
    PING = "ping"
    HALT = "halt"
    FORCE_START = "force-start"


@dataclass(slots=True)
class JobMessage:
    """What a run reports: the scheduler posts it to the managers if the job state allows."""

    status: SyncStatus
    name: str
    msg: str = ""
    schedule: bool = False


Send = Callable[[JobMessage], Awaitable[None]]


class Job:
    def __init__(self, provider: Provider, slots: Slots, send: Send, *, restart_delay: float = 1.0):
        self.provider = provider
        self.name = provider.name
        self.slots = slots
        self.send = send
        self.restart_delay = restart_delay  # Go sleeps 1 s between the killed run and the restarted one
        self.state = JobState.NONE
        self.size = ""  # from the last successful run in this process; "" = unknown
        self.runs = 0  # runs that got past the slot wait (status, tests, benchmark)
        self._ctrl: asyncio.Queue[Ctrl] = asyncio.Queue(maxsize=1)
        self._task: asyncio.Task[None] | None = None
        self._exited = asyncio.Event()
        self._exited.set()
        self._bypass = asyncio.Event()  # a pending force-start for the run waiting for a slot
        self._waiting_for_slot = False
        self._next_provider: Provider | None = None
        self.run_idle = asyncio.Event()  # set while no run is in flight (the log follower waits on it)
        self.run_idle.set()

    # -- task management (the worker calls these) --------------------------------------------------
    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def running(self) -> bool:
        return not self.run_idle.is_set()

    def start_task(self) -> None:
        """Start the job task unless one is already running."""
        if self.alive:
            return
        self._exited.clear()
        self._task = asyncio.create_task(self._loop(), name=f"job:{self.name}")

    async def control(self, ctrl: Ctrl) -> bool:
        """Hand a control action to the task (waits while the slot is full); False if no task listens."""
        if not self.alive:
            log.info("job %s has no task; %s dropped", self.name, ctrl.value)
            return False
        await self._ctrl.put(ctrl)
        return True

    async def wait_exit(self) -> None:
        await self._exited.wait()

    def replace_provider(self, provider: Provider) -> None:
        """Use `provider` from now on; a run in flight finishes with the old one."""
        if self.running:
            self._next_provider = provider
        else:
            self.provider = provider

    async def cancel(self) -> None:
        """Last resort at shutdown: cancel the task (the run terminates its provider)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    # -- the state machine (docs/compat.md §5.2) ------------------------------------------------------------------
    async def _loop(self) -> None:
        try:
            while True:
                if self.state is JobState.READY:
                    outcome = await self._run_phase()
                    if outcome == "exit":
                        return
                    if outcome == "again":
                        continue
                ctrl = await self._ctrl.get()
                if ctrl is Ctrl.STOP:
                    self.state = JobState.PAUSED
                elif ctrl is Ctrl.DISABLE:
                    self.state = JobState.DISABLED
                    return
                elif ctrl is Ctrl.FORCE_START:
                    self._bypass.set()
                    self.state = JobState.READY
                elif ctrl in (Ctrl.START, Ctrl.RESTART):
                    self.state = JobState.READY
                else:  # halt, ping and anything else end the task, state unchanged (as Go)
                    return
        finally:
            self._exited.set()

    async def _run_phase(self) -> str:
        from .run import run_once  # run.py imports this module's types

        if self._next_provider is not None:
            self.provider, self._next_provider = self._next_provider, None
        kill = asyncio.Event()
        self.run_idle.clear()
        run = asyncio.ensure_future(run_once(self, kill))
        try:
            while True:
                getter = asyncio.ensure_future(self._ctrl.get())
                done, _ = await asyncio.wait({run, getter}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()  # Queue.get leaves an item in the queue when cancelled
                    await asyncio.gather(getter, return_exceptions=True)
                    self._reap(run)
                    return "idle"
                ctrl = getter.result()
                if ctrl is Ctrl.FORCE_START:
                    if self._waiting_for_slot:
                        self._bypass.set()
                    continue
                if ctrl not in (Ctrl.STOP, Ctrl.DISABLE, Ctrl.RESTART, Ctrl.HALT):
                    continue  # start (and ping) while running: ignored
                self.state = {
                    Ctrl.STOP: JobState.PAUSED,
                    Ctrl.DISABLE: JobState.DISABLED,
                    Ctrl.RESTART: JobState.READY,
                    Ctrl.HALT: JobState.HALTING,
                }[ctrl]
                kill.set()
                await asyncio.wait({run})
                self._reap(run)
                if ctrl is Ctrl.RESTART:
                    await asyncio.sleep(self.restart_delay)
                    return "again"
                return "exit" if ctrl in (Ctrl.DISABLE, Ctrl.HALT) else "idle"
        except asyncio.CancelledError:
            kill.set()
            await asyncio.gather(run, return_exceptions=True)
            raise
        finally:
            if run.done():
                self.run_idle.set()
                if self._next_provider is not None:
                    self.provider, self._next_provider = self._next_provider, None

    def _reap(self, run: asyncio.Future[None]) -> None:
        if run.done() and not run.cancelled() and run.exception() is not None:
            exc = run.exception()
            log.error("job %s: run crashed: %r", self.name, exc, exc_info=exc)

    # -- used by run.py ------------------------------------------------------------------------------
    def slot_wait_started(self) -> asyncio.Event:
        self._waiting_for_slot = True
        return self._bypass

    def slot_wait_ended(self) -> None:
        # Whatever the outcome, a pending bypass is used up by this run (quirk 19 fixed).
        self._waiting_for_slot = False
        self._bypass.clear()
