"""The status page's pictures and the one-mirror page, in headless Chromium against a real manager.

Sync-history strips come from `GET /history`, the bytes-over-time lines from `GET /archive/history`,
the copies histograms from `GET /archive`; `/mirror/{name}` has one section per worker carrying the
mirror. With tokens on the pages stay public, while run history still needs a read token.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import aiohttp

from tunasync.manager.db import RunRecord
from tunasync.models import SyncStatus, timefmt

from .chromium import Browser
from .manager_harness import running_manager
from .test_web import ARTIFACTS, MIRRORZ, ROWS, chromium, populate  # noqa: F401  (chromium: a fixture)

DOCS = Path(__file__).resolve().parents[2] / "docs"
HOUR = 3600


async def seed_pictures(m) -> None:
    """30 runs of debian on w1 (every 7th failed, durations varying) and 30 days of archive points."""
    now = timefmt.now()
    for i in range(30):
        start = now - timedelta(hours=6 * (30 - i))
        status = SyncStatus.FAILED if i % 7 == 3 else SyncStatus.SUCCESS
        run = RunRecord(name="debian", worker="w1", started=start, ended=start + timedelta(minutes=10 + (i * 37) % 50),
                        status=status, error_msg="exit status 23" if status is SyncStatus.FAILED else "", size="1.2T")
        await m.db.add_run("w1", "debian", run, 50)
    t = int(now.timestamp())
    for d in range(30, -1, -1):
        evicted = 200_000_000 * (30 - d)
        figures = {"states": {"local": {"files": 10, "bytes": 1_000_000_000},
                              "stored": {"files": 30, "bytes": 8_000_000_000 - evicted},
                              "evicted": {"files": 5, "bytes": 500_000_000 + evicted}},
                   "copies": {"2": 1, "3": 4}, "copies_wanted": 3, "keep_years": 2,
                   "evictable_now": {"files": 3, "bytes": 300_000}}
        await m.db.put_archive_stats("w1", "debian", figures, now=t - d * 86400)
    # pypi's archive cannot store: the worker's last run says why (as `archive store` does)
    problem = ("3 of 3 failed deal(s): piece_fetch_failed (GET https://m.example/piece/piece/baga…: HTTP 404): "
               "providers cannot download the CAR: check [archive] piece_url")
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{m.url}/workers/w2/jobs/pypi/archive", json={
                "states": {"hashed": {"files": 9, "bytes": 9000}},
                "last_run": {"deal_failures": 3, "store_problem": problem}}) as r:
            assert r.status == 200, await r.text()


async def test_status_page_draws_history_trend_and_copies(tmp_path, port, chromium):  # noqa: F811
    async with running_manager(tmp_path, port, MIRRORZ) as m:
        await populate(m.url)
        await seed_pictures(m)
        async with Browser(chromium) as b:
            page = await b.new_page()
            await page.viewport(1400, 800)
            await page.goto(m.url + "/")
            await page.wait_for(f"{ROWS}.length === 6 && !!document.querySelector('tr[data-mirror=debian] svg.strip')")
            assert await page.eval("document.querySelector('#mirrors').classList.contains('with-history')")
            # debian: the last 30 runs (the 30 seeded; the status posts' own run is older than... newest first)
            bars = await page.eval("""[...document.querySelectorAll('tr[data-mirror=debian] svg.strip rect')]
                .map(r => r.dataset.status)""")
            assert len(bars) == 30 and bars.count("failed") >= 4 and set(bars) <= {"success", "failed"}
            colours = await page.eval("""[...new Set([...document.querySelectorAll('tr[data-mirror=debian] svg.strip rect')]
                .map(r => getComputedStyle(r).fill))]""")
            assert len(colours) == 2  # success and failure differ
            # archlinux failed once: one red bar; fresh never ran: no strip
            assert await page.eval("[...document.querySelectorAll('tr[data-mirror=archlinux] svg.strip rect')].map(r => r.dataset.status)") == ["failed"]
            assert await page.eval("document.querySelector('tr[data-mirror=fresh] svg.strip')") is None
            # copies histogram: 1 piece with 2 copies (below the 3 wanted: a warning colour), 4 with 3
            hist = await page.eval("""[...document.querySelectorAll('tr[data-mirror=debian] svg.copies-hist rect')]
                .map(r => [r.dataset.copies, r.dataset.pieces, r.getAttribute('class')])""")
            assert ["2", "1", "copies-low"] in hist and ["3", "4", "copies-ok"] in hist
            # bytes on disk vs on Filecoin: two lines with one point per day
            paths = await page.eval("""[...document.querySelectorAll('tr[data-mirror=debian] svg.bytes-chart path')]
                .map(p => [p.getAttribute('class'), p.getAttribute('d').split(/[ML]/).filter(Boolean).length])""")
            assert sorted(c for c, _ in paths) == ["line-disk", "line-filecoin"] and all(n >= 30 for _, n in paths)
            label = await page.eval("document.querySelector('tr[data-mirror=debian] svg.bytes-chart').getAttribute('aria-label')")
            assert label == "on disk 3.00 GB, on Filecoin 8.50 GB"
            # a mirror whose storing gave up says so, the reason in the tooltip
            warn = await page.eval("""(() => { const w = document.querySelector('tr[data-mirror=pypi] .store-problem');
                return w && [w.textContent, w.title]; })()""")
            assert warn and warn[0] == "storing gave up" and "check [archive] piece_url" in warn[1]
            await page.screenshot(ARTIFACTS / "status-page.png")
            shutil.copyfile(ARTIFACTS / "status-page.png", DOCS / "status-page.png")

            # The mirror's name leads to its own page.
            await page.eval("document.querySelector('tr[data-mirror=debian] td.name a').click()")
            await page.wait_for("location.pathname === '/mirror/debian' && !!document.body && document.body.dataset.state === 'ok'")
            assert await page.eval("document.title") == "debian · Example mirror status"
            sections = await page.eval("[...document.querySelectorAll('section.worker')].map(s => s.dataset.worker)")
            assert sections == ["w1"]
            assert await page.eval("document.querySelectorAll('section.worker svg.strip rect').length") == 30
            assert await page.eval("document.querySelectorAll('section.worker table.runs-table tbody tr').length") == 30
            figs = await page.eval("document.querySelector('.archive-figures').textContent")
            assert "Evicted (on Filecoin only)" in figs and "Copies wanted3" in figs
            assert await page.eval("document.querySelectorAll('.charts svg.bytes-chart path').length") == 2
            assert await page.eval("document.querySelectorAll('.charts svg.copies-hist text').length") == 4  # 0..3
            log = await page.eval("document.querySelector('a.log-link').href")
            assert log == f"{m.url}/workers/w1/jobs/debian/log?follow=1"
            await page.screenshot(ARTIFACTS / "mirror-page.png")
            shutil.copyfile(ARTIFACTS / "mirror-page.png", DOCS / "mirror-page.png")

            # A failed mirror shows its last error (which /jobs leaves out).
            await page.goto(m.url + "/mirror/archlinux")
            await page.wait_for("document.body.dataset.state === 'ok'")
            assert await page.eval("document.querySelector('.last-error').textContent") == "Last error: exit status 23"
            assert await page.eval("document.querySelector('.archive-part').hidden")
            await page.close()


async def test_mirror_page_is_public_history_needs_a_token(tmp_path, port, chromium):  # noqa: F811
    tokens = MIRRORZ + ('[[auth.tokens]]\nname = "ops"\nrole = "admin"\ntoken = "s3cret"\n'
                        '[[auth.tokens]]\nname = "w1"\nrole = "worker"\ntoken = "wt"\n')
    async with running_manager(tmp_path, port, tokens) as m:
        hdr = {"Authorization": "Bearer wt"}
        async with aiohttp.ClientSession(headers=hdr) as s:
            async with s.post(m.url + "/workers", json={"id": "w1", "url": "http://127.0.0.1:1/"}) as r:
                assert r.status == 200, await r.text()
            body = {"name": "debian", "worker": "w1", "status": "failed", "error_msg": "<script>alert(1)</script>",
                    "upstream": "rsync://u/debian/", "size": "1G", "is_master": True}
            async with s.post(m.url + "/workers/w1/jobs/debian", json=body) as r:
                assert r.status == 200, await r.text()
        async with aiohttp.ClientSession() as s:
            for path, want in [("/mirror/debian", 200), ("/archive/history", 200), ("/mirror/nope", 404),
                               ("/history", 401), ("/workers/w1/jobs/debian/history", 401)]:
                async with s.get(m.url + path) as r:
                    assert r.status == want, path
                    if path == "/mirror/nope":
                        assert "no mirror named 'nope'" in await r.text()
                    if path == "/mirror/debian":
                        assert "<script>alert" not in await r.text()  # the error text cannot end the data block
            async with s.get(m.url + "/history", headers={"Authorization": "Bearer s3cret"}) as r:
                assert r.status == 200 and [e["name"] for e in await r.json()] == ["debian"]
        async with Browser(chromium) as b:
            page = await b.new_page()
            await page.goto(m.url + "/")
            await page.wait_for(f"{ROWS}.length === 1")
            # no token in the page: the history column is left out, the rest works
            assert not await page.eval("document.querySelector('#mirrors').classList.contains('with-history')")
            await page.goto(m.url + "/mirror/debian")
            await page.wait_for("document.body.dataset.state === 'ok'")
            assert await page.eval("document.querySelector('.runs-note').textContent") == \
                "Run history needs a read token (tokens are on)."
            assert await page.eval("document.querySelector('.last-error').textContent") == \
                "Last error: <script>alert(1)</script>"
            await page.close()
