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
