"""The devnet's memory: one SQLite file under the data dir, so a restart keeps the chain.

Synchronous and thread-safe (one connection, one lock); the server calls it through `asyncio.to_thread`.
Rows are plain dicts; the market logic in `market.py` never sees SQL.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS providers (actor TEXT PRIMARY KEY, idx INTEGER NOT NULL, peer_id TEXT NOT NULL,
    port INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS deals (
    id INTEGER PRIMARY KEY,             -- the backend's (Singularity's) deal row
    deal_id INTEGER UNIQUE,             -- chain deal ID, set when published
    piece_cid TEXT NOT NULL, piece_size INTEGER NOT NULL, payload_size INTEGER NOT NULL DEFAULT 0,
    root_cid TEXT NOT NULL DEFAULT '', client TEXT NOT NULL, provider TEXT NOT NULL, label TEXT NOT NULL DEFAULT '',
    verified INTEGER NOT NULL DEFAULT 0, deal_type TEXT NOT NULL DEFAULT 'market',
    start_epoch INTEGER NOT NULL, end_epoch INTEGER NOT NULL, proposed_epoch INTEGER NOT NULL,
    published_epoch INTEGER NOT NULL DEFAULT -1, sector_start_epoch INTEGER NOT NULL DEFAULT -1,
    sector_number INTEGER, slash_epoch INTEGER NOT NULL DEFAULT -1, last_updated INTEGER NOT NULL DEFAULT -1,
    state TEXT NOT NULL, stored INTEGER NOT NULL DEFAULT 0, car_url TEXT NOT NULL DEFAULT '',
    schedule_id INTEGER, claim_id INTEGER, error TEXT NOT NULL DEFAULT '', foreign_copy INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS deals_piece ON deals(piece_cid);
CREATE TABLE IF NOT EXISTS claims (claim_id INTEGER PRIMARY KEY, provider TEXT NOT NULL, client TEXT NOT NULL,
    piece_cid TEXT NOT NULL, size INTEGER NOT NULL, term_min INTEGER NOT NULL, term_max INTEGER NOT NULL,
    term_start INTEGER NOT NULL, sector INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sectors (provider TEXT NOT NULL, sector INTEGER NOT NULL, activation INTEGER NOT NULL,
    live INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (provider, sector));
CREATE TABLE IF NOT EXISTS pieces (provider TEXT NOT NULL, piece_cid TEXT NOT NULL, path TEXT NOT NULL,
    size INTEGER NOT NULL, root_cid TEXT NOT NULL, PRIMARY KEY (provider, piece_cid));
CREATE TABLE IF NOT EXISTS blocks (provider TEXT NOT NULL, mh BLOB NOT NULL, piece_cid TEXT NOT NULL,
    offset INTEGER NOT NULL, length INTEGER NOT NULL, PRIMARY KEY (provider, mh, piece_cid));
CREATE INDEX IF NOT EXISTS blocks_mh ON blocks(mh);
CREATE TABLE IF NOT EXISTS announcements (provider TEXT NOT NULL, piece_cid TEXT NOT NULL, context_id BLOB NOT NULL,
    metadata BLOB NOT NULL, PRIMARY KEY (provider, piece_cid));
CREATE TABLE IF NOT EXISTS preparations (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS prep_pieces (id INTEGER PRIMARY KEY, prep_id INTEGER NOT NULL, piece_cid TEXT NOT NULL,
    piece_size INTEGER NOT NULL, file_size INTEGER NOT NULL, root_cid TEXT NOT NULL, UNIQUE (prep_id, piece_cid));
CREATE TABLE IF NOT EXISTS schedules (id INTEGER PRIMARY KEY, prep_id INTEGER NOT NULL, provider TEXT NOT NULL,
    state TEXT NOT NULL, body TEXT NOT NULL);
"""

DEAL_COLUMNS = ("id", "deal_id", "piece_cid", "piece_size", "payload_size", "root_cid", "client", "provider", "label",
                "verified", "deal_type", "start_epoch", "end_epoch", "proposed_epoch", "published_epoch",
                "sector_start_epoch", "sector_number", "slash_epoch", "last_updated", "state", "stored", "car_url",
                "schedule_id", "claim_id", "error", "foreign_copy")


class Store:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- generic -----------------------------------------------------------------------------
    def query(self, sql: str, args: Iterable[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute(sql, tuple(args)).fetchall()]

    def execute(self, sql: str, args: Iterable[Any] = ()) -> int:
        """Run one statement; return lastrowid."""
        with self._lock:
            return self._db.execute(sql, tuple(args)).lastrowid or 0

    def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(sql, [tuple(r) for r in rows])
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- meta ----------------------------------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(rows[0]["value"]) if rows else default

    def set_meta(self, key: str, value: Any) -> None:
        self.execute("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                     (key, json.dumps(value)))

    def next_counter(self, key: str, start: int) -> int:
        """Atomically hand out the next value of a persistent counter."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            value = json.loads(row["value"]) if row else start
            self._db.execute("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                             "excluded.value", (key, json.dumps(value + 1)))
            self._db.execute("COMMIT")
            return value

    # -- deals ---------------------------------------------------------------------------------
    def insert_deal(self, **fields: Any) -> int:
        cols = [c for c in fields if c in DEAL_COLUMNS]
        return self.execute(f"INSERT INTO deals({', '.join(cols)}) VALUES({', '.join('?' * len(cols))})",
                            [fields[c] for c in cols])

    def update_deal(self, row_id: int, **fields: Any) -> None:
        cols = [c for c in fields if c in DEAL_COLUMNS and c != "id"]
        if cols:
            self.execute(f"UPDATE deals SET {', '.join(c + ' = ?' for c in cols)} WHERE id = ?",
                         [fields[c] for c in cols] + [row_id])

    def deals(self, where: str = "1", args: Iterable[Any] = ()) -> list[dict[str, Any]]:
        return self.query(f"SELECT * FROM deals WHERE {where} ORDER BY id", args)
