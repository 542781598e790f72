"""Worker registry routes (docs/compat.md §3.4 4–6)."""

from __future__ import annotations

import asyncio

from tunasync.models import timefmt

from ..mgrkit import Manager, register


async def test_register_sets_times_and_redacts_token(manager: Manager) -> None:
    before = timefmt.now()
    body = await register(manager, "w1", url="http://10.0.0.2:6000/", token="s3cret")
    assert body["id"] == "w1" and body["token"] == "s3cret"  # Go replies with what it stored
    assert body["last_online"] == body["last_register"]
    assert timefmt.parse_rfc3339(body["last_register"]) >= before
    code, workers, _ = await manager.call("GET", "/workers")
    assert code == 200
    assert workers == [{**body, "token": "REDACTED"}]


async def test_reregistration_overwrites(manager: Manager) -> None:
    await register(manager, "w1", url="http://old/")
    await register(manager, "w1", url="http://new/")
    _, workers, _ = await manager.call("GET", "/workers")
    assert [(w["id"], w["url"]) for w in workers] == [("w1", "http://new/")]


async def test_ten_concurrent_registrations(manager: Manager) -> None:
    await register(manager, "existing")
    await asyncio.gather(*(register(manager, f"w{i}") for i in range(10)))
    _, workers, _ = await manager.call("GET", "/workers")
    assert len(workers) == 11


async def test_empty_worker_id_rejected(manager: Manager) -> None:
    code, body, _ = await manager.call("POST", "/workers", {"id": "", "url": "http://x/"})
    assert (code, body) == (400, {"error": "worker ID should not be empty"})
    assert (await manager.call("GET", "/workers"))[1] is None
