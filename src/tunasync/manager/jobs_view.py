"""The `GET /jobs` body, kept ready: one encoded WebMirrorStatus per record, joined on demand.

Encoding 5,000 records takes longer than a status page should wait, so each record is encoded once
when it changes and the array is the join of the pieces. With a shared database (redis, where
other processes may write) the pieces are rebuilt when older than `max_age` seconds.
"""

from __future__ import annotations

import time

from ..models import MirrorStatus, gojson
from .db.base import Database


def encode_web(s: MirrorStatus) -> bytes:
    return gojson.dumps(s.to_web().to_go()).encode("utf-8")


class JobsView:
    def __init__(self, db: Database, max_age: float | None = None):
        self.db = db
        self.max_age = max_age if max_age is not None else (1.0 if db.shared else None)
        self._pieces: dict[tuple[str, str], bytes] | None = None
        self._dirty: dict[tuple[str, str], MirrorStatus | None] = {}
        self._body: bytes | None = None
        self._built_at = 0.0

    async def body(self) -> bytes:
        """The JSON array bytes (`[]` when there is nothing)."""
        stale = self.max_age is not None and time.monotonic() - self._built_at > self.max_age
        if self._pieces is None or stale:
            items = await self.db.list_mirror_status_items()
            items.sort(key=lambda t: (t[2].name, t[0], t[1]))
            self._pieces = {(w, m): encode_web(s) for w, m, s in items}
            self._built_at = time.monotonic()
            self._dirty = {}
            self._body = None
        if self._dirty:
            dirty, self._dirty = self._dirty, {}
            for key, s in dirty.items():
                if s is None:
                    self._pieces.pop(key, None)
                else:
                    self._pieces[key] = encode_web(s)
            self._body = None
        if self._body is None:
            self._body = b"[" + b",".join(self._pieces.values()) + b"]"
        return self._body

    def changed(self, worker_id: str, mirror_id: str, s: MirrorStatus | None) -> None:
        """Record one change (None: the record is gone)."""
        if self._pieces is not None:
            self._dirty[(worker_id, mirror_id)] = s  # encoded at the next read, once however often it changed

    def invalidate(self) -> None:
        self._pieces = None
        self._dirty = {}
        self._body = None
