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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import ModuleType
from typing import NamedTuple, Protocol, cast

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
    changed: list[tuple[str, int, int, int]] = field(default_factory=list)  # empty when a hasher took them
    deleted: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    changed_files: int = 0  # new or changed files found (also when `changed` is not kept)
    hashed: int = 0  # of those, recorded with their CID by the hasher
    hashed_bytes: int = 0


# -- walking -----------------------------------------------------------------------------------------
def _native() -> ModuleType | None:
    if os.environ.get(NO_NATIVE_ENV) or sys.getfilesystemencoding() != "utf-8":
        return None
    return cast(ModuleType | None, _native_walk)


class _Listing(NamedTuple):
    data: bytes | bytearray
    files: int
    bytes: int
    bad_names: int
    errors: list[tuple[str, str]]


_SPLIT_PARTS, _SPLIT_DEPTH = 32, 4  # a parallel walk cuts the tree into this many subtrees, at most this deep


def _list(native: ModuleType, root: str) -> _Listing:
    """The tree's listing, walked by one thread per core: the top directories are read here and cut
    into parts (a directory's own files; whole subtrees), listed in parallel and joined in walk order,
    which gives exactly the listing one walk gives (each part is what that walk writes there)."""
    skip, prefix = sorted(os.fsencode(d) for d in SKIP_DIRS), os.fsencode(TEMP_PREFIX)
    plan = _plan(os.fsencode(root))
    workers = min(4, os.cpu_count() or 1)
    if workers < 2 or sum(1 for _, files_only in plan if not files_only) < 2:
        parts = [native.listing(root, skip, prefix)]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="archive-walk") as pool:
            parts = list(pool.map(lambda part: native.listing(root, skip, prefix, *part), plan))
    errs = [(os.fsdecode(rel), os.strerror(e)) for p in parts for rel, e in p[4]]
    counts = sum(p[1] for p in parts), sum(p[2] for p in parts), sum(p[3] for p in parts)
    if len(parts) == 1:
        return _Listing(parts[0][0], *counts, errs)
    data = bytearray(sum(len(p[0]) for p in parts))  # each part dropped once copied: 1x, not 2x, at the peak
    pos = 0
    for i in range(len(parts)):
        part, parts[i] = parts[i][0], _NO_PART
        data[pos:pos + len(part)] = part
        pos += len(part)
        del part
    return _Listing(data, *counts, errs)


_NO_PART: tuple[bytes, int, int, int, list[tuple[bytes, int]]] = (b"", 0, 0, 0, [])


def _plan(root: bytes) -> list[tuple[bytes, bool]]:
    """The walk in parts, in walk order: (directory, its own files only) for the top directories
    (breadth first, until there are enough subtrees), (subtree, False) below them."""
    skip = {os.fsencode(d) for d in SKIP_DIRS}
    children: dict[bytes, list[bytes]] = {}
    frontier, depth = [b""], 0
    while frontier and depth < _SPLIT_DEPTH and len(frontier) < _SPLIT_PARTS:
        below: list[bytes] = []
        for d in frontier:
            try:
                with os.scandir(os.path.join(root, d) if d else root) as it:
                    names = sorted(e.name for e in it if e.name not in skip and e.is_dir(follow_symlinks=False))
            except OSError:  # not cut: the walker of this part meets and reports the same failure
                continue
            children[d] = [d + b"/" + n if d else n for n in names]
            below += children[d]
        frontier, depth = below, depth + 1
    plan: list[tuple[bytes, bool]] = []

    def add(d: bytes) -> None:
        if d not in children:
            plan.append((d, False))
            return
        plan.append((d, True))
        for c in children[d]:
            add(c)

    add(b"")
    return plan


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


def _load_snapshot(index: ArchiveIndex, root: str, token: str, current: bytes | bytearray) -> bytes | bytearray | None:
    """The previous listing, if the snapshot is ours, for this root, and the one the index accepts;
    `current` itself when it is the same (compared a piece at a time: a rescan that finds nothing
    changed never holds two listings)."""
    ident = _root_id(root)
    try:
        with open(snapshot_path(index), "rb") as f:
            head = f.readline(4096).rstrip(b"\n").split(b" ", 4)
            if ident is None or len(head) != 5 or head[:3] != [_MAGIC, _VERSION, token.encode()]:
                return None
            if not head[3].isdigit() or head[4] != ident:
                return None
            size, start = int(head[3]), f.tell()
            if os.fstat(f.fileno()).st_size - start != size:
                return None
            if size == len(current):
                view, pos = memoryview(current), 0
                while piece := f.read(1 << 20):
                    if view[pos:pos + len(piece)] != piece:
                        break
                    pos += len(piece)
                else:
                    return current
                f.seek(start)
            return f.read()
    except OSError:
        return None


