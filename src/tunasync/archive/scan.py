"""Incremental scan of a mirror tree against its index.

A file is "changed" when its (size, mtime_ns, inode) differ from the index: only those are re-hashed.
Files that vanished from disk while not evicted were deleted upstream: marked, not forgotten.
Only regular files count; symlinks, sockets, devices and rsync's `.~tmp~` staging dirs are skipped.
A walk failure (an unreadable directory, ...) is reported in `errors`, and nothing under that path is
taken for deleted. A file whose path is not UTF-8 cannot be indexed: it is reported, every scan.

A rescan of a million files must cost about what `find` costs, so it neither builds a million tuples
nor reads a million rows. The native walker (`_walk.c`) lists the tree into one bytes object, kept
after each scan beside the index as `<index>.snapshot`. The next scan compares listings in C and looks
up only the paths that differ, plus the paths whose index rows changed since: triggers on `files`
append those to `scan_log` (no other writer has to remember anything). Verdicts are always made on
the current index row, so the fast path and the full comparison give the same ScanResult.

Why a stale snapshot can only add work: it is used only while the `meta` token in its header is the
index's current one, and the index changes a scan records are committed in the same transaction that
rotates that token (a crash before the new snapshot is written leaves no snapshot with the token: the
next scan compares in full). `invalidate_snapshot()` forces that too. TUNASYNC_NO_NATIVE_WALK=1 (or
an unbuilt extension) selects the pure-Python walk and the full comparison, with identical results.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import NamedTuple

from .crash import Crash, no_crash
from .db import Repos, ScanLogState, StatRow
from .index import ArchiveIndex

try:
    from . import _walk as _native_walk  # type: ignore[attr-defined]
except ImportError:  # not built: the pure-Python walk below gives the same results
    _native_walk = None

log = logging.getLogger(__name__)

SKIP_DIRS = frozenset({".~tmp~"})
TEMP_PREFIX = ".tunasync-"  # our own in-progress retrievals live next to their final name
NO_NATIVE_ENV = "TUNASYNC_NO_NATIVE_WALK"

Entry = tuple[str, int, int, int]  # (relative path, size, mtime_ns, inode)
Row = StatRow  # index: (size, mtime_ns, inode, state, deleted)

_MAGIC, _VERSION = b"tunasync-scan-snapshot", b"1"
_MAX_LOGGED = 100_000  # more logged paths than this: the full comparison is cheaper
_NOT_UTF8 = "file name is not UTF-8: it cannot be indexed"

@dataclass
class ScanResult:
    files: int = 0
    bytes: int = 0
    changed: list[tuple[str, int, int, int]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)


# -- walking -----------------------------------------------------------------------------------------
def _native() -> ModuleType | None:
    if os.environ.get(NO_NATIVE_ENV) or sys.getfilesystemencoding() != "utf-8":
        return None
    walker: ModuleType | None = _native_walk
    return walker


class _Listing(NamedTuple):
    data: bytes
    files: int
    bytes: int
    bad_names: int
    errors: list[tuple[str, str]]


def _list(native: ModuleType, root: str) -> _Listing:
    data, files, nbytes, bad, errs = native.listing(root, sorted(os.fsencode(d) for d in SKIP_DIRS),
                                                    os.fsencode(TEMP_PREFIX))
    return _Listing(data, files, nbytes, bad, [(os.fsdecode(rel), os.strerror(e)) for rel, e in errs])


def walk(root: str, errors: list[tuple[str, str]] | None = None) -> Iterator[Entry]:
    """Yield (relative path, size, mtime_ns, inode) of every regular file under root: a directory's
    files (names sorted by bytes) before its subdirectories. Failures other than an entry vanishing
    go to `errors` as (relative path, reason) and the walk goes on."""
    native = _native()
    if native is None:
        yield from _walk_py(root, errors)
        return
    listing = _list(native, root)
    if errors is not None:
        errors.extend(listing.errors)
    yield from native.records(listing.data)


def _walk_py(root: str, errors: list[tuple[str, str]] | None) -> Iterator[Entry]:
    """The pure-Python twin of the native walker: same entries, order and errors."""
    errs: list[tuple[str, str]] = [] if errors is None else errors
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            with os.scandir(os.path.join(root, rel_dir) if rel_dir else root) as it:
                entries = sorted(it, key=lambda e: os.fsencode(e.name))
        except OSError as exc:
            if rel_dir == "" or not isinstance(exc, FileNotFoundError):  # a missing root is no empty tree
                errs.append((rel_dir, _reason(exc)))
            continue
        subdirs = []
        for e in entries:
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            try:
                if e.is_dir(follow_symlinks=False):
                    if e.name not in SKIP_DIRS:
                        subdirs.append(rel)
                    continue
                if e.name.startswith(TEMP_PREFIX) or not e.is_file(follow_symlinks=False):
                    continue
                st = e.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            except OSError as exc:
                errs.append((rel, _reason(exc)))
                continue
            if stat.S_ISREG(st.st_mode):
                yield rel, st.st_size, st.st_mtime_ns, st.st_ino
        stack.extend(reversed(subdirs))


def _reason(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


# -- verdicts (pure) ---------------------------------------------------------------------------------
def _indexable(rel: str) -> bool:
    if rel.isascii():
        return True
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _changed(row: Row | None, e: Entry) -> bool:
    return row is None or row[0] != e[1] or row[1] != e[2] or row[2] != e[3] or bool(row[4])


def _gone(row: Row | None) -> bool:
    """Off disk and neither evicted by us nor already marked: deleted upstream."""
    return row is not None and not row[4] and row[3] != "evicted"


def _judge(res: ScanResult, on_disk: Iterable[Entry], off_disk: Iterable[str], rows: dict[str, Row],
           walk_errors: list[tuple[str, str]]) -> None:
    """Fill changed/deleted/errors from candidates and their index rows (the same for both paths)."""
    unreadable = [rel for rel, _ in walk_errors]
    res.errors = list(walk_errors)
    for e in on_disk:
        if not _indexable(e[0]):
            res.errors.append((e[0], _NOT_UTF8))
        elif _changed(rows.get(e[0]), e):
            res.changed.append(e)
    res.deleted = sorted(p for p in set(off_disk) if _gone(rows.get(p)) and not _under(p, unreadable))


def _under(rel: str, tops: list[str]) -> bool:
    return any(t == "" or rel == t or rel.startswith(t + "/") for t in tops)


# -- the index side ----------------------------------------------------------------------------------
def _log_ready(index: ArchiveIndex) -> bool:
    """True when the log exists with exactly our triggers (so it saw every row change since it began)."""
    return index.db.read(lambda r: r.scan_log.ready())


def _create_log(index: ArchiveIndex) -> None:
    index.db.write(lambda r: r.scan_log.create())


def _log_state(index: ArchiveIndex) -> ScanLogState:
    return index.db.read(lambda r: r.scan_log.state(_MAX_LOGGED))


def _rows(index: ArchiveIndex, paths: Iterable[str]) -> dict[str, StatRow]:
    want = [p for p in dict.fromkeys(paths) if _indexable(p)]
    if len(want) > _MAX_LOGGED:
        return index.stat_map()
    return index.db.read(lambda r: r.files.stat_rows(want))


def _record(index: ArchiveIndex, res: ScanResult, state: ScanLogState | None, new_snapshot: bool) -> str | None:
    """Commit the scan's changes; returns the token a new snapshot must carry, or None for none."""
    now = time.time()
    walk_failed = bool(res.errors) and not _only_names(res.errors)

    def work(r: Repos) -> str | None:
        if state is None or walk_failed or r.scan_log.token() != state.token:
            # logged like any other writer's change: whatever snapshot exists stays exactly as good
            r.files.upsert_seen(res.changed, now)
            r.files.mark_deleted(res.deleted)
            return None
        token = secrets.token_hex(16) if new_snapshot else state.token
        assert token is not None
        r.scan_log.set_token(token)
        r.scan_log.trim(state.mark)
        # Our own writes need no log entry. Nobody else writes until we commit, so either drop the
        # triggers for this transaction (an upsert costs ~3x with them) or delete what they log for us.
        quiet = len(res.changed) + len(res.deleted) > 64
        start = r.scan_log.last()
        if quiet:
            r.scan_log.pause()
        r.files.upsert_seen(res.changed, now)
        r.files.mark_deleted(res.deleted)
        if quiet:
            r.scan_log.resume()
        r.scan_log.drop_after(start)
        return token if new_snapshot else None

    return index.db.write(work)


