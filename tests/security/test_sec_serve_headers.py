"""Item 16 of the security review: serve's own pages had no `X-Content-Type-Options`, no CSP and no
frame options, and `Server:` named the Python and aiohttp versions (also on aiohttp's own 400 for a
malformed request, which no app handler sees)."""

from __future__ import annotations

import asyncio

from .servekit_sec import get, raw_request, serving_root


def no_versions(server: str) -> bool:
    return "python" not in server.lower() and "aiohttp" not in server.lower() and "/" not in server


async def test_pages_carry_security_headers_and_server_names_no_version(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "f.txt").write_text("hello\n")
    (tmp_path / "page.html").write_text("<p>a mirror's own page</p>\n")
    async with serving_root(tmp_path) as port:
        for target in ("/", "/d/", "/missing"):  # a listing, another, an error page
            r = await asyncio.to_thread(get, port, target)
            assert r.headers["content-type"].startswith("text/html")
            csp = r.headers["content-security-policy"]
            assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
            assert r.headers["x-frame-options"] == "DENY"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert no_versions(r.headers["server"]), r.headers["server"]
        r = await asyncio.to_thread(get, port, "/f.txt")
        assert r.status == 200 and r.headers["x-content-type-options"] == "nosniff"
        assert no_versions(r.headers["server"])
        r = await asyncio.to_thread(get, port, "/page.html")  # a mirror's own HTML is left as it is
        assert r.status == 200 and "content-security-policy" not in r.headers
        r = await asyncio.to_thread(get, port, "/d")  # redirect
        assert r.status == 301 and no_versions(r.headers["server"])
        r = await asyncio.to_thread(raw_request, port, b"NOT HTTP AT ALL\r\n\r\n")  # aiohttp's own 400
        assert r.status == 400 and no_versions(r.headers.get("server", "")), r.headers
