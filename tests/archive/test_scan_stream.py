"""The first index streams: the walk's files go to the hash workers and into the index a batch at a
time, each recorded with its CID in one write. These tests run it for real: the CIDs it records are
`file_cid`'s, what it cannot hash is left `local` for hash_pending, and a `tunasync archive scan`
killed with SIGKILL halfway through a first index leaves an index that opens with all its indexes,
holds only right rows, and that the next scan completes."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.archive.test_scan_walk import both_walks, needs_native, odd_tree, without_dac_override, write
from tunasync.archive import _walk
from tunasync.archive import scan as scanmod
from tunasync.archive.db.schema import BULK_DEFERRED, FILES_INDEXES
from tunasync.archive.hashing import HashStream, hash_pending
from tunasync.archive.index import ArchiveIndex
from tunasync.archive.scan import scan
from tunasync.archive.states import FileState
from tunasync.content.unixfs import file_cid

pytestmark = needs_native


def data(n: int, seed: int) -> bytes:
    return (bytes(range(256)) * (n // 256 + 2))[seed % 256:][:n]


def sql(path: Path, query: str) -> list[tuple]:
    """Another connection, as another process would read the file."""
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
        return [tuple(r) for r in db.execute(query)]


def index_names(path: Path) -> set[str]:
    return {r[0] for r in sql(path, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'files' "
                                    "AND name NOT LIKE 'sqlite_autoindex%'")}


def test_parallel_walk_lists_exactly_what_one_walk_lists(tmp_path, monkeypatch):
    """The walk cut into parts (top directories' own files, subtrees below) and listed by several
    threads gives the very bytes, counts and errors of one walk, odd names and failures included."""
    root = tmp_path / "m"
    for a in range(6):
        for b in range(7):
            d = root / f"t{a}" / f"s{b}" / "deep" / "er"
            d.mkdir(parents=True)
            write(d.parent / f"f{a}{b}", data(a * 7 + b, b))
            write(d / "leaf", b"l")
        write(root / f"t{a}" / "own", b"o")
    odd_tree(root / "t2" / "s3")
    odd_tree(root / "t4")
    (root / "t1" / "closed").mkdir()
    write(root / "t1" / "closed" / "hidden", b"h")
    (root / "t5" / "s1" / "closed").mkdir()
    os.chmod(root / "t1" / "closed", 0)
    os.chmod(root / "t5" / "s1" / "closed", 0)
    try:
        with without_dac_override():
            plan = scanmod._plan(os.fsencode(root))
            parallel = scanmod._list(_walk, str(root))
            one = _walk.listing(str(root), [b".~tmp~"], b".tunasync-")
            entries, errors = both_walks(root, monkeypatch)
    finally:
        os.chmod(root / "t1" / "closed", 0o755)
        os.chmod(root / "t5" / "s1" / "closed", 0o755)
    assert sum(1 for _, files_only in plan if not files_only) >= 32  # it was cut
    assert parallel.data == one[0] and (parallel.files, parallel.bytes, parallel.bad_names) == one[1:4]
    assert parallel.errors == [(os.fsdecode(p), os.strerror(e)) for p, e in one[4]] == errors
    assert [p for p, _ in errors] == ["t1/closed", "t5/s1/closed"]
    assert [e[0] for e in _walk.records(parallel.data)] == [e[0] for e in entries]


def test_bulk_deferred_indexes_are_all_of_files_secondary_indexes():
    assert set(BULK_DEFERRED.values()) == {s.strip() for s in FILES_INDEXES.split(";") if s.strip()}


def test_streamed_first_index_records_file_cid_and_leaves_the_rest_local(tmp_path):
    root = tmp_path / "m"
    sizes = {f"d{i % 4}/f{i:03d}": (i * 997) % 5000 for i in range(300)}
    sizes["big/one"] = 3 << 20  # more than one chunk: hashed alone
    for rel, n in sizes.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        write(root / rel, data(n, len(rel)))
    write(root / "locked", b"no read permission")
    os.chmod(root / "locked", 0)
    ix = ArchiveIndex(tmp_path / "ix" / "index.sqlite")
    stream = HashStream(str(root), "ipfs-car", threads=2)
    try:
        r = scan(str(root), ix, hasher=stream)
    finally:
        stream.close()
    readable = os.access(root / "locked", os.R_OK)  # root reads it anyway
    assert (r.files, r.changed_files, r.changed) == (len(sizes) + 1, len(sizes) + 1, [])
    assert r.hashed == len(sizes) + readable and r.hashed_bytes == sum(sizes.values()) + 18 * readable
    assert index_names(ix.path) == set(BULK_DEFERRED)  # built again at the end of the bulk load
    for rel in ("d0/f000", "d1/f001", "d3/f299", "big/one"):
        rec = ix.get(rel)
        assert rec is not None and rec.state is FileState.HASHED
        assert rec.cid == str(file_cid(str(root / rel), "ipfs-car").cid)
    if not readable:
        rec = ix.get("locked")
        assert rec is not None and rec.state is FileState.LOCAL and rec.cid is None
        h = hash_pending(ix, str(root), "ipfs-car")
        assert h.hashed == 0 and [p for p, _ in h.errors] == ["locked"]
    os.chmod(root / "locked", 0o644)
    again = scan(str(root), ix)  # through the snapshot the stream wrote: nothing changed
    assert (again.changed, again.deleted, again.files) == ([], [], len(sizes) + 1)


def _conf(tmp: Path, root: Path) -> Path:
    conf = tmp / "worker.conf"
    conf.write_text(f"""
[global]
name = "w1"
log_dir = "{tmp}/log/{{{{.Name}}}}"
mirror_dir = "{tmp}/mirrors"

[manager]
api_base = "http://127.0.0.1:1"

[archive]
network = "devnet"
devnet_url = "http://127.0.0.1:1"
index_dir = "{tmp}/archive"

[[mirrors]]
name = "big"
provider = "command"
command = "true"
mirror_dir = "{root}"
archive = true
""")
    return conf


def test_kill_9_during_a_first_index_leaves_a_usable_index(tmp_path):
    root = tmp_path / "tree"
    files = 40_000
    for i in range(files):
        if i % 1000 == 0:
            (root / f"d{i // 1000:03d}").mkdir(parents=True)
        (root / f"d{i // 1000:03d}" / f"f{i:05d}").write_bytes(data(500 + i % 1500, i))
    conf = _conf(tmp_path, root)
    ix_path = tmp_path / "archive" / "big" / "index.sqlite"
    cmd = [sys.executable, "-m", "tunasync.cli.main", "archive", "scan", "-c", str(conf), "--json", "big"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(sqlite3.Error):
            if ix_path.exists() and sql(ix_path, "SELECT COUNT(*) FROM files")[0][0] > 0:
                seen = sql(ix_path, "SELECT COUNT(*) FROM files")[0][0]
                break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "the scan ended before it could be killed halfway"
    assert 0 < seen < files

    # what the kill left: the indexes are back at open, every row is right for the file it names
    ix = ArchiveIndex(ix_path)
    assert index_names(ix_path) == set(BULK_DEFERRED)
    rows = sql(ix_path, "SELECT path, size, mtime_ns, inode, state, cid FROM files")
    assert 0 < len(rows) < files
    for path, size, mtime_ns, inode, state, cid in rows[:: max(1, len(rows) // 200)]:
        st = os.stat(root / path)
        assert (size, mtime_ns, inode) == (st.st_size, st.st_mtime_ns, st.st_ino)
        assert state in ("local", "hashed")
        if state == "hashed":
            assert cid == str(file_cid(str(root / path), "ipfs-car").cid), path
    ix.close()

    # and the next scan completes it
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert '"hash_errors": 0' in out.stdout
    counts = sql(ix_path, "SELECT state, COUNT(*) FROM files GROUP BY state")
    assert counts == [("hashed", files)]
