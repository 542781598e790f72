"""Archive figures: `POST /workers/:id/jobs/:job/archive` and public `GET /archive`."""

from __future__ import annotations

from ..mgrkit import Manager, register

# The shape the worker posts (archive.status.figures), a part of it: every key is optional.
FIGS = {"states": {"local": {"files": 10, "bytes": 100}, "stored": {"files": 4, "bytes": 4096}},
        "copies": {"3": 4}, "next_eviction": "2026-12-01T00:00:00+00:00"}


async def test_post_and_list(manager: Manager) -> None:
    assert (await manager.call("GET", "/archive"))[:2] == (200, [])
    await register(manager, "w1")
    code, body, _ = await manager.call("POST", "/workers/w1/jobs/debian/archive", {**FIGS, "name": "spoofed"})
    assert (code, body) == (200, {"worker": "w1", "name": "debian", **FIGS})
    later = {**FIGS, "evictable_now": {"files": 1, "bytes": 8192}}
    await manager.call("POST", "/workers/w1/jobs/debian/archive", later)
    code, rows, _ = await manager.call("GET", "/archive")
    assert code == 200 and rows == [{"worker": "w1", "name": "debian", **later}]


async def test_body_must_be_an_object(manager: Manager) -> None:
    await register(manager, "w1")
    for raw in (b"[1,2]", b"{broken", b""):
        code, body, _ = await manager.call("POST", "/workers/w1/jobs/debian/archive", raw=raw)
        assert code == 400 and body["error"].startswith("invalid JSON"), raw
    assert (await manager.call("GET", "/archive"))[1] == []


async def test_history_route_lists_points_and_refuses_bad_queries(manager: Manager) -> None:
    # `GET /archive/history`: the figures posted, one point per hour; filters and bad parameters.
    await register(manager, "w1")
    await manager.call("POST", "/workers/w1/jobs/debian/archive", FIGS)
    await manager.call("POST", "/workers/w1/jobs/pypi/archive", {"states": {"evicted": {"files": 1, "bytes": 5}}})
    code, rows, _ = await manager.call("GET", "/archive/history")
    assert code == 200 and [(r["worker"], r["name"], len(r["points"])) for r in rows] == [
        ("w1", "debian", 1), ("w1", "pypi", 1)]
    p = rows[0]["points"][0]
    assert (p["disk_bytes"], p["filecoin_bytes"], p["evicted_bytes"]) == (100 + 4096, 4096, 0)
    code, rows, _ = await manager.call("GET", "/archive/history?mirror=pypi&days=1&step=24")
    assert code == 200 and [r["name"] for r in rows] == ["pypi"] and rows[0]["points"][0]["evicted_bytes"] == 5
    for q, why in [("days=0", "days must be more than 0"), ("days=91", "at most 90"), ("days=x", "days must be a number"),
                   ("step=0", "step must be from 1"), ("step=1.5", "whole number of hours")]:
        code, body, _ = await manager.call("GET", f"/archive/history?{q}")
        assert code == 400 and why in body["error"], (q, body)
