"""Status routes over HTTP (docs/compat.md §3.4 2, 3, 7–10, docs/compat.md §3.5), on both backends."""

from __future__ import annotations

from datetime import datetime

from tunasync.manager.config import ManagerConfig
from tunasync.manager.db.sqlite import SqliteDatabase
from tunasync.models import timefmt

from ..mgrkit import Manager, post_status, register, start_manager, stop_manager

ZERO = "0001-01-01T00:00:00Z"


def t(text: str) -> datetime:
    return timefmt.parse_rfc3339(text)


async def test_empty_lists_null_vs_empty_array(manager: Manager) -> None:
    code, body, resp = await manager.call("GET", "/jobs")
    assert (code, body) == (200, [])
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    code, body, _ = await manager.call("GET", "/workers")
    assert (code, body) == (200, None)  # quirk 2: null
    await register(manager, "w1")
    code, body, _ = await manager.call("GET", "/workers/w1/jobs")
    assert (code, body) == (200, None)


async def test_asserted_sequence_success_presyncing_failed(manager: Manager) -> None:
    await register(manager, "w1")
    before = timefmt.now()
    s1 = await post_status(manager, "w1", "debian", "success")
    after = timefmt.now()
    assert before <= t(s1["last_update"]) <= after
    assert s1["last_ended"] == s1["last_update"] and s1["last_started"] == ZERO
    assert s1["size"] == "unknown"
    s2 = await post_status(manager, "w1", "debian", "pre-syncing")
    assert t(s2["last_started"]) >= t(s1["last_update"])
    assert (s2["last_update"], s2["last_ended"]) == (s1["last_update"], s1["last_ended"])
    s3 = await post_status(manager, "w1", "debian", "failed", error_msg="exit status 23")
    assert t(s3["last_ended"]) >= t(s2["last_started"])
    assert (s3["last_update"], s3["last_started"]) == (s1["last_update"], s2["last_started"])
    s4 = await post_status(manager, "w1", "debian", "pre-syncing")
    assert s4["last_started"] != s2["last_started"]
    s5 = await post_status(manager, "w1", "debian", "pre-syncing")  # still pre-syncing: unchanged
    assert s5["last_started"] == s4["last_started"]
    code, stored, _ = await manager.call("GET", "/workers/w1/jobs")
    assert stored == [s5]


async def test_web_view_shape(manager: Manager) -> None:
    await register(manager, "w1")
    s = await post_status(manager, "w1", "debian", "syncing", upstream="rsync://u/", is_master=True)
    _, jobs, _ = await manager.call("GET", "/jobs")
    assert list(jobs[0]) == ["name", "is_master", "status", "last_update", "last_update_ts", "last_started",
                             "last_started_ts", "last_ended", "last_ended_ts", "next_schedule",
                             "next_schedule_ts", "upstream", "size"]
    assert jobs[0]["next_schedule"] == "0001-01-01 00:00:00 +0000" and jobs[0]["next_schedule_ts"] == -62135596800
    assert jobs[0]["upstream"] == s["upstream"] and jobs[0]["is_master"] is True


async def test_name_from_body_and_empty_name_rejected(manager: Manager) -> None:
    await register(manager, "w1")
    code, body, _ = await manager.call("POST", "/workers/w1/jobs/url-name", {"name": "body-name", "status": "success"})
    assert code == 200 and body["name"] == "body-name"
    code, body, _ = await manager.call("POST", "/workers/w1/jobs/x", {"name": "", "status": "success"})
    assert (code, body) == (400, {"error": "mirror Name should not be empty"})
    _, jobs, _ = await manager.call("GET", "/jobs")
    assert [j["name"] for j in jobs] == ["body-name"]


async def test_malformed_json_is_400_and_stores_nothing(manager: Manager) -> None:
    code, body, _ = await manager.call("POST", "/workers", raw=b'{"id": "w1", "url": ')
    assert code == 400 and body["error"].startswith("invalid JSON")
    assert (await manager.call("GET", "/workers"))[1] is None
    await register(manager, "w1")
    for raw in (b"{bad", b'{"name": "x", "status": "exploded"}', b'{"name": 3}', b"[1]", b""):
        code, body, _ = await manager.call("POST", "/workers/w1/jobs/x", raw=raw)
        assert code == 400 and "error" in body, raw
    code, body, _ = await manager.call("POST", "/workers/w1/schedules", raw=b'{"schedules": [{"name": 1}]}')
    assert code == 400
    code, body, _ = await manager.call("POST", "/cmd", raw=b"{nope")
    assert code == 400
    assert (await manager.call("GET", "/jobs"))[1] == []


async def test_unknown_worker_is_400_on_every_worker_route(manager: Manager) -> None:
    routes = [("DELETE", "/workers/ghost"), ("GET", "/workers/ghost/jobs"), ("POST", "/workers/ghost/jobs/m"),
              ("POST", "/workers/ghost/jobs/m/size"), ("POST", "/workers/ghost/schedules"),
              ("GET", "/workers/ghost/jobs/m/history"), ("GET", "/workers/ghost/jobs/m/log"),
              ("POST", "/workers/ghost/jobs/m/archive")]
    for method, path in routes:
        code, body, _ = await manager.call(method, path, {"name": "m", "status": "success"})
        assert (code, body) == (400, {"error": "invalid workerID ghost"}), (method, path)
    assert (await manager.call("GET", "/jobs"))[1] == []


