"""Item 12 of the security review: `GET //evil.example` answered `301 Location: //evil.example/`, a
protocol-relative URL that sends a browser to another site. A directory redirect must name a path on
this server: exactly one leading slash."""

from __future__ import annotations

import asyncio

from .servekit_sec import get, serving_root


async def test_directory_redirect_never_leaves_the_site(tmp_path):
    (tmp_path / "evil.example" / "x").mkdir(parents=True)
    async with serving_root(tmp_path) as port:
        for target, want in [("//evil.example", "/evil.example/"),
                             ("///evil.example//x", "/evil.example/x/"),
                             ("//evil.example?q=1", "/evil.example/?q=1"),
                             ("/evil.example", "/evil.example/")]:
            r = await asyncio.to_thread(get, port, target)
            assert r.status == 301, (target, r.status)
            assert r.headers["location"] == want, (target, r.headers["location"])
        r = await asyncio.to_thread(get, port, "//evil.example/")  # the directory itself: a page
        assert r.status == 200 and b"Index of" in r.body
