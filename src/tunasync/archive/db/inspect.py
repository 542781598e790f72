"""Read-only looks into an index file for `archive doctor`: opened with `mode=ro`, never created,
migrated or locked for writing, so a doctor run cannot change what it examines (the worker may hold
the index open at the same time)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def _open(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def archived_cid(path: Path) -> str | None:
    """Some CID the network holds for us (a stored, evicted or cached file), or None."""
    con = _open(path)
    try:
        row = con.execute("SELECT cid FROM files WHERE state IN ('stored', 'evicted', 'cached') "
                          "AND cid IS NOT NULL LIMIT 1").fetchone()
    finally:
        con.close()
    return str(row[0]) if row else None


def staged_pieces(path: Path) -> list[tuple[int, str]]:
    """(bundle id, piece CID) of bundles past packing, newest first: candidates for a staged CAR."""
    con = _open(path)
    try:
        rows = con.execute("SELECT id, piece_cid FROM bundles WHERE piece_cid IS NOT NULL "
                           "AND state != 'packing' ORDER BY id DESC").fetchall()
    finally:
        con.close()
    return [(int(b), str(p)) for b, p in rows]


def health(path: Path) -> tuple[list[str], list[tuple[str, str, str | None]]]:
    """`PRAGMA integrity_check`'s lines (["ok"] when sound) and the journal's unfinished (op, step, path)."""
    con = _open(path)
    try:
        result = [str(r[0]) for r in con.execute("PRAGMA integrity_check").fetchall()]
        steps = [(str(o), str(s), p) for o, s, p in con.execute("SELECT op, step, path FROM journal ORDER BY id")]
    finally:
        con.close()
    return result, steps
