"""`tunasync manager migrate --from-bolt`: Go bolt files (fixture writer) into sqlite and redis, all or nothing."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tunasync.cli.manager_migrate import command
from tunasync.manager.db import open_database
from tunasync.manager.migrate import MigrationError, decode_go_buckets
from tunasync.models import WorkerStatus

from .bolt_fixture import BoltWriter, go_database, go_status, go_worker


def conf(tmp_path, db_type: str, db_file: str) -> str:
    p = tmp_path / "manager.conf"
    p.write_text(f'[files]\ndb_type = "{db_type}"\ndb_file = "{db_file}"\n')
    return str(p)


def contents(db_type: str, db_file: str):
    return asyncio.run(_contents(db_type, db_file))


async def _contents(db_type: str, db_file: str):
    db = await open_database(db_type, db_file)
    try:
        workers = sorted(w.id for w in await db.list_workers())
        items = sorted((w, m, s.status.value, s.size) for w, m, s in await db.list_mirror_status_items())
        return workers, items
    finally:
        await db.close()


def test_decode_keeps_go_keys_and_reports_what_it_skips():
    db = go_database({"w1": ["debian", "pypi/simple"], "w2": ["debian"]})
    db[b"mirror_status"][b"broken/w1"] = b"{not json"
    db[b"mirror_status"][b"ghost/w2"] = go_status("", "", status="paused")  # Go quirk 5 record
    db[b"workers"][b"nested"] = {b"a": b"b"}
    db[b"other"] = {b"k": b"v"}
    data = decode_go_buckets(db, "m.db")
    assert sorted(w.id for w in data.workers) == ["w1", "w2"]
    keys = sorted((w, m) for w, m, _ in data.statuses)
    assert keys == [("w1", "debian"), ("w1", "pypi/simple"), ("w2", "debian"), ("w2", "ghost")]
    assert any("broken/w1: undecodable JSON" in s for s in data.skipped)
    assert any("workers/nested" in s for s in data.skipped)
    assert any("'other'" in n for n in data.notes) and any("ghost/w2" in n for n in data.notes)
    with pytest.raises(MigrationError, match="not a Go tunasync database"):
        decode_go_buckets({b"foo": {}}, "m.db")


def test_migrate_into_separate_sqlite(tmp_path):
    workers = {f"worker{i}": [f"mirror{j:03d}" for j in range(120)] for i in range(4)}
    bolt = tmp_path / "go.db"
    bolt.write_bytes(BoltWriter().build(go_database(workers, status="failed", size="3.2T")))
    target = tmp_path / "ours.sqlite"
    res = CliRunner().invoke(command, ["--from-bolt", str(bolt), "-c", conf(tmp_path, "sqlite", str(target))])
    assert res.exit_code == 0, res.output
    assert "Imported 4 workers and 480 mirror statuses" in res.output
    ws, items = contents("sqlite", str(target))
    assert ws == sorted(workers) and len(items) == 480
    assert items[0] == ("worker0", "mirror000", "failed", "3.2T")
    assert bolt.exists()  # the source is never touched


def test_drop_in_config_moves_go_file_aside(tmp_path):
    bolt = tmp_path / "tunasync.db"
    raw = BoltWriter().build(go_database({"w": ["debian", "ubuntu"]}))
    bolt.write_bytes(raw)
    cfg = conf(tmp_path, "bolt", str(bolt))
    res = CliRunner().invoke(command, ["--from-bolt", str(bolt), "-c", cfg])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "tunasync.db.go-bolt").read_bytes() == raw
    assert bolt.read_bytes()[:16] == b"SQLite format 3\0"
    assert contents("bolt", str(bolt)) == (["w"], [("w", "debian", "success", "1.2G"), ("w", "ubuntu", "success", "1.2G")])
    # Running it again finds our SQLite where the bolt file was: a clear refusal, nothing changes.
    res = CliRunner().invoke(command, ["--from-bolt", str(bolt), "-c", cfg])
    assert res.exit_code == 1 and "nothing imported" in res.output


def test_dry_run_imports_nothing(tmp_path):
    bolt = tmp_path / "go.db"
    bolt.write_bytes(BoltWriter().build(go_database({"w": ["a"]})))
    target = tmp_path / "ours.sqlite"
    res = CliRunner().invoke(command, ["--from-bolt", str(bolt), "--db-type", "sqlite", "--db-file", str(target), "--dry-run"])
    assert res.exit_code == 0 and "Would import 1 workers and 1 mirror statuses" in res.output
    assert not target.exists()


async def _seed(target: str) -> None:
    db = await open_database("sqlite", target)
    await db.create_worker(WorkerStatus(id="existing", url="http://x:6000/"))
    await db.close()


def test_corrupt_bolt_imports_nothing(tmp_path):
    target = tmp_path / "ours.sqlite"
    # The target already has data; a failed migration must leave it exactly so.
    asyncio.run(_seed(str(target)))
    data = bytearray(BoltWriter().build(go_database({"w": [f"m{i}" for i in range(200)]})))
    data[20 * 4096 + 8] = 0x10  # a deep page now claims to be a freelist page
    bolt = tmp_path / "go.db"
    bolt.write_bytes(bytes(data))
    res = CliRunner().invoke(command, ["--from-bolt", str(bolt), "-c", conf(tmp_path, "sqlite", str(target))])
    assert res.exit_code == 1
    assert "nothing imported" in res.output and "page 20" in res.output and str(bolt) in res.output
    assert contents("sqlite", str(target)) == (["existing"], [])


def test_failed_import_restores_the_go_file(tmp_path, monkeypatch):
    bolt = tmp_path / "tunasync.db"
    raw = BoltWriter().build(go_database({"w": ["debian"]}))
    bolt.write_bytes(raw)
    from tunasync.manager.db.sqlite import SqliteDatabase

    async def boom(self, workers, statuses):
        raise OSError("disk full")

    monkeypatch.setattr(SqliteDatabase, "import_all", boom)
    res = CliRunner().invoke(command, ["--from-bolt", str(bolt), "-c", conf(tmp_path, "bolt", str(bolt))])
    assert res.exit_code == 1 and "disk full" in res.output
    assert bolt.read_bytes() == raw
    assert not (tmp_path / "tunasync.db.go-bolt").exists()
    assert not (tmp_path / "tunasync.db-wal").exists()


@pytest.fixture
def redis_url(tmp_path, port):
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed")
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import socket
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


def test_migrate_into_redis(tmp_path, redis_url):
    db = go_database({"w1": ["debian"], "w2": ["ubuntu", "arch"]})
    db[b"workers"][b"w3"] = go_worker("w3", token="secret")
    bolt = tmp_path / "go.db"
    bolt.write_bytes(BoltWriter().build(db))
    res = CliRunner().invoke(command, ["--from-bolt", str(bolt), "-c", conf(tmp_path, "redis", redis_url)])
    assert res.exit_code == 0, res.output
    ws, items = contents("redis", redis_url)
    assert ws == ["w1", "w2", "w3"]
    assert [(w, m) for w, m, _, _ in items] == [("w1", "debian"), ("w2", "arch"), ("w2", "ubuntu")]


async def test_online_migration_from_a_running_manager(tmp_path):
    """`--from-url`: export through the Go API of a running manager (ours speaks it byte for byte)."""
    from .manager_harness import register, report, running_manager
    from .worker_harness import free_port

    src = tmp_path / "src"
    src.mkdir()
    async with running_manager(src, free_port()) as m:
        import aiohttp
        async with aiohttp.ClientSession() as s:
            await register(s, m.url, "w1")
            await register(s, m.url, "w2")
            await report(s, m.url, "w1", "debian", "pre-syncing", "syncing", "success", size="1.2T")
            await report(s, m.url, "w2", "pypi", "disabled")
        target = tmp_path / "ours.sqlite"
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "tunasync"), "manager", "migrate", "--from-url", m.url,
            "--db-type", "sqlite", "--db-file", str(target), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        out = (await proc.communicate())[0].decode()
        assert proc.returncode == 0, out
        assert "Imported 2 workers and 2 mirror statuses" in out and "tokens" in out
    ws, items = await _contents("sqlite", str(target))
    assert ws == ["w1", "w2"]
    assert items == [("w1", "debian", "success", "1.2T"), ("w2", "pypi", "disabled", "unknown")]


def test_online_migration_unreachable(tmp_path):
    from .worker_harness import free_port

    res = CliRunner().invoke(command, ["--from-url", f"http://127.0.0.1:{free_port()}", "--db-file",
                                       str(tmp_path / "x.sqlite"), "--db-type", "sqlite"])
    assert res.exit_code == 1 and "cannot reach the manager" in res.output
    assert not (tmp_path / "x.sqlite").exists()
    res = CliRunner().invoke(command, ["--db-file", str(tmp_path / "x.sqlite")])
    assert res.exit_code == 2 and "exactly one of" in res.output
