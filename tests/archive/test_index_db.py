"""The index's storage (archive/db): schema version and forward migrations, the one state-change
function, one database thread per index with group commit.

The migration tests build an index with each earlier layout: the one the code wrote before the index
had a version (tests/data/archive/index_v0.sql: that code's SCHEMA and scan-log DDL, copied verbatim)
and versions 1 and 2 (index_v1.sql, index_v2.sql: what those versions' code created, read back from
sqlite_master); they fill every table with rows in every state, open it with today's code and compare
every row, and the running totals version 3 added with a count of those rows.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import os
import re
import sqlite3
import threading
from pathlib import Path

import pytest

from tunasync.archive import db as dbpkg
from tunasync.archive.db import VERSION, BundleState, FileState, IllegalTransition
from tunasync.archive.index import ArchiveIndex
from tunasync.archive.scan import scan
from tunasync.errors import ArchiveError

DATA = Path(__file__).resolve().parents[1] / "data" / "archive"
V0, V1, V2 = DATA / "index_v0.sql", DATA / "index_v1.sql", DATA / "index_v2.sql"
LAYOUT_VERSION = {"v0-never-scanned": 0, "v0-scanned": 0, "v1": 1, "v2": 2}
TABLES = ("files", "bundles", "bundle_files", "copies", "foreign_copies", "journal", "meta")


def v0_parts() -> tuple[str, str]:
    text = V0.read_text()
    tables, _, log = text.partition("-- the scan log")
    return tables, log.partition("\n")[2]


def connect(path: Path) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(path, isolation_level=None, timeout=30))


def dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with connect(path) as db:
        return {t: sorted(tuple(r) for r in db.execute(f"SELECT * FROM {t}")) for t in TABLES}


def build_old(path: Path, tree: Path, layout: str) -> None:
    """An index as an earlier version left it: a file in every state, bundles in every state, copies,
    foreign copies, an open journal entry and a scan snapshot token."""
    tables, log = v0_parts()
    if layout in ("v1", "v2"):
        tables, log = (V1 if layout == "v1" else V2).read_text(), ""
    rows = []
    for i, state in enumerate(FileState):
        rel = f"pool/{state.value}.deb"
        full = tree / rel
        full.parent.mkdir(parents=True, exist_ok=True)
        if state is not FileState.EVICTED:
            full.write_bytes(b"x" * (i + 1))
            st = full.stat()
            stat3 = (st.st_size, st.st_mtime_ns, st.st_ino)
        else:
            stat3 = (i + 1, 1_000_000_000 * i, 0)
        bundle = {FileState.STORING: 2, FileState.STORED: 1, FileState.EVICTED: 1, FileState.CACHED: 4}.get(state)
        cid = None if state is FileState.LOCAL else f"bafk{state.value}"
        rows.append((rel, *stat3, "ipfs-car" if cid else None, cid, bundle, state.value, 0, 100.0 + i, 200.0 + i,
                     300.0 if cid else None, 400.0 if bundle else None,
                     500.0 if state is FileState.EVICTED else None, 600.0 if state is FileState.CACHED else None,
                     None))
    rows.append(("gone/upstream.deb", 5, 5, 5, None, None, None, "local", 1, 1.0, 2.0, None, None, None, None,
                 None))
    with connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(tables)
        if layout == "v0-scanned":
            db.executescript(log)
        db.executemany("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        for bid, state in enumerate(BundleState, start=1):
            db.execute("INSERT INTO bundles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (bid, f"bafyroot{bid}", f"baga{bid}", f"bafkz{bid}", 2048 * bid, 1500 * bid, state.value,
                        10.0 * bid, None if bid % 2 else 77.0))
            db.execute("INSERT INTO bundle_files VALUES (?, ?, ?, ?, ?)", (bid, f"pool/m{bid}", f"bafkm{bid}", bid, bid))
        db.executemany("INSERT INTO copies VALUES (?, ?, ?, ?, ?, ?)",
                       [("baga1", "f01000", 7, 1, 99, 1.5), ("baga1", "f01001", -1, 0, 99, 1.5),
                        ("baga4", "f01002", 8, 1, 100, 2.5)])
        db.execute("INSERT INTO foreign_copies VALUES ('bafkforeign', 3, 'bagaforeign', 9.5)")
        db.execute("INSERT INTO journal VALUES (1, 'evict', 'pool/stored.deb', NULL, 'unlinking', '{}', 3.25)")
        db.execute("INSERT OR REPLACE INTO meta VALUES ('archive.scan.snapshot', 'token-of-the-last-snapshot')")
        db.execute("INSERT INTO meta VALUES ('other', 'kept')")
        assert db.execute("PRAGMA user_version").fetchone()[0] == LAYOUT_VERSION[layout]


@pytest.mark.parametrize("layout", ["v0-never-scanned", "v0-scanned", "v1", "v2"])
def test_an_index_of_an_earlier_version_migrates_with_every_row(tmp_path, layout):
    tree, path = tmp_path / "tree", tmp_path / "ix" / "index.sqlite"
    path.parent.mkdir()
    build_old(path, tree, layout)
    with_scan_log = layout != "v0-never-scanned"
    before = dump(path)
    ix = ArchiveIndex(path)
    assert ix.db.found_version == LAYOUT_VERSION[layout]
    after = dump(path)
    meta = dict(after.pop("meta"))
    before_meta = dict(before.pop("meta"))
    assert after == before  # every row of every table, byte for byte
    assert meta["other"] == "kept"
    # a snapshot written while no scan log watched the rows cannot be trusted; one with the log can
    want_token = "token-of-the-last-snapshot" if with_scan_log else None
    assert (meta["archive.scan.snapshot"] == want_token) == with_scan_log
    assert before_meta["archive.scan.snapshot"] == "token-of-the-last-snapshot"
    with connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == VERSION
        triggers = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert triggers == {"scan_log_insert", "scan_log_update", "scan_log_delete",
                            "file_totals_insert", "file_totals_update", "file_totals_delete"}
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                            "AND name NOT LIKE 'sqlite_%'")}
        assert indexes == {"files_due", "files_bundle_path", "files_cid", "bundles_piece"}
        with pytest.raises(sqlite3.IntegrityError):  # states are now checked by the file itself
            db.execute("UPDATE files SET state = 'lost' WHERE path = 'pool/local.deb'")
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("UPDATE bundles SET state = 'half' WHERE id = 1")
    # every state reads back typed, and the records mean what they meant
    assert {r.path: r.state for r in ix.files()} == {f"pool/{s.value}.deb": s for s in FileState}
    assert [b.state for b in ix.bundles()] == list(BundleState)
    assert ix.verified_copies("baga1") == 1 and ix.foreign("bafkforeign") == (3, "bagaforeign", 9.5)
    assert [(j.op, j.path, j.step) for j in ix.journal_open()] == [("evict", "pool/stored.deb", "unlinking")]
    assert ix.get("gone/upstream.deb").deleted
    # the running totals were counted from the rows: one file in each state, one deleted upstream
    assert ix.db.read(lambda r: r.files.totals_drift()) == {}
    assert {s: t.files for s, t in ix.counts().items()} == {s.value: 1 for s in FileState}
    assert ix.db.read(lambda r: r.files.deleted_total()) == (1, 5)
    # the scanner sees the files on disk as unchanged: nothing to re-hash after the upgrade
    res = scan(str(tree), ix)
    assert res.changed == [] and res.deleted == [] and res.files == len(FileState) - 1
    ix.close()
    ix = ArchiveIndex(path)  # opening again changes nothing
    assert ix.db.found_version == VERSION and dump(path) == {**after, "meta": sorted(ix_meta(path))}
    ix.close()


def ix_meta(path: Path) -> list[tuple[object, ...]]:
    with connect(path) as db:
        return [tuple(r) for r in db.execute("SELECT * FROM meta")]


def test_a_new_index_starts_at_the_current_version(tmp_path):
    ix = ArchiveIndex(tmp_path / "index.sqlite")
    assert ix.db.found_version == 0  # nothing there: created, not migrated
    ix.close()
    with connect(tmp_path / "index.sqlite") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == VERSION


def test_an_index_newer_than_the_code_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "index.sqlite"
    ArchiveIndex(path).close()
    with connect(path) as db:
        db.execute(f"PRAGMA user_version = {VERSION + 1}")
    before = dump(path)
    with pytest.raises(ArchiveError, match="newer than this tunasync"):
        ArchiveIndex(path)
    assert dump(path) == before


def test_every_state_change_is_checked(tmp_path):
    ix = ArchiveIndex(tmp_path / "index.sqlite")
    ix.upsert_seen([("a", 1, 1, 1), ("b", 1, 1, 2)])
    with pytest.raises(IllegalTransition, match="local -> evicted"):
        ix.set_state("a", FileState.EVICTED)
    with pytest.raises(KeyError):
        ix.set_state("nope", FileState.HASHED)
    assert ix.get("a").state is FileState.LOCAL  # the refused write left nothing behind
    assert ix.set_hashed("a", (1, 1, 1), "ipfs-car", "bafka")
    assert not ix.set_hashed("a", (1, 1, 1), "ipfs-car", "bafka")  # hashed -> hashed is no move
    assert not ix.mark_cached("a", 5)  # only an evicted file can come back cached
    bid = ix.new_bundle([("a", "bafka", 1, 1), ("b", "bafkb", 1, 1)])  # b is still local: not packed
    assert ix.get("a").state is FileState.STORING and ix.get("b").state is FileState.LOCAL
    with pytest.raises(IllegalTransition, match="packing -> stored"):
        ix.set_bundle_stored(bid)
    ix.stage_bundle(bid, root_cid="r", piece_cid="p", piece_cid_v2="p2", padded_size=2, car_size=1)
    with pytest.raises(IllegalTransition, match="only a packing bundle"):
        ix.rollback_bundle(bid)
    with pytest.raises(IllegalTransition, match="staged -> degraded"):
        ix.set_bundle_state(bid, BundleState.DEGRADED)
    assert ix.set_bundle_stored(bid) == 1
    assert ix.bundle(bid).state is BundleState.STORED and ix.get("a").state is FileState.STORED
    ix.close()


def fds_on(path: Path) -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(str(path)):
                n += 1
        except OSError:
            pass
    return n


def test_one_connection_per_index_whatever_the_threads(tmp_path):
    """Before: one connection per calling thread (15 descriptors with a busy executor, 13 after close)."""
    path = tmp_path / "index.sqlite"
    ix = ArchiveIndex(path)
    ix.upsert_seen([(f"f{i}", i, i, i) for i in range(50)])
    start = threading.Barrier(16)

    def work(i: int) -> None:
        start.wait()
        for j in range(20):
            assert ix.get(f"f{(i + j) % 50}") is not None
            ix.touch(f"f{i}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fds_on(path) == 3  # the database, its -wal and its -shm: one connection
    ix.close()
    assert fds_on(path) == 0


async def test_concurrent_writes_share_commits_and_each_is_durable(tmp_path):
    """Writes queued while a commit runs go into the next one; every caller's write is there after."""
    path = tmp_path / "index.sqlite"
    ix = ArchiveIndex(path)
    before = ix.db.commits
    await asyncio.gather(*(ix.db.awrite(lambda r, i=i: r.files.upsert_seen([(f"p{i}", i, i, i)], 1.0))
                           for i in range(200)))
    got = await ix.call(ix.stat_map)
    assert sorted(got) == sorted(f"p{i}" for i in range(200))
    assert ix.db.commits - before < 100  # 200 writes, far fewer fsync'd commits
    ix.close()


