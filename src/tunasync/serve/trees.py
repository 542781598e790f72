"""The trees `tunasync serve` offers: one plain `--root DIR`, or every mirror of a worker config at
`/<mirror>/` (archived mirrors with their index, so evicted files can be retrieved).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..archive.cache import AccessLog
from ..archive.index import ArchiveIndex
from ..archive.pieces import car_lookup
from ..archive.settings import MirrorArchive, archived_mirrors
from ..content.cid import CID

log = logging.getLogger(__name__)

RESERVED = frozenset({"piece", "metrics"})  # top-level routes of `serve -c`


class IndexHandle:
    """A mirror's archive index, opened once its file exists (the worker may create it after we start).
    Blocking: call from a thread."""

    RECHECK = 5.0

    def __init__(self, path: Path):
        self.path = path
        self._index: ArchiveIndex | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def get(self) -> ArchiveIndex | None:
        if self._index is not None:
            return self._index
        with self._lock:
            now = time.monotonic()
            if self._index is None and now - self._checked >= self.RECHECK:
                self._checked = now
                if self.path.is_file():
                    self._index = ArchiveIndex(self.path)
            return self._index

    def close(self) -> None:
        if self._index is not None:
            self._index.close()


@dataclass
class Tree:
    name: str  # the URL prefix segment; "" for --root
    root: str  # realpath of the directory served
    archive: MirrorArchive | None = None
    index: IndexHandle | None = None
    access: AccessLog = field(default_factory=AccessLog)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one cache-budget run at a time

    @property
    def label(self) -> str:
        return self.name or "/"


def tree_from_root(root: str) -> Tree:
    return Tree("", os.path.realpath(root))


def trees_from_config(cfg) -> list[Tree]:  # noqa: ANN001 - a WorkerConfig (imported lazily: pydantic is slow)
    """Every mirror of the worker config; archived ones carry their index (opened when it exists)."""
    from ..worker.config_resolve import resolve_mirror

    archived = {ms.name: ms for ms in archived_mirrors(cfg)}
    out: list[Tree] = []
    for m in cfg.mirrors:
        if not m.name or "/" in m.name or m.name in (".", ".."):
            log.warning("serve: mirror name %r cannot be a URL segment; not served", m.name)
            continue
        if m.name in RESERVED:
            log.warning("serve: mirror %r is shadowed by the /%s/ route", m.name, m.name)
        ms = archived.get(m.name)
        if ms is not None:
            out.append(Tree(m.name, os.path.realpath(ms.root), ms, IndexHandle(ms.index_path)))
        else:
            out.append(Tree(m.name, os.path.realpath(resolve_mirror(m, cfg).working_dir)))
    return out


def piece_lookup(trees: list[Tree]):  # noqa: ANN201 - piece_server.Lookup
    """`piece CID -> staged CAR path` over the archived trees (archive.pieces.car_lookup, which rebuilds
    a missing CAR of a bundle not yet stored), with the indexes that exist by now."""

    def pairs() -> list[tuple[MirrorArchive, ArchiveIndex]]:
        out = []
        for t in trees:
            index = t.index.get() if t.index is not None else None
            if t.archive is not None and index is not None:
                out.append((t.archive, index))
        return out

    async def lookup(cid: CID) -> Path | None:
        return await car_lookup(await asyncio.to_thread(pairs))(cid)

    return lookup