def _only_names(errors: list[tuple[str, str]]) -> bool:
    return all(why == _NOT_UTF8 for _, why in errors)


def invalidate_snapshot(index: ArchiveIndex) -> None:
    """Make the next scan compare the whole tree with the index (index rows already changed through
    `files` need no call: the scan log sees them)."""
    token = "invalidated-" + secrets.token_hex(8)
    index.db.write(lambda r: r.scan_log.set_token(token))
    try:
        os.unlink(snapshot_path(index))
    except OSError:
        pass


# -- the snapshot file -------------------------------------------------------------------------------
def snapshot_path(index: ArchiveIndex) -> str:
    return f"{index.path}.snapshot"


def _root_id(root: str) -> bytes | None:
    try:
        st = os.stat(root)
    except OSError:
        return None
    return b"%d %d %s" % (st.st_dev, st.st_ino, os.fsencode(os.path.abspath(root)).hex().encode())


def _load_snapshot(index: ArchiveIndex, root: str, token: str) -> bytes | None:
    """The previous listing, if the snapshot is ours, for this root, and the one the index accepts."""
    ident = _root_id(root)
    try:
        with open(snapshot_path(index), "rb") as f:
            head = f.readline(4096).rstrip(b"\n").split(b" ", 4)
            body = f.read()
    except OSError:
        return None
    if ident is None or len(head) != 5 or head[:3] != [_MAGIC, _VERSION, token.encode()]:
        return None
    if not head[3].isdigit() or int(head[3]) != len(body) or head[4] != ident:
        return None
    return body


