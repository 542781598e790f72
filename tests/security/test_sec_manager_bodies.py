"""Items 8 and 10: request bodies are bounded in size, depth and shape.

Before: `POST .../archive` stored up to 16 MiB of any JSON per (worker, job) and the public
`GET /archive` sent it all back; a 1 MB mirror name made `/metrics` megabytes long; deeply nested
JSON was a 500 (RecursionError) on the status and archive routes and on the worker's control port.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tunasync.archive.index import ArchiveIndex
from tunasync.archive.pipeline import RunReport
from tunasync.archive.policy import Policy
from tunasync.archive.status import figures

from .mgrkit_sec import call, free_port, manager, registration, status_msg


def deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


def real_figures(tmp: Path) -> dict:
    """Figures exactly as the worker's archive runner builds them (archive.status + the run summary)."""
    index = ArchiveIndex(tmp / "idx" / "debian.sqlite")
    try:
        figs = figures(index, Policy())
    finally:
        index.close()
    figs["last_run"] = RunReport().summary()
    return figs


async def test_archive_figures_are_validated_and_bounded(tmp_path):
    async with manager(tmp_path) as m, aiohttp.ClientSession() as s:
        await call(s, "POST", f"{m.url}/workers", registration("w1", "http://127.0.0.1:9/"))
        url = f"{m.url}/workers/w1/jobs/debian/archive"
        # What a real worker posts is accepted and listed as posted.
        figs = real_figures(tmp_path)
        code, body, _ = await call(s, "POST", url, figs)
        assert code == 200, body
        code, rows, _ = await call(s, "GET", f"{m.url}/archive")
        assert rows == [{"worker": "w1", "name": "debian", **figs}]

        # Megabytes of anything: refused before it is stored, for every job name tried.
        junk = {"states": {"stored": {"files": 1, "bytes": 1}}, "blob": "A" * (3 << 20)}
        for job in ("a", "b", "c"):
            code, body, _ = await call(s, "POST", f"{m.url}/workers/w1/jobs/{job}/archive", junk)
            assert code == 413 and "too large" in body["error"], (code, body)
        # Wrong shapes are a 400 that names the field.
        for bad, field in (({"states": {"stored": {"files": "many"}}}, "states.stored.files"),
                           ({"states": {"stored": {"files": -1}}}, "states.stored.files"),
                           ({"copies": {"x": 1}}, "copies"),
                           ({"copies": {str(i): 1 for i in range(5000)}}, "copies"),
                           ({"next_eviction": "Z" * 5000}, "next_eviction"),
                           ({"last_run": {"error": "E" * 100_000}}, "")):
            code, body, _ = await call(s, "POST", url, bad)
            assert code in (400, 413) and field in body["error"], (bad if len(str(bad)) < 200 else field, body)
        # A failed run's long error text is cut, not refused: the figures still arrive.
        code, body, _ = await call(s, "POST", url, {**figs, "last_run": {"error": "E" * 10_000}})
        assert code == 200 and body["last_run"]["error"] == "E" * 2048
        # Unknown keys are not stored.
        code, body, _ = await call(s, "POST", url, {**figs, "extra": {"a": "b" * 1000}})
        assert code == 200 and "extra" not in body
        async with s.get(f"{m.url}/archive") as r:
            assert len(await r.read()) < 8192


async def test_huge_mirror_names_do_not_reach_metrics(tmp_path):
    async with manager(tmp_path) as m, aiohttp.ClientSession() as s:
        await call(s, "POST", f"{m.url}/workers", registration("w1", "http://127.0.0.1:9/"))
        name = "m" * 1_000_000
        code, body, _ = await call(s, "POST", f"{m.url}/workers/w1/jobs/x", status_msg(name, "w1"))
        assert code in (400, 413), (code, str(body)[:200])
        code, body, _ = await call(s, "POST", f"{m.url}/workers/w1/jobs/x", status_msg("m" * 300, "w1"))
        assert code == 400 and "mirror name" in body["error"], str(body)[:200]
        async with s.get(f"{m.url}/metrics") as r:
            assert len(await r.read()) < 64 * 1024


async def test_deep_json_is_400_on_every_json_route(tmp_path):
    async with manager(tmp_path) as m, aiohttp.ClientSession() as s:
        await call(s, "POST", f"{m.url}/workers", registration("w1", "http://127.0.0.1:9/"))
        nested = b'{"name":"debian","status":"success","x":' + deep(5_000) + b"}"
        for path in ("/workers/w1/jobs/debian", "/workers/w1/jobs/debian/archive", "/workers",
                     "/workers/w1/schedules", "/workers/w1/jobs/debian/size", "/cmd"):
            code, body, _ = await call(s, "POST", m.url + path, raw=nested)
            assert code == 400 and "nested too deeply" in body["error"], (path, code, body)
        # The manager is fine afterwards.
        code, _, _ = await call(s, "POST", f"{m.url}/workers/w1/jobs/debian", status_msg("debian", "w1"))
        assert code == 200


async def test_deep_json_is_400_on_the_worker_control_port(tmp_path):
    from tests.ops.worker_harness import worker_conf, worker_process

    async with manager(tmp_path) as m:
        port = free_port()
        conf = worker_conf(tmp_path, "w1", m.url, port, "echo hi")
        async with worker_process(conf, tmp_path / "worker.log"), aiohttp.ClientSession() as s:
            url = f"http://127.0.0.1:{port}/"
            for _ in range(200):  # the control server is up once it answers a ping
                try:
                    code, _, _ = await call(s, "POST", url, {"cmd": "ping", "mirror_id": "pymirror"})
                    break
                except aiohttp.ClientConnectionError:
                    import asyncio

                    await asyncio.sleep(0.1)
            assert code == 200
            code, body, _ = await call(s, "POST", url, raw=b'{"cmd":"ping","args":' + deep(5_000) + b"}")
            assert code == 400 and body == {"msg": "Invalid request"}, (code, body)
            code, body, _ = await call(s, "POST", url, raw=b'{"cmd":"ping","x":"' + b"a" * (2 << 20) + b'"}')
            assert code == 413, (code, body)
            code, _, _ = await call(s, "POST", url, {"cmd": "ping", "mirror_id": "pymirror"})
            assert code == 200
