"""Crash injection at the archive's journaled steps, to prove each one recovers: the one mechanism.

Every step that changes disk or index calls `crash("<op>.<step>")` right after it is done; POINTS lists
them all (a point not listed is refused, so a test cannot aim at a step that does not exist). Normally
the hook is `no_crash`. Tests pass `CrashAt(point, nth)`, which raises `CrashInjected` (a BaseException,
so no `except Exception` in the archive code can swallow it) the nth time the point is reached; the CLI
and the worker read `TUNASYNC_ARCHIVE_CRASH=point[:nth]` and the process SIGKILLs itself there: a real
kill -9, no cleanup, no finally blocks.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

Crash = Callable[[str], None]
ENV = "TUNASYNC_ARCHIVE_CRASH"


POINTS = frozenset({
    "scan.batch", "scan.recorded", "scan.done", "hash.done",  # pipeline.py, scan.py
    "pack.created", "pack.car_written", "pack.piece_computed", "pack.staged",  # bundles.py
    "store.checked", "store.offered", "store.marked", "store.car_removed",  # store.py
    "evict.tested", "evict.journaled", "evict.moved", "evict.unlinked", "evict.recorded",  # evictor.py, evict.py
    "restore.placed", "restore.cached",  # restore.py
    "repair.degraded", "repair.rebuilt",  # repair.py
})


class CrashInjected(BaseException):
    """Raised by CrashAt: the process 'dies' at this point."""


def no_crash(_point: str) -> None:
    pass


class CrashAt:
    """Die at the nth time `point` is reached; records every point passed (tests list them)."""

    def __init__(self, point: str | None = None, nth: int = 1, kill: bool = False):
        if point is not None and point not in POINTS:
            raise ValueError(f"no crash point {point!r}; the points are {', '.join(sorted(POINTS))}")
        self.point = point
        self.nth = nth
        self.kill = kill
        self.seen: list[str] = []
        self.fired = False

    def __call__(self, point: str) -> None:
        if self.fired:  # a dead process takes no further step: concurrent tasks stop at their next one
            raise CrashInjected(f"already crashed; {point} not reached")
        self.seen.append(point)
        if point == self.point and self.seen.count(point) == self.nth:
            if self.kill:
                os.kill(os.getpid(), signal.SIGKILL)
            self.fired = True
            raise CrashInjected(f"crash injected at {point} (#{self.nth})")


def from_env() -> Crash:
    """`CrashAt` from TUNASYNC_ARCHIVE_CRASH (point[:nth], SIGKILL), else no_crash."""
    spec = os.environ.get(ENV, "")
    if not spec:
        return no_crash
    point, _, nth = spec.partition(":")
    if not nth.isdigit() and nth:
        raise ValueError(f"{ENV}={spec!r}: want point[:n] with n a count")
    return CrashAt(point, int(nth or 1), kill=True)