def _write_snapshot(index: ArchiveIndex, root: str, token: str, data: bytes | bytearray) -> None:
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
def scan(root: str, index: ArchiveIndex, apply: bool = True, crash: Crash = no_crash, *,
         hasher: HashSink | None = None) -> ScanResult:
    """Compare the tree with the index; with apply=True record changes and upstream deletions.

    `crash("scan.recorded")` is called once the changes are committed, before the new snapshot is
    written (the one step whose crash leaves the index and the snapshot apart); a streamed full
    comparison also calls `crash("scan.batch")` after each batch it committed.

    With a `hasher` (hashing.HashStream) and apply=True, a full comparison (the first index, or no
    usable snapshot) hands new and changed files to it as it finds them and records each with its CID
    in the same write; `changed` then stays empty (`changed_files` counts them) and what the hasher
    could not hash is left `local` for `hash_pending`."""
    native = _native()
    trusted = _log_ready(index)  # the log has seen every row change since the last snapshot
    if not trusted and apply:
        _create_log(index)
    state = _log_state(index) if trusted or apply else None
    if native is None:
        errors: list[tuple[str, str]] = []
        res = _full(list(_walk_py(root, errors)), errors, index)
        res.changed_files = len(res.changed)
        if apply and (res.changed or res.deleted):
            _record(index, res, state, new_snapshot=True)  # a token no snapshot carries: trims the log
            crash("scan.recorded")
        return res

    listing = _list(native, root)
    logged = state.logged if state is not None else None
    old = None
    if trusted and state is not None and state.token and logged is not None:
        old = _load_snapshot(index, root, state.token, listing.data)
    same = old is listing.data
    if old is None or logged is None:
        del old
        return _stream_full(native, root, listing, index, state if apply else None, hasher if apply else None,
                            crash)
    if same and not logged and not listing.bad_names:
        res = ScanResult(listing.files, listing.bytes, errors=list(listing.errors))
    else:
        present, removed = native.diff(old, listing.data, {os.fsencode(p) for p in logged})
        res = ScanResult(listing.files, listing.bytes)
        here = {e[0] for e in present}
        off = removed + [p for p in logged if p not in here]
        _judge(res, present, off, _rows(index, [e[0] for e in present] + off), listing.errors)
    res.changed_files = len(res.changed)
    if apply and (res.changed or res.deleted or logged or not same):
        token = _record(index, res, state, new_snapshot=not same)
        crash("scan.recorded")
        if token is not None:
            _write_snapshot(index, root, token, listing.data)
    return res


def _full(entries: Iterable[Entry], walk_errors: list[tuple[str, str]], index: ArchiveIndex) -> ScanResult:
    """Every file against every row (the pure-Python walk)."""
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


# -- the streamed full comparison ------------------------------------------------------------------
_CHUNK = 4096  # listing entries judged at a time
_WRITE_ROWS = 16384  # rows per index transaction while streaming
Hashed = tuple[str, int, int, int, str]  # (path, size, mtime_ns, inode, cid)


class HashSink(Protocol):
    """What the streamed scan hands new and changed files to (hashing.HashStream): `submit` queues
    entries, and it and `finish` append what is done to `hashed` (entry + CID) and `failed`."""

    profile: str

    def submit(self, jobs: list[Entry], hashed: list[Hashed], failed: list[tuple[Entry, str]]) -> None: ...

    def finish(self, hashed: list[Hashed], failed: list[tuple[Entry, str]]) -> None: ...


def _chunks(native: ModuleType, data: bytes | bytearray) -> Iterator[list[Entry]]:
    pos, dirpos = 0, -1
    while pos < len(data):
        entries, pos, dirpos = native.records(data, pos, dirpos, _CHUNK)
        yield entries


class _Writer:
    """Rows found by a streamed scan, written a batch at a time, each batch one transaction that
    leaves no scan_log entry (as `_record`'s own writes: the token was set to one no snapshot carries
    before the first batch, so the log has nothing to keep for them)."""

    def __init__(self, index: ArchiveIndex, profile: str | None, crash: Crash):
        self.index, self.profile, self.crash = index, profile, crash
        self.local: list[Entry] = []
        self.hashed: list[Hashed] = []
        self.pending: Future[None] | None = None

    def add(self, local: Iterable[Entry] = (), hashed: Iterable[Hashed] = ()) -> None:
        self.local.extend(local)
        self.hashed.extend(hashed)
        if len(self.local) + len(self.hashed) >= _WRITE_ROWS:
            self.flush(wait=False)

    def flush(self, wait: bool = True) -> None:
        """Hand the batch to the database thread; the previous one must be committed first (one batch
        in flight: the caller goes on walking and hashing while it is written)."""
        self._wait()
        if self.local or self.hashed:
            local, hashed, profile, now = self.local, self.hashed, self.profile or "", time.time()

            def work(r: Repos) -> None:
                r.scan_log.pause()
                r.files.upsert_seen(local, now)
                if hashed:
                    r.files.upsert_hashed(hashed, profile, now)
                r.scan_log.resume()

            self.pending = self.index.db.submit_write(work)
            self.local, self.hashed = [], []
        if wait:
            self._wait()

    def _wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()
            self.crash("scan.batch")