def _write_snapshot(index: ArchiveIndex, root: str, token: str, data: bytes) -> None:
    ident, path = _root_id(root), snapshot_path(index)
    if ident is None:
        return
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(b" ".join((_MAGIC, _VERSION, token.encode(), b"%d" % len(data), ident)) + b"\n")
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as exc:  # harmless: without its snapshot the next scan compares in full
        log.warning("archive scan: cannot write %s: %s", path, exc)
        try:
            os.unlink(tmp)
        except OSError:
            pass


# -- the scan ----------------------------------------------------------------------------------------
def scan(root: str, index: ArchiveIndex, apply: bool = True, crash: Crash = no_crash) -> ScanResult:
    """Compare the tree with the index; with apply=True record changes and upstream deletions.

    `crash("scan.recorded")` is called once the changes are committed, before the new snapshot is
    written (the one step whose crash leaves the index and the snapshot apart)."""
    native = _native()
    trusted = _log_ready(index)  # the log has seen every row change since the last snapshot
    if not trusted and apply:
        _create_log(index)
    state = _log_state(index) if trusted or apply else None
    if native is None:
        errors: list[tuple[str, str]] = []
        res = _full(list(_walk_py(root, errors)), errors, index)
        if apply and (res.changed or res.deleted):
            _record(index, res, state, new_snapshot=True)  # a token no snapshot carries: trims the log
            crash("scan.recorded")
        return res

    listing = _list(native, root)
    logged = state.logged if state is not None else None
    old = None
    if trusted and state is not None and state.token and logged is not None:
        old = _load_snapshot(index, root, state.token)
    same = old is not None and old == listing.data
    if old is None or logged is None:
        res = _full(native.records(listing.data), listing.errors, index)
    elif same and not logged and not listing.bad_names:
        res = ScanResult(listing.files, listing.bytes, errors=list(listing.errors))
    else:
        present, removed = native.diff(old, listing.data, {os.fsencode(p) for p in logged})
        res = ScanResult(listing.files, listing.bytes)
        here = {e[0] for e in present}
        off = removed + [p for p in logged if p not in here]
        _judge(res, present, off, _rows(index, [e[0] for e in present] + off), listing.errors)
    if apply and (res.changed or res.deleted or logged or not same):
        token = _record(index, res, state, new_snapshot=not same)
        crash("scan.recorded")
        if token is not None:
            _write_snapshot(index, root, token, listing.data)
    return res


def _full(entries: Iterable[Entry], walk_errors: list[tuple[str, str]], index: ArchiveIndex) -> ScanResult:
    """Every file against every row (the first scan, a missing or refused snapshot, no native walker)."""
    known = index.stat_map()
    res = ScanResult()
    seen: set[str] = set()
    on_disk = []
    for e in entries:
        res.files += 1
        res.bytes += e[1]
        seen.add(e[0])
        prev = known.get(e[0])
        if prev is None or _changed(prev, e) or not e[0].isascii():
            on_disk.append(e)
    _judge(res, on_disk, (p for p in known if p not in seen), known, walk_errors)
    return res
