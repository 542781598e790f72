"""Item 2: the log route and `/cmd` cannot be turned into requests to other hosts or paths.

Before: `GET /workers/{id}/jobs/{job}/log` fetched `<registered url>/logs/<job>` and answered with the
body and content type it got. A registered URL ending in `#` or `?` reached any path on any host
(an internal service here), and HTML came back on the manager's origin. `/cmd` posted to the same URL.
A second loopback server plays the internal service.
"""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from tunasync.manager.routes import logs
from tunasync.models import WorkerStatus

from .mgrkit_sec import call, manager, registration, service

SECRET = b"<html><script>alert(document.domain)</script>internal-secret</html>"


async def _secret(_r: web.Request) -> web.Response:
    return web.Response(body=SECRET, content_type="text/html")


async def _to_secret(_r: web.Request) -> web.Response:
    return web.Response(status=302, headers={"Location": "/admin/secret"})


async def _html_log(_r: web.Request) -> web.Response:
    return web.Response(body=b"<html><script>alert(1)</script>log line</html>", content_type="text/html")


async def _big_log(_r: web.Request) -> web.Response:
    return web.Response(body=b"x" * 300_000, content_type="text/plain")


ROUTES = {"/admin/secret": _secret, "/logs/redirected": _to_secret, "/logs/html": _html_log,
          "/logs/big": _big_log}


@pytest.mark.parametrize("suffix", ["/admin/secret#", "/admin/secret?", "/admin/secret?x=", "/admin/secret",
                                    "/admin/", "//evil"])
async def test_registered_url_cannot_point_at_another_path(tmp_path, suffix):
    async with manager(tmp_path) as m, service(ROUTES) as internal, aiohttp.ClientSession() as s:
        code, body, _ = await call(s, "POST", f"{m.url}/workers", registration("w1", internal.url + suffix))
        assert code == 400 and body["error"].startswith("invalid worker URL"), (code, body)
        # Whatever happened, the log route and /cmd never reach the internal path.
        await call(s, "GET", f"{m.url}/workers/w1/jobs/x/log")
        await call(s, "POST", f"{m.url}/cmd", {"cmd": "start", "worker_id": "w1", "mirror_id": "x"})
        assert not [h for h in internal.hits if h[1].startswith("/admin")], internal.hits


@pytest.mark.parametrize("url", ["file:///etc/passwd", "http://user:pw@127.0.0.1:9/", "gopher://127.0.0.1:70/",
                                 "http://127.0.0.1:99999/", "http:///x", "http://127.0.0.1:9\\@evil.example/",
                                 "http://127.0.0.1:9/\r\nX-Injected: 1"])
async def test_other_bad_urls_are_400(tmp_path, url):
    async with manager(tmp_path) as m, aiohttp.ClientSession() as s:
        code, body, _ = await call(s, "POST", f"{m.url}/workers", registration("w1", url))
        assert code == 400 and body["error"].startswith("invalid worker URL"), (url, code, body)
        assert (await call(s, "GET", f"{m.url}/workers"))[1] is None


async def test_log_is_plain_text_not_followed_and_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(logs, "LOG_MAX_BYTES", 100_000)
    async with manager(tmp_path) as m, service(ROUTES) as worker, aiohttp.ClientSession() as s:
        code, _, _ = await call(s, "POST", f"{m.url}/workers", registration("w1", worker.url + "/"))
        assert code == 200
        # The worker answers HTML: the manager serves it as text that no browser renders.
        code, body, r = await call(s, "GET", f"{m.url}/workers/w1/jobs/html/log")
        assert code == 200 and "log line" in body
        assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        # A redirect from the worker is not followed to wherever it points.
        code, body, _ = await call(s, "GET", f"{m.url}/workers/w1/jobs/redirected/log")
        assert "internal-secret" not in str(body)
        assert ("GET", "/admin/secret") not in worker.hits
        # A huge answer is cut at the cap, with a note saying so.
        async with s.get(f"{m.url}/workers/w1/jobs/big/log") as r:
            data = await r.read()
        assert data.startswith(b"x" * 100_000) and len(data) < 100_200 and b"truncated" in data[100_000:]
        # The job name is one escaped path segment: it cannot climb out of /logs/.
        for job in ("..", ".", "%2E%2E", "..%2Fadmin%2Fsecret"):
            async with s.get(URL(f"{m.url}/workers/w1/jobs/{job}/log", encoded=True)) as r:
                await r.read()
        assert not [h for h in worker.hits if not h[1].startswith("/logs/")], worker.hits


