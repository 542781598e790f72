"""One suite over every backend (sqlite and a real redis-server): Go's manager/db_test.go
(https://github.com/tuna/tunasync) and our additions."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from tunasync.manager.db import Database, NotFound, RunRecord
from tunasync.models import MirrorStatus, SyncStatus, WorkerStatus, gojson

T0 = datetime(2024, 5, 1, 12, 34, 56, 789012, tzinfo=timezone(timedelta(hours=8)))


def status(name: str, worker: str, st: SyncStatus = SyncStatus.SUCCESS, **kw) -> MirrorStatus:
    return MirrorStatus(name=name, worker=worker, status=st, last_update=T0, upstream="rsync://x/", size="1.5G", **kw)


async def test_workers_crud_and_go_error_texts(db: Database) -> None:
    await db.create_worker(WorkerStatus(id="w1", url="http://a/", token="s3cret", last_online=T0))
    await db.create_worker(WorkerStatus(id="w2", url="http://b/"))
    w1 = await db.get_worker("w1")
    assert (w1.url, w1.token, w1.last_online) == ("http://a/", "s3cret", T0)
    assert sorted(w.id for w in await db.list_workers()) == ["w1", "w2"]
    with pytest.raises(NotFound, match="^invalid workerID w3$"):
        await db.get_worker("w3")
    await db.delete_worker("w1")
    assert [w.id for w in await db.list_workers()] == ["w2"]
    with pytest.raises(NotFound, match="^invalid workerID w1$"):
        await db.delete_worker("w1")
    assert [w.id for w in await db.list_workers()] == ["w2"]


async def test_registration_overwrites(db: Database) -> None:
    await db.create_worker(WorkerStatus(id="w1", url="http://old/"))
    await db.create_worker(WorkerStatus(id="w1", url="http://new/"))
    assert [(w.id, w.url) for w in await db.list_workers()] == [("w1", "http://new/")]


async def test_statuses_round_trip_list_and_flush(db: Database) -> None:
    a = status("debian", "w1")
    b = status("ubuntu", "w1", SyncStatus.DISABLED)
    c = status("debian", "w2", SyncStatus.FAILED, error_msg="exit status 23")
    for s in (a, b, c):
        await db.update_mirror_status(s.worker, s.name, s)
    got = await db.get_mirror_status("w1", "debian")
    assert gojson.dumps(got.to_go()) == gojson.dumps(a.to_go())  # identical Go JSON, offset kept
    with pytest.raises(NotFound, match="^no mirror 'arch' exists in worker 'w1'$"):
        await db.get_mirror_status("w1", "arch")
    assert sorted(s.name for s in await db.list_mirror_status("w1")) == ["debian", "ubuntu"]
    assert [s.error_msg for s in await db.list_mirror_status("w2")] == ["exit status 23"]
    assert len(await db.list_all_mirror_status()) == 3
    removed = await db.flush_disabled_jobs()
    assert removed == [("w1", "ubuntu")]
    assert sorted((s.worker, s.name) for s in await db.list_all_mirror_status()) == [("w1", "debian"), ("w2", "debian")]


async def test_flush_removes_nameless_records(db: Database) -> None:
    await db.update_mirror_status("w1", "ghost", MirrorStatus(status=SyncStatus.PAUSED))
    await db.update_mirror_status("w1", "debian", status("debian", "w1"))
    assert await db.flush_disabled_jobs() == [("w1", "ghost")]
    assert [s.name for s in await db.list_all_mirror_status()] == ["debian"]


async def test_mirror_names_with_slash_stay_with_their_worker(db: Database) -> None:
    await db.update_mirror_status("w1", "a/b", status("a/b", "w1"))
    items = await db.list_mirror_status_items()
    assert [(w, m) for w, m, _ in items] == [("w1", "a/b")]
    assert [s.name for s in await db.list_mirror_status("w1")] == ["a/b"]


async def test_runs_newest_first_and_trimmed(db: Database) -> None:
    for i in range(5):
        run = RunRecord("debian", "w1", T0 + timedelta(minutes=i), T0 + timedelta(minutes=i, seconds=30),
                        SyncStatus.SUCCESS if i % 2 == 0 else SyncStatus.FAILED, f"e{i}", f"{i}G")
        await db.add_run("w1", "debian", run, keep=3)
    runs = await db.list_runs("w1", "debian", limit=10)
    assert [r.error_msg for r in runs] == ["e4", "e3", "e2"]
    assert runs[0].started == T0 + timedelta(minutes=4) and runs[0].status == SyncStatus.SUCCESS
    assert [r.size for r in await db.list_runs("w1", "debian", limit=1)] == ["4G"]
    assert await db.list_runs("w1", "other", limit=10) == []


async def test_archive_stats(db: Database) -> None:
    await db.put_archive_stats("w1", "debian", {"files": {"stored": 3}, "bytes": 10})
    await db.put_archive_stats("w1", "debian", {"files": {"stored": 4}, "bytes": 12})
    await db.put_archive_stats("w0", "arch", {"bytes": 1})
    assert await db.list_archive_stats() == [
        ("w0", "arch", {"bytes": 1}),
        ("w1", "debian", {"files": {"stored": 4}, "bytes": 12}),
    ]


async def test_import_all_upserts_everything(db: Database) -> None:
    await db.create_worker(WorkerStatus(id="w1", url="http://before/"))
    await db.import_all(
        [WorkerStatus(id="w1", url="http://a/"), WorkerStatus(id="w2", url="http://b/")],
        [status("debian", "w1"), ("w2", "arch", status("arch", "other-name-in-body"))],
    )
    assert sorted((w.id, w.url) for w in await db.list_workers()) == [("w1", "http://a/"), ("w2", "http://b/")]
    assert (await db.get_mirror_status("w2", "arch")).worker == "other-name-in-body"


async def test_import_all_is_all_or_nothing(db: Database) -> None:
    class Broken(MirrorStatus):
        def to_go(self):  # fails while the batch is being encoded
            raise ValueError("cannot encode")

    with pytest.raises(ValueError):
        await db.import_all([WorkerStatus(id="w9", url="http://x/")], [status("ok", "w9"), Broken(name="bad", worker="w9")])
    assert await db.list_workers() == []
    assert await db.list_all_mirror_status() == []


async def test_concurrent_writes_all_land(db: Database) -> None:
    await asyncio.gather(*(db.update_mirror_status("w1", f"m{i}", status(f"m{i}", "w1")) for i in range(200)))
    assert len(await db.list_mirror_status("w1")) == 200


def figs(disk: int, evicted: int) -> dict:
    return {"states": {"local": {"files": 1, "bytes": disk}, "stored": {"files": 2, "bytes": 100},
                       "evicted": {"files": 3, "bytes": evicted}}}


async def test_archive_history_is_hourly_and_bounded(db: Database) -> None:
    # Three posts in one hour keep one point (the last); a post 91 days later drops the old points.
    t = 1_700_000_000 // 3600 * 3600
    await db.put_archive_stats("w1", "debian", figs(10, 0), now=t + 5)
    await db.put_archive_stats("w1", "debian", figs(20, 0), now=t + 1800)
    await db.put_archive_stats("w1", "debian", figs(30, 7), now=t + 3599)
    await db.put_archive_stats("w1", "debian", figs(40, 9), now=t + 3600)
    await db.put_archive_stats("w0", "arch", figs(1, 1), now=t)
    got = await db.list_archive_history(0)
    assert [(w, m, [p["t"] for p in pts]) for w, m, pts in got] == [
        ("w0", "arch", [t]), ("w1", "debian", [t, t + 3600])]
    assert got[1][2][0] == {"t": t, "disk_bytes": 130, "filecoin_bytes": 107, "evicted_bytes": 7,
                            "disk_files": 3, "filecoin_files": 5}
    assert [p["t"] for _w, _m, pts in await db.list_archive_history(t + 1) for p in pts] == [t + 3600]
    later = t + 91 * 86400
    await db.put_archive_stats("w1", "debian", figs(50, 9), now=later)
    assert [(m, [p["t"] for p in pts]) for _w, m, pts in await db.list_archive_history(0)] == [
        ("arch", [t]), ("debian", [later])]
    # the latest figures are still what /archive lists
    assert [s["states"]["local"]["bytes"] for _w, m, s in await db.list_archive_stats() if m == "debian"] == [50]
