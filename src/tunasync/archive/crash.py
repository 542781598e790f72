"""Crash injection at the archive's journaled steps, to prove each one recovers.

Every step that changes disk or index calls `crash("<op>.<step>")` right after it is done. Normally that
is `no_crash`. Tests pass `CrashAt(point, nth)`, which raises `CrashInjected` (a BaseException, so no
`except Exception` in the archive code can swallow it) the nth time the point is reached; the stress
script sets `TUNASYNC_ARCHIVE_CRASH=point[:nth]` and the process SIGKILLs itself there: a real kill -9,
no cleanup, no finally blocks.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

Crash = Callable[[str], None]
ENV = "TUNASYNC_ARCHIVE_CRASH"


class CrashInjected(BaseException):
    """Raised by CrashAt: the process 'dies' at this point."""


def no_crash(_point: str) -> None:
    pass


class CrashAt:
    """Die at the nth time `point` is reached; records every point passed (tests list them)."""

    def __init__(self, point: str | None = None, nth: int = 1, kill: bool = False):
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
    return CrashAt(point, int(nth or 1), kill=True)
