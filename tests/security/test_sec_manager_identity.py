"""Item 1: a worker token acts only for its own worker IDs.

Before: any `worker` token could register any worker ID again with its own URL and token, and post
statuses for any worker; the manager then sent the real worker's commands to the attacker's URL.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from .mgrkit_sec import call, manager, registration, service, status_msg, token_conf

TOKENS = token_conf(("mirror1", "worker", "tok-1", None),          # default: acts for worker "mirror1"
                    ("mirror2", "worker", "tok-2", None),
                    ("pool", "worker", "tok-pool", ["a", "b"]),      # an explicit list
                    ("ops", "admin", "tok-admin", None))


async def _ok(_r: web.Request) -> web.Response:
    return web.json_response({"msg": "OK"})


async def test_a_worker_token_cannot_hijack_another_worker(tmp_path):
    async with manager(tmp_path, TOKENS) as m, service({"/": _ok}) as real, service({"/": _ok}) as evil, \
            aiohttp.ClientSession() as s:
        code, _, _ = await call(s, "POST", f"{m.url}/workers", registration("mirror1", real.url + "/", "w1-secret"),
                                token="tok-1")
        assert code == 200

        # mirror2's token re-registers mirror1 at the attacker's URL: refused, with the reason.
        code, body, _ = await call(s, "POST", f"{m.url}/workers", registration("mirror1", evil.url + "/", "evil"),
                                   token="tok-2")
        assert code == 403 and "mirror1" in body["error"] and "mirror2" in body["error"], body
        # ... and it may not post for mirror1 on any worker route either.
        for path, payload in (("/workers/mirror1/jobs/debian", status_msg("debian", "mirror1")),
                              ("/workers/mirror1/schedules", {"schedules": [{"name": "debian",
                                                                              "next_schedule": "2030-01-01T00:00:00Z"}]}),
                              ("/workers/mirror1/jobs/debian/archive", {"copies": {"3": 1}})):
            code, body, _ = await call(s, "POST", m.url + path, payload, token="tok-2")
            assert code == 403 and "mirror1" in body["error"], (path, code, body)
        code, _, _ = await call(s, "GET", f"{m.url}/workers/mirror1/jobs", token="tok-2")
        assert code == 403

        # mirror1's record still points at the real worker; an admin command reaches it, not the attacker.
        code, workers, _ = await call(s, "GET", f"{m.url}/workers", token="tok-admin")
        assert [(w["id"], w["url"]) for w in workers] == [("mirror1", real.url + "/")]
        code, _, _ = await call(s, "POST", f"{m.url}/cmd", {"cmd": "ping", "worker_id": "mirror1", "mirror_id": "x"},
                                token="tok-admin")
        assert code == 200
        assert real.hits == [("POST", "/")] and evil.hits == []
        assert (await call(s, "GET", f"{m.url}/jobs"))[1] == []  # no status was stored for mirror1


async def test_workers_list_and_own_routes_still_work(tmp_path):
    async with manager(tmp_path, TOKENS) as m, aiohttp.ClientSession() as s:
        for wid in ("a", "b"):
            code, _, _ = await call(s, "POST", f"{m.url}/workers", registration(wid, "http://127.0.0.1:9/"),
                                    token="tok-pool")
            assert code == 200
            code, _, _ = await call(s, "POST", f"{m.url}/workers/{wid}/jobs/debian", status_msg("debian", wid),
                                    token="tok-pool")
            assert code == 200
        code, body, _ = await call(s, "POST", f"{m.url}/workers", registration("c", "http://127.0.0.1:9/"),
                                   token="tok-pool")
        assert code == 403 and "may act only for workers a, b" in body["error"], body
        # An admin may still act for any worker.
        code, _, _ = await call(s, "POST", f"{m.url}/workers/a/jobs/ubuntu", status_msg("ubuntu", "a"),
                                token="tok-admin")
        assert code == 200
