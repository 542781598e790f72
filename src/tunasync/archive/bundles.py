"""Packing hashed files into bundle CARs (docs/archive.md, step 7 "Pack"): one bundle = one CAR = one piece.

`plan` is pure: files in sorted path order, cut into groups of about `bundle_size` bytes (a file larger
than the target gets a bundle of its own); `plan_spans` makes the same cuts from files read a page at a
time in path order and tells each bundle as a path span, so neither planning nor packing holds the
list of files (the CAR writer streams them too: content.car `_BundleWriter`). `pack` writes the CAR (content.car.write_bundle_car:
deterministic, written to `.tmp` and renamed), computes its CommP and records both; the bundle row's
state is the journal of the step:

    packing ─► staged     (CAR complete under cars/<id>.car, piece CID recorded)

A crash while `packing` is rolled back by `recover_bundles` (tmp and CAR removed, the files go back to
`hashed`). A disk that fills while packing is a clean ArchiveError: the tmp file is removed, the bundle
rolled back, nothing is evicted.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..content.car import write_bundle_car
from ..content.piece import piece_of_file
from ..content.unixfs import FileChangedError
from ..errors import ArchiveError, ContentError
from .crash import Crash, no_crash
from .index import ArchiveIndex, BundleMember
from .settings import MirrorArchive

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Member:
    path: str
    cid: str
    size: int
    mtime_ns: int


def plan(files: Iterable[Member], bundle_size: int) -> list[list[Member]]:
    """Group files (sorted by path) into bundles of about `bundle_size` bytes."""
    groups: list[list[Member]] = []
    cur: list[Member] = []
    total = 0
    for m in sorted(files, key=lambda m: m.path):
        if cur and total + m.size > bundle_size:
            groups.append(cur)
            cur, total = [], 0
        cur.append(m)
        total += m.size
    if cur:
        groups.append(cur)
    return groups


@dataclass(frozen=True)
class Span:
    """One planned bundle: the files from `first` to `last` (by path) of those to pack."""

    first: str
    last: str
    files: int
    bytes: int


def plan_spans(files: Iterable[Member | BundleMember], bundle_size: int) -> Iterator[Span]:
    """`plan` for files that come already sorted by path (a paged index query): the same cuts, told as
    path spans, so planning holds one bundle's figures whatever the number of files."""
    first = last = ""
    n = total = 0
    for m in files:
        if n and total + m.size > bundle_size:
            yield Span(first, last, n, total)
            n = total = 0
        if not n:
            first = m.path
        elif m.path <= last:
            raise ValueError(f"plan_spans: {m.path!r} after {last!r}: files must come sorted by path")
        last = m.path
        n += 1
        total += m.size
    if n:
        yield Span(first, last, n, total)


def planned_spans(index: ArchiveIndex, bundle_size: int) -> list[Span]:
    """The bundles the files to pack make, read from the index a page at a time (blocking)."""
    return list(plan_spans(index.iter_hashed_unbundled(), bundle_size))


def hashed_members(index: ArchiveIndex) -> list[Member]:
    """Files hashed and not stored anywhere yet (no bundle, no foreign copies)."""
    return [Member(*r) for r in index.hashed_unbundled()]


def pack(ms: MirrorArchive, index: ArchiveIndex, members: list[Member] | Span, crash: Crash = no_crash) -> int:
    """Create, write and stage one bundle of `members` (a list, or a span of `planned_spans`: its files
    are then chosen in SQL and streamed to the CAR writer a page at a time); returns its id (blocking:
    run in a thread).

    ArchiveError on a full disk; FileChangedError when a member changed since it was hashed (the
    bundle is rolled back and that file goes back to `local`).
    """
    ms.ensure_dirs()
    if isinstance(members, Span):
        bid, count = index.new_bundle_range(members.first, members.last)
    else:
        bid, count = index.new_bundle([(m.path, m.cid, m.size, m.mtime_ns) for m in members]), len(members)
    crash("pack.created")
    out = ms.car_path(bid)
    try:
        info = write_bundle_car(ms.root, _member_cids(index, bid), str(out), ms.profile, expected_files=count)
        crash("pack.car_written")
        piece = piece_of_file(str(out))
        crash("pack.piece_computed")
    except FileChangedError as exc:
        rollback_bundle(ms, index, bid)
        rel = os.path.relpath(exc.path, ms.root) if os.path.isabs(exc.path) else exc.path
        index.back_to_local(rel)
        raise
    except OSError as exc:
        rollback_bundle(ms, index, bid)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ArchiveError(f"{ms.cars_dir}: disk full while packing bundle {bid} of {ms.name}; "
                               "nothing was evicted") from None
        raise ArchiveError(f"{out}: cannot write bundle {bid}: {exc.strerror or exc}") from None
    except ContentError:
        rollback_bundle(ms, index, bid)
        raise
    index.stage_bundle(bid, root_cid=str(info.root), piece_cid=str(piece.v1), piece_cid_v2=str(piece.v2),
                       padded_size=piece.padded_size, car_size=info.size)
    crash("pack.staged")
    return bid


def _member_cids(index: ArchiveIndex, bid: int) -> Iterator[tuple[str, str]]:
    """(path, recorded CID) of a bundle's members in path order, a page at a time."""
    return ((m.path, m.cid) for m in index.iter_bundle_members(bid))


def rollback_bundle(ms: MirrorArchive, index: ArchiveIndex, bid: int) -> None:
    """Forget an unfinished bundle: its files go back to `hashed`, its CAR files are removed."""
    for p in (ms.car_path(bid), ms.car_path(bid).with_name(f"{bid}.car.tmp")):
        try:
            p.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("archive %s: cannot remove %s: %s", ms.name, p, exc)
    index.rollback_bundle(bid)


def rebuild_car(ms: MirrorArchive, index: ArchiveIndex, bid: int) -> bool:
    """Write the bundle's CAR again from the files on disk; True when its piece CID matches the record.

    A mismatch (a member changed on disk) removes the rebuilt CAR and returns False.
    """
    b = index.bundle(bid)
    if b is None or b.piece_cid is None:
        return False
    ms.ensure_dirs()
    out = ms.car_path(bid)
    try:
        write_bundle_car(ms.root, _member_cids(index, bid), str(out), ms.profile)
        piece = piece_of_file(str(out))
    except (OSError, ContentError) as exc:
        log.warning("archive %s: cannot rebuild bundle %d from disk: %s", ms.name, bid, exc)
        out.unlink(missing_ok=True)
        return False
    if str(piece.v1) != b.piece_cid or piece.padded_size != b.padded_size:
        log.warning("archive %s: rebuilt bundle %d has piece %s, recorded %s", ms.name, bid, piece.v1, b.piece_cid)
        out.unlink(missing_ok=True)
        return False
    return True
