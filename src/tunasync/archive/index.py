"""The per-mirror archive index: one SQLite file (WAL) at `<index_dir>/<mirror>/index.sqlite`.

It records, for every file the mirror ever held: path (mirror-relative, `/`-separated), size, mtime_ns,
inode, profile, CID, bundle, state and timestamps. Files upstream deleted are marked, never forgotten:
their copies stay known. Bundles are the CAR pieces; `copies` caches the last chain check per provider.

`ArchiveIndex` is the facade the archive steps use; the tables, the SQL, the state rules and the one
database thread live in archive/db. Methods are synchronous and may be called from any thread (the
work runs on the index's database thread, the caller waits); `call` is the awaitable form of any of
them, and `db.aread`/`db.awrite` run repository work directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import ParamSpec, TypeVar

from .db import (
    Bundle,
    BundleMember,
    BundleState,
    Database,
    DueFile,
    DueQuery,
    DueRow,
    FileRecord,
    FileState,
    ForeignCopies,
    JournalEntry,
    PathStat,
    Pending,
    Repos,
    StateTotal,
    StatRow,
)

__all__ = ["ArchiveIndex", "Bundle", "BundleMember", "FileRecord"]

_PATH_END = "\U0010ffff"  # sorts after every path (SQLite compares UTF-8 bytes: code point order)

P = ParamSpec("P")
T = TypeVar("T")


def _by_path(fetch: Callable[[str | None, int], list[BundleMember]], page: int) -> Iterator[BundleMember]:
    """Every row `fetch(after, limit)` pages through, in path order: the next page starts after the last
    path of the one before (None: from the start)."""
    after: str | None = None
    while True:
        rows = fetch(after, page)
        yield from rows
        if len(rows) < page:
            return
        after = rows[-1].path


class ArchiveIndex:
    """One mirror's index: one connection, on its own thread, whatever thread calls."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.db = Database(self.path)

    def close(self) -> None:
        self.db.close()

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Await one of this index's methods (run on the database thread, no executor thread held)."""
        return await self.db.acall(lambda: fn(*args, **kwargs))

    # -- files ---------------------------------------------------------------------------------
    def get(self, path: str) -> FileRecord | None:
        return self.db.read(lambda r: r.files.get(path))

    def files(self, state: FileState | None = None, include_deleted: bool = False) -> Iterator[FileRecord]:
        return iter(self.db.read(lambda r: r.files.select(state, include_deleted)))

    def files_under(self, prefix: str, include_deleted: bool = False) -> list[FileRecord]:
        """The file at `prefix` (mirror-relative, no slashes around) and every file below it, by path."""
        return self.db.read(lambda r: r.files.under(prefix, include_deleted))

    def stat_map(self) -> dict[str, StatRow]:
        """path -> (size, mtime_ns, inode, state, deleted) for the scanner's comparison."""
        return self.db.read(lambda r: r.files.stat_map())

    def upsert_seen(self, rows: Iterable[tuple[str, int, int, int]], now: float | None = None) -> int:
        """Record files found on disk whose (size, mtime_ns, inode) are new or changed: they go back to
        `local` with no CID (re-hash next). Returns the number of rows written."""
        rows = list(rows)
        t = now or time.time()
        return self.db.write(lambda r: r.files.upsert_seen(rows, t))

    def pending_page(self, after: int, limit: int) -> list[tuple[int, Pending]]:
        """Up to `limit` (rowid, file) of the `local` files on disk after rowid `after` (hash_pending
        pages through them: memory stays flat however many there are)."""
        return self.db.read(lambda r: r.files.pending_page(after, limit))

    def mark_deleted(self, paths: Iterable[str]) -> int:
        """Upstream removed these files (they left the disk without us evicting them)."""
        paths = list(paths)
        return self.db.write(lambda r: r.files.mark_deleted(paths))

    def set_hashed(self, path: str, expect: tuple[int, int, int], profile: str, cid: str) -> bool:
        """Record a CID only if the row still describes the bytes that were hashed."""
        now = time.time()
        return self.db.write(lambda r: r.files.set_hashed(path, expect, profile, cid, now))

    def set_hashed_many(self, rows: Iterable[tuple[str, tuple[int, int, int], str]], profile: str) -> list[str]:
        """`set_hashed` for many (path, expect, cid) in one transaction; returns the paths refused."""
        batch = list(rows)
        now = time.time()
        return self.db.write(lambda r: r.files.set_hashed_many(batch, profile, now))

    def set_state(self, path: str, new: FileState, **fields: object) -> None:
        """Move one file to `new` (IllegalTransition when its state may not go there)."""
        self.db.write(lambda r: r.files.set_state(path, new, fields))

    def back_to_local(self, path: str) -> None:
        """The file's bytes are no longer the ones hashed: forget the CID, rescan and re-hash it."""
        self.db.write(lambda r: r.files.back_to_local(path))

    def touch(self, path: str, when: float | None = None) -> None:
        t = when or time.time()
        self.db.write(lambda r: r.files.touch(path, t))

    def touch_cached(self, seen: dict[str, float]) -> int:
        """Record the later uses of `cached` files (one transaction)."""
        return self.db.write(lambda r: r.files.touch_cached(seen))

    def mark_cached(self, path: str, inode: int, when: float | None = None) -> bool:
        """A retrieved, verified copy of an evicted file is now on disk (mtime restored, new inode).

        The new inode is recorded so the next scan sees the file unchanged; False when the row is no
        longer `evicted` (upstream changed it meanwhile: the retrieved copy must not be kept)."""
        t = when or time.time()
        return self.db.write(lambda r: r.files.mark_cached(path, inode, t))

    def cached_lru(self) -> list[FileRecord]:
        """Cached files, least recently used first (what a cache budget returns to `evicted`)."""
        return self.db.read(lambda r: r.files.cached_lru())

    def cid_holders(self, cid: str) -> list[FileRecord]:
        """Every indexed file with this CID (the same bytes under several paths)."""
        return self.db.read(lambda r: r.files.cid_holders(cid))

    def counts(self) -> dict[str, StateTotal]:
        """state -> (files, bytes), deleted files excluded."""
        return self.db.read(lambda r: r.files.counts())

    def hashed_unbundled(self) -> list[BundleMember]:
        """Files hashed and not stored anywhere yet (no bundle, no foreign copies)."""
        return self.db.read(lambda r: r.files.hashed_unbundled())

    def hashed_unbundled_page(self, after: str | None, limit: int) -> list[BundleMember]:
        """`hashed_unbundled`, `limit` files at a time by path, after `after` (None: from the start)."""
        return self.db.read(lambda r: r.files.hashed_unbundled_page(after, limit))

    def hashed_unbundled_records(self, after: str | None, limit: int) -> list[FileRecord]:
        """The whole rows of `hashed_unbundled_page` (what the foreign-copy check needs)."""
        return self.db.read(lambda r: r.files.hashed_unbundled_records(after, limit))

    def iter_hashed_unbundled(self, page: int = 10_000) -> Iterator[BundleMember]:
        """Every file of `hashed_unbundled` in path order, read a page at a time (bounded memory)."""
        return _by_path(self.hashed_unbundled_page, page)

    # -- bundles -------------------------------------------------------------------------------
    def new_bundle_range(self, first: str, last: str) -> tuple[int, int]:
        """`new_bundle` of every hashed, unbundled file with first <= path <= last; (bundle id, files)."""
        now = time.time()
        return self.db.write(lambda r: r.bundles.create_range(first, last, now))

    def bundle_members_page(self, bid: int, after: str | None, limit: int) -> list[BundleMember]:
        return self.db.read(lambda r: r.bundles.members_page(bid, after, limit))

    def iter_bundle_members(self, bid: int, page: int = 10_000) -> Iterator[BundleMember]:
        """A bundle's members in path order, read a page at a time (bounded memory)."""
        return _by_path(lambda after, n: self.bundle_members_page(bid, after, n), page)

    def new_bundle(self, members: list[tuple[str, str, int, int]]) -> int:
        """Create a bundle of (path, cid, size, mtime_ns) and move its files to `storing`."""
        now = time.time()
        return self.db.write(lambda r: r.bundles.create(members, now))

    def bundle(self, bid: int) -> Bundle | None:
        return self.db.read(lambda r: r.bundles.get(bid))

    def bundles(self, state: BundleState | str | None = None) -> list[Bundle]:
        return self.db.read(lambda r: r.bundles.select(state))

    def bundle_by_piece(self, piece_cid: str) -> Bundle | None:
        return self.db.read(lambda r: r.bundles.by_piece(piece_cid))

    def bundle_members(self, bid: int) -> list[BundleMember]:
        return self.db.read(lambda r: r.bundles.members(bid))

    def attach_to_known_bundles(self) -> tuple[int, int]:
        """Hashed files whose CID is already in one of our bundles join it instead of being packed again
        (the same bytes under another path, or a file that came back). Returns (stored, storing)."""
        now = time.time()
        return self.db.write(lambda r: r.files.attach_to_known_bundles(now))

    def stage_bundle(self, bid: int, *, root_cid: str, piece_cid: str, piece_cid_v2: str, padded_size: int,
                     car_size: int) -> None:
        """The bundle's CAR is complete and its piece computed: `packing` → `staged`."""
        self.db.write(lambda r: r.bundles.stage(bid, root_cid=root_cid, piece_cid=piece_cid,
                                                piece_cid_v2=piece_cid_v2, padded_size=padded_size,
                                                car_size=car_size))

    def set_bundle_state(self, bid: int, new: BundleState) -> None:
        self.db.write(lambda r: r.bundles.set_state(bid, new))

    def set_bundle_stored(self, bid: int) -> int:
        """The bundle's piece has its copies: it and its `storing` files become `stored`."""
        now = time.time()
        return self.db.write(lambda r: r.bundles.mark_stored(bid, now))

    def rollback_bundle(self, bid: int) -> None:
        """Forget an unfinished bundle: its files go back to `hashed`."""
        self.db.write(lambda r: r.bundles.rollback(bid))

    # -- copies --------------------------------------------------------------------------------
    def record_copies(self, piece_cid: str, epoch: int, providers: Iterable[tuple[str, int, bool]]) -> None:
        """Replace the cached chain view of a piece: (provider, deal_id, active)."""
        rows = list(providers)
        now = time.time()
        self.db.write(lambda r: r.copies.record(piece_cid, epoch, rows, now))

    def verified_copies(self, piece_cid: str) -> int:
        return self.db.read(lambda r: r.copies.verified(piece_cid))

    def copy_providers(self, piece_cid: str) -> list[str]:
        """Providers the last chain check found holding a live copy of the piece."""
        return self.db.read(lambda r: r.copies.providers(piece_cid))

    def active_deals(self, piece_cid: str) -> list[tuple[str, int]]:
        """(provider, deal_id) of the piece's live copies at the last chain check."""
        return self.db.read(lambda r: r.copies.active_deals(piece_cid))

    def copies_histogram(self) -> dict[int, int]:
        """verified copies -> number of pieces with that many."""
        return self.db.read(lambda r: r.copies.histogram())

    def set_foreign(self, cid: str, providers: int, piece_cid: str | None, stored: bool) -> int:
        """Record the verified foreign copies of a CID; with `stored`, its hashed files need no upload."""
        now = time.time()
        return self.db.write(lambda r: r.copies.set_foreign(cid, providers, piece_cid, stored, now))

    def foreign(self, cid: str) -> ForeignCopies | None:
        return self.db.read(lambda r: r.copies.foreign(cid))

    def foreign_only(self) -> list[str]:
        """Files stored only by others' copies (no bundle of ours)."""
        return self.db.read(lambda r: r.files.foreign_only())

    # -- eviction ------------------------------------------------------------------------------
    def evicted_paths(self) -> list[str]:
        """Files off disk that upstream still has: what rsync must not fetch again."""
        return [p.path for p in self.db.read(lambda r: r.files.evicted())]

    def evicted_stats(self) -> dict[str, tuple[int, int]]:
        """path -> (size, mtime_ns) of the evicted files upstream still had when last asked."""
        return {p.path: (p.size, p.mtime_ns) for p in self.db.read(lambda r: r.files.evicted())}

    def evicted_range(self, lo: str, hi: str, inclusive: bool, limit: int) -> list[PathStat]:
        """Evicted, not deleted files with lo <(=) path < hi, by path."""
        return self.db.read(lambda r: r.files.evicted_range(lo, hi, inclusive, limit))

    # the eviction rule's one query: archive/policy.py `due_query` builds what is asked
    def due_total(self, q: DueQuery) -> StateTotal:
        """(files, bytes) the rule lets go now, copies aside: `evictable_now`."""
        return self.db.read(lambda r: r.files.due_total(q))

    def due_groups(self, q: DueQuery) -> list[tuple[int | None, int]]:
        """(bundle_id, files due) per bundle, the bundle with the oldest due file first; None: files
        stored by others' copies, each checked alone."""
        return self.db.read(lambda r: r.files.due_groups(q))

    def due_page(self, q: DueQuery, bundle_id: int | None, after: str, n: int) -> list[FileRecord]:
        """The next `n` due files of one bundle (or of none) after path `after`, by path."""
        return self.db.read(lambda r: r.files.due_page(q, bundle_id, after, n))

    def due_rows(self, q: DueQuery, bundle_id: int | None, after: str, n: int) -> list[DueRow]:
        """`due_page` as plain (path, size, mtime_ns, inode, state, test_retrieval_at) tuples."""
        return self.db.read(lambda r: r.files.due_rows(q, bundle_id, after, n))

    def oldest_waiting(self, states: tuple[FileState, ...], limit: int) -> list[DueFile]:
        """The oldest non-empty files on disk in `states` (what becomes due next)."""
        return self.db.read(lambda r: r.files.oldest_waiting(states, limit))

    def set_bundle_tested(self, bid: int, when: float | None = None) -> None:
        """The bundle's whole piece came back verified: every file in it passed a test retrieval."""
        t = when or time.time()
        self.db.write(lambda r: r.bundles.set_tested(bid, t))

    def evicted_fingerprint(self) -> tuple[int, int, int, int]:
        """A summary of the evicted set that moves whenever the set does (see db Files.evicted_fingerprint)."""
        return self.db.read(lambda r: r.files.evicted_fingerprint())

    def evicted_by_path(self, page: int = 10_000) -> Iterator[PathStat]:
        """Every evicted, not deleted file in path order, read a page at a time (bounded memory)."""
        lo, inclusive = "", True
        while True:
            rows = self.evicted_range(lo, _PATH_END, inclusive, page)
            yield from rows
            if len(rows) < page:
                return
            lo, inclusive = rows[-1].path, False

    def evicted_in_dir(self, directory: str, page: int = 10_000) -> dict[str, tuple[int, int]]:
        """path -> (size, mtime_ns) of the evicted files directly in `directory` ("" = the top)."""
        lo, hi = (directory + "/", directory + "0") if directory else ("", _PATH_END)  # '0' follows '/'
        start = len(lo)
        out: dict[str, tuple[int, int]] = {}
        inclusive = True
        while True:
            rows = self.evicted_range(lo, hi, inclusive, page)
            out.update((r.path, (r.size, r.mtime_ns)) for r in rows if "/" not in r.path[start:])
            if len(rows) < page:
                return out
            lo, inclusive = rows[-1].path, False

    def set_test_retrieval(self, path: str, when: float | None = None) -> None:
        t = when or time.time()
        self.db.write(lambda r: r.files.set_test_retrieval(path, t))

    # -- journal -------------------------------------------------------------------------------
    def journal_begin(self, op: str, step: str, path: str | None = None, bundle_id: int | None = None,
                      detail: str | None = None) -> int:
        now = time.time()
        return self.db.write(lambda r: r.journal.begin(op, step, path, bundle_id, detail, now))

    def journal_step(self, jid: int, step: str) -> None:
        self.db.write(lambda r: r.journal.step(jid, step))

    def journal_end(self, jid: int) -> None:
        self.db.write(lambda r: r.journal.end(jid))

    def journal_open(self) -> list[JournalEntry]:
        return self.db.read(lambda r: r.journal.open())

    def finish_eviction(self, jid: int, paths: list[str], tested_at: float | None = None) -> None:
        """The batch's unlinked files are off disk: they become `evicted` and the batch's journal entry
        ends, in one commit."""
        now = time.time()

        def work(r: Repos) -> None:
            r.files.evicted_batch(paths, now, tested_at)
            r.journal.end(jid)

        self.db.write(work)

    # -- meta ----------------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        return self.db.read(lambda r: r.meta.get(key, default))

    def set_meta(self, key: str, value: str) -> None:
        self.db.write(lambda r: r.meta.set(key, value))
