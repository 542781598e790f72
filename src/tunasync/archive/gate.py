"""Eviction and a sync of the same mirror exclude each other, across processes (worker, CLI, serve).

A sync must never see a file vanish under it, and an eviction must never unlink a file a sync has just
placed at the path it checked. Two lock files beside the index, both `flock`s (released when the
holder dies, kill -9 included):

    turn   held for a moment by a sync that wants in; an eviction batch that finds it taken stops
    gate   held by a sync for its whole run, by an eviction for one batch (check + unlink + record)

A sync takes `turn`, then `gate` (waiting at most for the batch under way, bounded by the batch
size), then lets `turn` go and keeps `gate` until it ends. An eviction batch only ever tries (never
waits): it gives up when either lock is taken, and the rest of the eviction waits for a later run.
So a long eviction delays a sync's start by one batch at most, and never the other way round.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)


def _try(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class SyncHold:
    """The gate held by a sync from its start to its end (`release`, idempotent)."""

    def __init__(self, fd: int):
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = None


class EvictTurn:
    """One eviction batch's hold on the gate; a context manager (`ok` False: a sync has it, stop)."""

    def __init__(self, gate: MirrorGate):
        self.gate = gate
        self.ok = False
        self._fd: int | None = None

    def __enter__(self) -> EvictTurn:
        turn = _open(self.gate.turn_path)
        try:
            if not _try(turn):
                return self  # a sync is starting
            fd = _open(self.gate.gate_path)
            if _try(fd):
                self._fd, self.ok = fd, True
            else:
                os.close(fd)  # a sync is running
        finally:
            os.close(turn)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class MirrorGate:
    """The two lock files of one mirror (in its archive directory, beside the index)."""

    def __init__(self, directory: str | os.PathLike[str]):
        d = Path(directory)
        self.turn_path = d / "sync.turn"
        self.gate_path = d / "sync.gate"

    def evict_batch(self) -> EvictTurn:
        """`with gate.evict_batch() as t: if t.ok: ...` — never blocks."""
        return EvictTurn(self)

    def hold_for_sync(self) -> SyncHold:
        """Blocking (run in a thread): waits for the eviction batch under way, if any, then holds the gate."""
        turn = _open(self.turn_path)
        try:
            fcntl.flock(turn, fcntl.LOCK_EX)
            fd = _open(self.gate_path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
        finally:
            os.close(turn)
        return SyncHold(fd)

    def syncing(self) -> bool:
        """Whether a sync holds or wants the gate now (a hint: the batch's own try is what counts)."""
        with self.evict_batch() as t:
            return not t.ok