async def test_a_write_that_fails_fails_alone(tmp_path):
    ix = ArchiveIndex(tmp_path / "index.sqlite")
    ix.upsert_seen([("a", 1, 1, 1)])

    def bad(r):
        r.meta.set("half", "done")
        r.files.set_state("a", FileState.EVICTED, {})  # illegal: raises after a write in the same job

    results = await asyncio.gather(ix.db.awrite(lambda r: r.meta.set("x", "1")), ix.db.awrite(bad),
                                   ix.db.awrite(lambda r: r.meta.set("y", "2")), return_exceptions=True)
    assert results[0] is None and isinstance(results[1], IllegalTransition) and results[2] is None
    assert (ix.get_meta("x"), ix.get_meta("half"), ix.get_meta("y")) == ("1", None, "2")
    ix.close()


def _strings(node: ast.AST) -> list[str]:
    """The SQL text a function holds: its string constants, f-strings joined."""
    out: list[str] = []
    for n in ast.walk(node):
        if isinstance(n, ast.JoinedStr):
            out.append("".join(v.value if isinstance(v, ast.Constant) else "?" for v in n.values))
        elif isinstance(n, ast.Constant) and isinstance(n.value, str):
            out.append(n.value)
    return out


def test_states_are_written_only_by_transition():
    """No SQL outside transition() sets a `state` column (the scanner's two upserts check their moves in place)."""
    setters = set()
    for f in Path(dbpkg.__file__).parent.glob("*.py"):
        for fn in ast.walk(ast.parse(f.read_text())):
            if not isinstance(fn, ast.FunctionDef):
                continue
            for sql in _strings(fn):
                for m in re.finditer(r"\bSET\b(.*?)(?:\bWHERE\b|$)", sql, re.S):
                    if re.search(r"\bstate\s*=", m.group(1)):
                        setters.add(fn.name)
    assert setters == {"_transition_sql", "_bundle_transition", "upsert_seen", "upsert_hashed"}