def _stream_full(native: ModuleType, root: str, listing: _Listing, index: ArchiveIndex, state: ScanLogState | None,
                 hasher: HashSink | None, crash: Crash = no_crash) -> ScanResult:
    """Every file of the listing against its row, a chunk at a time; with `state` (apply) changes are
    recorded as they are found, in batches. Memory stays flat: no list of all files or rows is built.

    Crash safety: the first write sets a snapshot token no snapshot carries, so a scan killed halfway
    leaves rows that are each right (written with the stats the walk saw, and a CID only when the hash
    matched them) and a next scan that compares in full again."""
    res = ScanResult(listing.files, listing.bytes, errors=list(listing.errors))
    empty, expected = index.db.read(lambda r: (not r.files.any(), r.files.live_count()))
    writer = _Writer(index, hasher.profile if hasher is not None else None, crash) if state is not None else None
    scanning = "scanning-" + secrets.token_hex(8)
    bulk = empty and writer is not None  # a first index: indexes in random key order are built at the end

    def begin(r: Repos) -> None:
        r.scan_log.set_token(scanning)
        if bulk:
            r.files.defer_indexes()

    if writer is not None:
        index.db.write(begin)
    hashed: list[Hashed] = []
    failed: list[tuple[Entry, str]] = []
    try:
        matched = 0
        for chunk in _chunks(native, listing.data):
            changed: list[Entry] = []
            if empty:  # every file is new
                changed = [e for e in chunk if e[0].isascii() or _indexable(e[0])]
                if len(changed) != len(chunk):
                    res.errors += [(e[0], _NOT_UTF8) for e in chunk if not _indexable(e[0])]
                chunk = []
            rows: dict[str, Row] = _rows_of(index, [e[0] for e in chunk if _indexable(e[0])]) if chunk else {}
            for e in chunk:
                row = rows.get(e[0])
                if row is not None and not row[4] and row[3] != "evicted":
                    matched += 1
                if not e[0].isascii() and not _indexable(e[0]):
                    res.errors.append((e[0], _NOT_UTF8))
                elif _changed(row, e):
                    changed.append(e)
            res.changed_files += len(changed)
            if writer is None:
                res.changed.extend(changed)
            elif hasher is None:
                res.changed.extend(changed)
                writer.add(local=changed)
            else:
                hasher.submit(changed, hashed, failed)
                _hashed(res, writer, hashed, failed)
        if writer is not None:
            if hasher is not None:
                hasher.finish(hashed, failed)
                _hashed(res, writer, hashed, failed)
            writer.flush()
    except BaseException:
        if bulk:  # not left without them until the next open
            index.db.write(lambda r: r.files.build_indexes())
        raise
    if matched != expected:  # some live row's file is not on disk: find which
        unreadable = [rel for rel, _ in listing.errors]
        seen = (e[0] for chunk in _chunks(native, listing.data) for e in chunk)  # read on the db thread
        res.deleted = [p for p in index.db.read(lambda r: r.files.live_not_in(seen)) if not _under(p, unreadable)]
    if state is None:
        return res
    walk_failed = bool(res.errors) and not _only_names(res.errors)
    deleted = res.deleted

    def finish(r: Repos) -> str | None:
        r.files.mark_deleted(deleted)
        if bulk:
            r.files.build_indexes()
        if walk_failed or r.scan_log.token() != scanning:  # invalidated meanwhile: no snapshot this time
            return None
        token = secrets.token_hex(16)
        r.scan_log.set_token(token)
        r.scan_log.trim(state.mark)
        return token

    token = index.db.write(finish)
    crash("scan.recorded")
    if token is not None:
        _write_snapshot(index, root, token, listing.data)
    return res


def _rows_of(index: ArchiveIndex, paths: list[str]) -> dict[str, Row]:
    return index.db.read(lambda r: r.files.stat_rows(paths))


def _hashed(res: ScanResult, writer: _Writer, hashed: list[Hashed], failed: list[tuple[Entry, str]]) -> None:
    """Hand what the hasher finished to the writer (and empty both lists). What it could not hash
    (changed, vanished, unreadable) is recorded `local`: hash_pending tries again and reports it."""
    if hashed:
        res.hashed += len(hashed)
        res.hashed_bytes += sum(h[1] for h in hashed)
    writer.add([e for e, _ in failed], hashed)
    hashed.clear()
    failed.clear()