async def test_size_kept_and_set_size_overwrites(manager: Manager) -> None:
    await register(manager, "w1")
    await post_status(manager, "w1", "debian", "success", size="1.33T")
    s = await post_status(manager, "w1", "debian", "success", size="unknown")
    assert s["size"] == "1.33T"
    s = await post_status(manager, "w1", "debian", "success", size="")
    assert s["size"] == "1.33T"
    s = await post_status(manager, "w1", "debian", "success", size="1.5T")
    assert s["size"] == "1.5T"
    code, s, _ = await manager.call("POST", "/workers/w1/jobs/debian/size", {"name": "debian", "size": "2T"})
    assert (code, s["size"]) == (200, "2T")
    code, s, _ = await manager.call("POST", "/workers/w1/jobs/debian/size", {"name": "debian", "size": "unknown"})
    assert (code, s["size"]) == (200, "unknown")  # quirk 9 kept
    code, body, _ = await manager.call("POST", "/workers/w1/jobs/debian/size", {"name": "bogus", "size": "1G"})
    assert (code, body) == (500, {"error": "no mirror 'bogus' exists in worker 'w1'"})


async def test_schedules_and_next_schedule_zeroing(manager: Manager) -> None:
    w = await register(manager, "w1")
    await post_status(manager, "w1", "debian", "success")
    when = "2030-01-02T03:04:05+08:00"
    code, body, _ = await manager.call("POST", "/workers/w1/schedules", {"schedules": [
        {"name": "debian", "next_schedule": when}, {"name": "unknown-mirror", "next_schedule": when}]})
    assert (code, body) == (200, {})
    _, jobs, _ = await manager.call("GET", "/jobs")
    assert [(j["name"], j["next_schedule"], j["next_schedule_ts"]) for j in jobs] == [
        ("debian", "2030-01-02 03:04:05 +0800", 1893524645)]
    s = await post_status(manager, "w1", "debian", "syncing")  # quirk 1 kept: zero while running
    assert s["next_schedule"] == ZERO
    _, workers, _ = await manager.call("GET", "/workers")
    assert t(workers[0]["last_online"]) > t(w["last_online"])
    online = workers[0]["last_online"]
    code, body, _ = await manager.call("POST", "/workers/w1/schedules", {"schedules": None})
    assert (code, body) == (200, {})
    assert (await manager.call("GET", "/workers"))[1][0]["last_online"] == online  # no refresh on empty
    code, body, _ = await manager.call("POST", "/workers/w1/schedules", {"schedules": [{"name": ""}]})
    assert (code, body) == (400, {"error": "mirror Name should not be empty"})


async def test_flush_and_delete_worker_keeps_statuses(manager: Manager) -> None:
    await register(manager, "w1")
    await post_status(manager, "w1", "debian", "success")
    await post_status(manager, "w1", "old", "disabled")
    code, body, _ = await manager.call("DELETE", "/jobs/disabled")
    assert (code, body) == (200, {"message": "flushed"})
    assert [j["name"] for j in (await manager.call("GET", "/jobs"))[1]] == ["debian"]
    code, body, _ = await manager.call("DELETE", "/workers/w1")
    assert (code, body) == (200, {"message": "deleted"})
    assert (await manager.call("GET", "/workers"))[1] is None
    assert [j["name"] for j in (await manager.call("GET", "/jobs"))[1]] == ["debian"]  # quirk 10 kept


async def test_status_change_listeners_see_every_change(manager: Manager) -> None:
    seen = []
    manager.state.on_status_change.append(lambda c: seen.append((c.worker_id, c.mirror_id, c.status and c.status.status.value)))
    await register(manager, "w1")
    await post_status(manager, "w1", "debian", "success")
    await post_status(manager, "w1", "old", "disabled")
    await manager.call("DELETE", "/jobs/disabled")
    assert seen == [("w1", "debian", "success"), ("w1", "old", "disabled"), ("w1", "old", None)]


async def test_database_errors_use_go_texts(tmp_path) -> None:
    class Failing(SqliteDatabase):
        async def list_mirror_status(self, worker_id):
            raise RuntimeError("database fail")

        async def list_mirror_status_items(self):
            raise RuntimeError("database fail")

    db = await Failing.open(str(tmp_path / "t.db"))
    m = await start_manager(ManagerConfig(), db)
    try:
        await register(m, "magic_bad_worker_id")
        code, body, _ = await m.call("GET", "/workers/magic_bad_worker_id/jobs")
        assert (code, body) == (500, {"error": "failed to list jobs of worker magic_bad_worker_id: database fail"})
        code, body, _ = await m.call("GET", "/jobs")
        assert (code, body) == (500, {"error": "failed to list all mirror status: database fail"})
    finally:
        await stop_manager(m)
        await db.close()

