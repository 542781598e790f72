"""Redis keeps Go's layout: data a Go manager left in redis is served as it is."""

from __future__ import annotations

import redis.asyncio as aioredis

from tunasync.manager.config import ManagerConfig
from tunasync.manager.db import open_database

from ..mgrkit import start_manager, stop_manager

GO_WORKER = '{"id":"w1","url":"http://10.0.0.2:6000/","token":"","last_online":"2024-05-01T12:34:56.123456789+08:00","last_register":"2024-05-01T12:00:00+08:00"}'
GO_STATUS = (
    '{"name":"debian","worker":"w1","is_master":true,"status":"success",'
    '"last_update":"2024-05-01T12:34:56.123456789+08:00","last_started":"2024-05-01T12:30:00+08:00",'
    '"last_ended":"2024-05-01T12:34:56.123456789+08:00","next_schedule":"2024-05-01T14:34:56+08:00",'
    '"upstream":"rsync://ftp.debian.org/debian/","size":"1.33T","error_msg":""}'
)


async def test_go_written_records_are_served(redis_url: str) -> None:
    r = aioredis.from_url(redis_url)
    await r.hset("workers", "w1", GO_WORKER)
    await r.hset("mirror_status", "debian/w1", GO_STATUS)
    await r.hset("mirror_status", "broken/w1", "{not json")  # Go skips records it cannot decode
    await r.aclose()
    db = await open_database("redis", redis_url)
    m = await start_manager(ManagerConfig(), db)
    try:
        code, jobs, _ = await m.call("GET", "/jobs")
        assert code == 200
        assert jobs == [{
            "name": "debian", "is_master": True, "status": "success",
            "last_update": "2024-05-01 12:34:56 +0800", "last_update_ts": 1714538096,
            "last_started": "2024-05-01 12:30:00 +0800", "last_started_ts": 1714537800,
            "last_ended": "2024-05-01 12:34:56 +0800", "last_ended_ts": 1714538096,
            "next_schedule": "2024-05-01 14:34:56 +0800", "next_schedule_ts": 1714545296,
            "upstream": "rsync://ftp.debian.org/debian/", "size": "1.33T",
        }]
        code, mine, _ = await m.call("GET", "/workers/w1/jobs")
        assert code == 200 and [s["name"] for s in mine] == ["debian"]
        assert mine[0]["last_update"] == "2024-05-01T12:34:56.123456+08:00"  # ns truncated to µs
    finally:
        await stop_manager(m)
        await db.close()


async def test_our_writes_use_go_keys(redis_url: str) -> None:
    db = await open_database("redis", redis_url)
    m = await start_manager(ManagerConfig(), db)
    try:
        await m.call("POST", "/workers", {"id": "w1", "url": "http://x/"})
        await m.call("POST", "/workers/w1/jobs/debian", {"name": "debian", "worker": "w1", "status": "success"})
    finally:
        await stop_manager(m)
        await db.close()
    r = aioredis.from_url(redis_url, decode_responses=True)
    assert set(await r.hkeys("workers")) == {"w1"}
    assert set(await r.hkeys("mirror_status")) == {"debian/w1"}
    assert await r.llen("tunasync:runs:w1/debian") == 1
    await r.aclose()
