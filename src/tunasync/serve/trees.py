"""The trees `tunasync serve` offers: one plain `--root DIR`, or every mirror of a worker config at
`/<mirror>/` (archived mirrors with their index, so evicted files can be retrieved).

Serve never reads the worker config: the CLI resolves every mirror's (name, working directory) and
opens the archive runtime; the trees take the archived mirrors' settings and index handles from it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..archive.cache import AccessLog
from ..archive.index import ArchiveIndex
from ..archive.pieces import car_lookup
from ..archive.runtime import ArchiveRuntime, IndexHandle
from ..archive.settings import MirrorArchive
from ..content.cid import CID

if TYPE_CHECKING:  # imported lazily at run time: pydantic is slow to import
    from ..filecoin.piece_server import Lookup
from ..filecoin.piece_server import Lookup

log = logging.getLogger(__name__)

RESERVED = frozenset({"piece", "metrics"})  # top-level routes of `serve -c`


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


def trees_from_mirrors(roots: Iterable[tuple[str, str]], rt: ArchiveRuntime | None = None) -> list[Tree]:
    """A tree per (name, working dir); the mirrors archived in `rt` carry their index (opened when it exists)."""
    archived = rt.mirrors if rt is not None else {}
    out: list[Tree] = []
    for name, root in roots:
        if not name or "/" in name or name in (".", ".."):
            log.warning("serve: mirror name %r cannot be a URL segment; not served", name)
            continue
        if name in RESERVED:
            log.warning("serve: mirror %r is shadowed by the /%s/ route", name, name)
        ms = archived.get(name)
        if ms is not None and rt is not None:
            out.append(Tree(name, os.path.realpath(ms.root), ms, rt.index_handle(name)))
        else:
            out.append(Tree(name, os.path.realpath(root)))
    return out


def piece_lookup(trees: list[Tree]) -> Lookup:
    """`piece CID -> staged CAR path` over the archived trees (archive.pieces.car_lookup, which rebuilds
    a missing CAR of a bundle not yet stored), with the indexes that exist by now."""

    def pairs() -> list[tuple[MirrorArchive, ArchiveIndex]]:
        out: list[tuple[MirrorArchive, ArchiveIndex]] = []
        for t in trees:
            index = t.index.get() if t.index is not None else None
            if t.archive is not None and index is not None:
                out.append((t.archive, index))
        return out

    async def lookup(cid: CID) -> Path | None:
        return await car_lookup(await asyncio.to_thread(pairs))(cid)

    return lookup
