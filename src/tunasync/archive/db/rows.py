"""Typed rows of the index's tables (what the repositories return)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import NamedTuple

from .states import BundleState, FileState


@dataclass
class FileRecord:
    path: str
    size: int
    mtime_ns: int
    inode: int
    profile: str | None
    cid: str | None
    bundle_id: int | None
    state: FileState
    deleted: bool
    first_seen: float
    last_seen: float
    hashed_at: float | None = None
    stored_at: float | None = None
    evicted_at: float | None = None
    last_access: float | None = None
    test_retrieval_at: float | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> FileRecord:
        d = dict(row)
        d["state"] = FileState(d["state"])
        d["deleted"] = bool(d["deleted"])
        return cls(**d)


@dataclass
class Bundle:
    id: int
    root_cid: str | None
    piece_cid: str | None
    piece_cid_v2: str | None
    padded_size: int | None
    car_size: int | None
    state: BundleState
    created: float
    test_retrieval_at: float | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Bundle:
        d = dict(row)
        d["state"] = BundleState(d["state"])
        return cls(**d)


class BundleMember(NamedTuple):
    path: str
    cid: str
    size: int
    mtime_ns: int


class StatRow(NamedTuple):
    """What the scanner compares with the disk: (size, mtime_ns, inode, state, deleted)."""
    size: int
    mtime_ns: int
    inode: int
    state: str
    deleted: int


class PathStat(NamedTuple):
    path: str
    size: int
    mtime_ns: int


class Pending(NamedTuple):
    """A `local` file to hash and the (size, mtime_ns, inode) its CID must be recorded against."""
    path: str
    size: int
    mtime_ns: int
    inode: int


class JournalEntry(NamedTuple):
    id: int
    op: str
    path: str | None
    bundle_id: int | None
    step: str
    detail: str | None
    created: float


class ForeignCopies(NamedTuple):
    providers: int
    piece_cid: str | None
    verified_at: float


class StateTotal(NamedTuple):
    files: int
    bytes: int


@dataclass(frozen=True)
class DueQuery:
    """What the eviction rule asks the index (built by archive/policy.py `due_query`, nowhere else):
    files in `states`, not deleted, mtime before the cutoff, at least `min_size` bytes, and not in a
    bundle whose state is one of `holding_bundles`. Copies and test retrievals are checked after."""

    states: tuple[FileState, ...]
    mtime_before_ns: int
    min_size: int
    holding_bundles: tuple[str, ...]


class DueFile(NamedTuple):
    path: str
    size: int
    mtime_ns: int
    state: str


# A due file as the eviction reads it: (path, size, mtime_ns, inode, state, test_retrieval_at).
DueRow = tuple[str, int, int, int, str, float | None]


class ScanLogState(NamedTuple):
    token: str | None  # the snapshot token the index accepts
    mark: int  # scan_log entries up to here are the ones read
    logged: set[str] | None  # their paths (None: too many to be worth it)
