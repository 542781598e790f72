"""Item 16: the manager's answers carry nosniff, a CSP and frame denial; `Server:` names no versions.

Before: none of these headers were sent and `Server:` read `Python/3.x aiohttp/3.x`. The status page
is driven in headless Chromium to show it still works under its CSP (no violation reported).
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.ops.chromium import Browser, chromium_path
from tests.ops.manager_harness import register, report

from .mgrkit_sec import call, manager

PATHS = ("/", "/jobs", "/archive", "/metrics", "/ping", "/workers", "/nope", "/workers/w1/jobs/x/log")


def _check(path: str, h) -> None:
    assert h.get("X-Content-Type-Options") == "nosniff", path
    assert h.get("X-Frame-Options") == "DENY", path
    csp = h.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp, (path, csp)
    server = h.get("Server", "")
    assert "Python" not in server and "aiohttp" not in server and "/" not in server, (path, server)


async def test_security_headers_on_every_answer(tmp_path):
    async with manager(tmp_path) as m, aiohttp.ClientSession() as s:
        for path in PATHS:
            _, _, r = await call(s, "GET", m.url + path)
            _check(path, r.headers)
        _, _, r = await call(s, "POST", m.url + "/workers", raw=b"{broken")
        _check("POST /workers", r.headers)
        _, _, r = await call(s, "GET", m.url + "/")
        csp = r.headers["Content-Security-Policy"]
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
        script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
        assert "'sha256-" in script_src, csp


async def test_malformed_requests_do_not_name_versions_either(tmp_path):
    async with manager(tmp_path) as m:
        r, w = await asyncio.open_connection("127.0.0.1", m.port)
        w.write(b"GARBAGE\r\n\r\n")
        await w.drain()
        head = (await asyncio.wait_for(r.read(4096), 10)).split(b"\r\n\r\n")[0].decode()
        w.close()
        assert head.startswith("HTTP/1.0 400") and "aiohttp" not in head and "Python" not in head, head


async def test_status_page_works_under_its_csp(tmp_path):
    exe = chromium_path()
    if exe is None:
        pytest.skip("chromium is not installed (apt install chromium)")
    async with manager(tmp_path) as m, aiohttp.ClientSession() as s:
        await register(s, m.url, "w1")
        await report(s, m.url, "w1", "debian", "pre-syncing", "syncing", "success", size="1.2T")
        await report(s, m.url, "w1", "arch", "pre-syncing", "syncing", "failed")
        async with Browser(exe) as b:
            page = await b.new_page()
            await page.send("Page.addScriptToEvaluateOnNewDocument", source=(
                "window.__csp = []; document.addEventListener('securitypolicyviolation',"
                " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"))
            await page.goto(m.url + "/")
            await page.wait_for("document.querySelectorAll('#mirrors tbody tr').length === 2")
            # The inline stylesheet applied: a failed badge is coloured, not the default transparent.
            colour = await page.eval("getComputedStyle(document.querySelector("
                                     "'tr[data-mirror=arch] .badge')).backgroundColor")
            assert colour not in ("rgba(0, 0, 0, 0)", "transparent"), colour
            assert await page.eval("window.__csp") == []
            # An injected inline script (what an XSS would add) is blocked by the policy.
            await page.eval("(() => { const s = document.createElement('script');"
                            " s.textContent = 'window.__pwned = 1'; document.body.appendChild(s); })()")
            assert await page.eval("window.__pwned") is None
            assert await page.wait_for("window.__csp.length > 0")
