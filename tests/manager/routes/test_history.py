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