async def test_worker_networks_limit_where_workers_may_live(tmp_path):
    extra = '[auth]\nworker_networks = ["192.0.2.0/24", "10.1.0.0/16"]\n'
    async with manager(tmp_path, extra) as m, service(ROUTES) as internal, aiohttp.ClientSession() as s:
        for url in (internal.url + "/", "http://localhost:9/", "http://[::1]:9/"):
            code, body, _ = await call(s, "POST", f"{m.url}/workers", registration("w1", url))
            assert code == 400 and "worker_networks" in body["error"], (url, body)
        code, _, _ = await call(s, "POST", f"{m.url}/workers", registration("w1", "http://10.1.2.3:6000/"))
        assert code == 200
        assert internal.hits == []


async def test_a_name_resolving_inside_worker_networks_is_accepted(tmp_path):
    extra = '[auth]\nworker_networks = ["127.0.0.0/8"]\n'
    async with manager(tmp_path, extra) as m, service(ROUTES) as worker, aiohttp.ClientSession() as s:
        url = worker.url.replace("127.0.0.1", "localhost") + "/"
        code, body, _ = await call(s, "POST", f"{m.url}/workers", registration("w1", url))
        assert code == 200, body
        code, body, _ = await call(s, "GET", f"{m.url}/workers/w1/jobs/html/log")
        assert code == 200 and "log line" in body


async def test_an_empty_host_registers_but_is_never_reached(tmp_path):
    """Go's default `[server] hostname = ""` registers `http://:6000/`: kept (its statuses still show),
    but commands and logs for it say why they cannot be sent instead of trying."""
    async with manager(tmp_path) as m, aiohttp.ClientSession() as s:
        code, _, _ = await call(s, "POST", f"{m.url}/workers", registration("w1", "http://:6000/"))
        assert code == 200
        code, body, _ = await call(s, "POST", f"{m.url}/cmd", {"cmd": "start", "worker_id": "w1", "mirror_id": "x"})
        assert code == 400 and "hostname" in body["error"], body
        code, body, _ = await call(s, "GET", f"{m.url}/workers/w1/jobs/x/log")
        assert code == 400 and "hostname" in body["error"], body


async def test_a_name_pointed_elsewhere_after_registration_reaches_nothing(tmp_path):
    """DNS rebinding: `localhost` stands for a name that resolved inside worker_networks when the
    worker registered and now resolves to an internal address outside them."""
    extra = '[auth]\nworker_networks = ["10.0.0.0/8"]\n'
    async with manager(tmp_path, extra) as m, service(ROUTES) as internal, aiohttp.ClientSession() as s:
        url = internal.url.replace("127.0.0.1", "localhost") + "/"
        await m.db.create_worker(WorkerStatus(id="w1", url=url))  # as stored at registration
        code, body, _ = await call(s, "GET", f"{m.url}/workers/w1/jobs/html/log")
        assert code == 502 and "worker_networks" in body["error"], body
        code, body, _ = await call(s, "POST", f"{m.url}/cmd", {"cmd": "start", "worker_id": "w1", "mirror_id": "x"})
        assert code == 500 and "worker_networks" in body["error"], body  # Go's answer to a failed post
        # An IP literal stored before the networks were set is refused before any connection.
        await m.db.create_worker(WorkerStatus(id="w2", url=internal.url + "/"))
        code, body, _ = await call(s, "GET", f"{m.url}/workers/w2/jobs/html/log")
        assert code == 400 and "worker_networks" in body["error"], body
        assert internal.hits == []
