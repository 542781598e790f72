"""`GET /workers/:id/jobs/:job/history`: a run is recorded for every success/failed post."""

from __future__ import annotations

from tunasync.manager.config import HistoryConfig, ManagerConfig
from tunasync.models import timefmt

from ..mgrkit import Manager, post_status, register


async def test_runs_newest_first(manager: Manager) -> None:
    await register(manager, "w1")
    code, body, _ = await manager.call("GET", "/workers/w1/jobs/debian/history")
    assert (code, body) == (200, [])
    await post_status(manager, "w1", "debian", "pre-syncing")
    await post_status(manager, "w1", "debian", "syncing")
    s1 = await post_status(manager, "w1", "debian", "success", size="1G")
    await post_status(manager, "w1", "debian", "pre-syncing")
    s2 = await post_status(manager, "w1", "debian", "failed", error_msg="exit status 23: Partial transfer")
    code, runs, _ = await manager.call("GET", "/workers/w1/jobs/debian/history")
    assert code == 200
    assert [list(r) for r in runs] == [["name", "worker", "started", "ended", "status", "error_msg", "size"]] * 2
    assert [(r["status"], r["error_msg"], r["size"]) for r in runs] == [
        ("failed", "exit status 23: Partial transfer", "1G"), ("success", "", "1G")]
    assert runs[0]["started"] == s2["last_started"] and runs[1]["started"] == s1["last_started"]
    assert timefmt.parse_rfc3339(runs[0]["ended"]) >= timefmt.parse_rfc3339(runs[0]["started"])
    code, runs, _ = await manager.call("GET", "/workers/w1/jobs/debian/history?limit=1")
    assert [r["status"] for r in runs] == ["failed"]
    code, body, _ = await manager.call("GET", "/workers/w1/jobs/debian/history?limit=x")
    assert code == 400 and "limit" in body["error"]


async def test_history_keeps_configured_number(manager_factory) -> None:
    m = await manager_factory(ManagerConfig(history=HistoryConfig(keep=3)))
    await register(m, "w1")
    for i in range(5):
        await post_status(m, "w1", "arch", "failed", error_msg=f"e{i}")
    _, runs, _ = await m.call("GET", "/workers/w1/jobs/arch/history")
    assert [r["error_msg"] for r in runs] == ["e4", "e3", "e2"]


async def test_all_history_in_one_answer(manager: Manager) -> None:
    # `GET /history`: every mirror's last runs, for the status page's strips (one request, not one per mirror).
    await register(manager, "w1")
    await register(manager, "w2")
    for st in ("success", "failed", "success"):
        await post_status(manager, "w1", "debian", st)
    await post_status(manager, "w2", "debian", "failed", error_msg="boom")
    await post_status(manager, "w2", "arch", "syncing")
    code, rows, _ = await manager.call("GET", "/history")
    assert code == 200
    assert [(r["name"], r["worker"], [x["status"] for x in r["runs"]]) for r in rows] == [
        ("arch", "w2", []), ("debian", "w1", ["success", "failed", "success"]), ("debian", "w2", ["failed"])]
    _, rows, _ = await manager.call("GET", "/history?limit=1")
    assert [len(r["runs"]) for r in rows] == [0, 1, 1]
    for q in ("limit=0", "limit=x"):
        code, body, _ = await manager.call("GET", f"/history?{q}")
        assert code == 400 and "limit" in body["error"]
