"""The status page in headless Chromium against a real manager with mirrors in every state."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tunasync.manager.server import create_app
from tunasync.manager.state import STATE
from tunasync.manager.web import install, render_page
from tunasync.models import timefmt

from .chromium import Browser, chromium_path
from .manager_harness import post_raw, register, report, running_manager

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
MIRRORZ = '[mirrorz]\nabbr = "EX"\nname = "Example"\nurl = "https://mirrors.example.org"\n'


@pytest.fixture
def chromium():
    exe = chromium_path()
    if exe is None:
        pytest.skip("chromium is not installed (apt install chromium)")
    return exe


async def populate(base: str) -> None:
    async with aiohttp.ClientSession() as s:
        await register(s, base, "w1")
        await register(s, base, "w2")
        await report(s, base, "w1", "debian", "pre-syncing", "syncing", "success", size="1.2T")
        await report(s, base, "w1", "ubuntu", "pre-syncing", "syncing")
        await report(s, base, "w1", "archlinux", "pre-syncing", "syncing", "failed", error="exit status 23")
        await report(s, base, "w2", "pypi", "success", "paused", size="12T")
        await report(s, base, "w2", "old-distro", "disabled")
        await report(s, base, "w2", "fresh", "none")
        nxt = timefmt.format_rfc3339(timefmt.now() + timedelta(hours=2))
        code, _ = await post_raw(s, f"{base}/workers/w1/schedules", {"schedules": [{"name": "debian", "next_schedule": nxt}]})
        assert code == 200
        figures = {"states": {"local": {"files": 10, "bytes": 10_000}, "hashed": {"files": 2, "bytes": 2_000},
                              "stored": {"files": 30, "bytes": 3_000_000}, "cached": {"files": 1, "bytes": 1_000},
                              "evicted": {"files": 5, "bytes": 5_000_000}},
                   "copies": {"2": 1, "3": 4}}
        code, _ = await post_raw(s, f"{base}/workers/w1/jobs/debian/archive", figures)
        assert code == 200


ROWS = "[...document.querySelectorAll('#mirrors tbody tr')]"


async def rows(page) -> list[dict]:
    return await page.eval(f"""{ROWS}.map(tr => ({{
        mirror: tr.dataset.mirror, status: tr.dataset.status,
        badge: tr.querySelector('.status .badge').textContent,
        color: getComputedStyle(tr.querySelector('.status .badge')).backgroundColor,
        last_update: tr.querySelector('.last-update').textContent,
        next_run: tr.querySelector('.next-run').textContent,
        size: tr.querySelector('.size').textContent,
        upstream: tr.querySelector('.upstream').textContent,
        local: tr.querySelector('.a-local').textContent, stored: tr.querySelector('.a-stored').textContent,
        evicted: tr.querySelector('.a-evicted').textContent, copies: tr.querySelector('.a-copies').firstChild?.textContent ?? '',  // the histogram's tooltips left out
    }}))""")


async def test_status_page_shows_every_state(tmp_path, port, chromium):
    async with running_manager(tmp_path, port, MIRRORZ) as m:
        await populate(m.url)
        async with Browser(chromium) as b:
            page = await b.new_page()
            await page.viewport(1280, 800)
            await page.goto(m.url + "/")
            await page.wait_for(f"{ROWS}.length === 6")
            assert await page.eval("document.title") == "Example mirror status"
            got = {r["mirror"]: r for r in await rows(page)}
            assert {k: v["status"] for k, v in got.items()} == {
                "archlinux": "failed", "debian": "success", "fresh": "none", "old-distro": "disabled",
                "pypi": "paused", "ubuntu": "syncing"}
            assert all(r["badge"] == r["status"] for r in got.values())
            # One colour per state family: success, failed, syncing and paused all differ.
            colours = {got[n]["color"] for n in ("debian", "archlinux", "ubuntu", "pypi")}
            assert len(colours) == 4
            deb = got["debian"]
            assert deb["size"] == "1.2T" and deb["upstream"] == "rsync://upstream.example/debian/"
            assert deb["last_update"].endswith("ago") and deb["next_run"].startswith("in ")
            assert got["fresh"]["last_update"] == "—" and got["ubuntu"]["next_run"] == "—"
            # Archive columns: local = local+hashed, stored = stored+cached, evicted; copies min–max.
            assert await page.eval("document.querySelector('#mirrors').classList.contains('with-archive')")
            assert deb["local"] == "12 · 12.0 kB" and deb["stored"] == "31 · 3.00 MB"
            assert deb["evicted"] == "5 · 5.00 MB" and deb["copies"] == "2–3"
            assert got["pypi"]["copies"] == ""
            summary = await page.eval("document.querySelector('#summary').textContent")
            assert "6 mirrors" in summary and "1 failed" in summary
            await page.screenshot(ARTIFACTS / "status-page.png")

            # Sorting: by status puts failures first; clicking Mirror twice sorts names descending.
            await page.eval("document.querySelector('th[data-key=status] button').click()")
            assert (await rows(page))[0]["mirror"] == "archlinux"
            await page.eval("document.querySelector('th[data-key=name] button').click()")
            await page.eval("document.querySelector('th[data-key=name] button').click()")
            assert [r["mirror"] for r in await rows(page)] == ["ubuntu", "pypi", "old-distro", "fresh", "debian", "archlinux"]
            assert await page.eval("document.querySelector('th[data-key=name]').getAttribute('aria-sort')") == "descending"

            # Filter box: every word must match name, status, upstream or size.
            await page.eval("""(() => { const f = document.querySelector('#filter');
                f.value = 'ubu'; f.dispatchEvent(new Event('input')); })()""")
            assert [r["mirror"] for r in await rows(page)] == ["ubuntu"]
            await page.eval("""(() => { const f = document.querySelector('#filter');
                f.value = 'success'; f.dispatchEvent(new Event('input')); })()""")
            assert [r["mirror"] for r in await rows(page)] == ["debian"]
            assert "(1 shown)" in await page.eval("document.querySelector('#summary').textContent")
            # The status counts in the summary are filters too.
            await page.eval("document.querySelector('#summary .count[data-status=failed] button').click()")
            assert [r["mirror"] for r in await rows(page)] == ["archlinux"]
            assert await page.eval("document.querySelector('#filter').value") == "failed"

            # A phone: one card per mirror, nothing wider than the screen.
            await page.eval("""(() => { const f = document.querySelector('#filter');
                f.value = ''; f.dispatchEvent(new Event('input')); })()""")
            await page.viewport(390, 844, mobile=True)
            await page.goto(m.url + "/")
            await page.wait_for(f"{ROWS}.length === 6")
            assert await page.eval("getComputedStyle(document.querySelector('thead')).display") == "none"
            assert await page.eval("document.documentElement.scrollWidth") <= 390
            await page.screenshot(ARTIFACTS / "status-page-phone.png")
            await page.close()


async def test_status_page_survives_a_manager_restart(tmp_path, port, chromium):
    async with running_manager(tmp_path, port) as m:
        await populate(m.url)
        async with Browser(chromium) as b:
            page = await b.new_page()
            await page.goto(m.url + "/")
            await page.wait_for(f"{ROWS}.length === 6")
            await m.stop()
            await page.eval("document.dispatchEvent(new Event('visibilitychange'))")  # refresh now
            text = await page.wait_for("!document.querySelector('#banner').hidden && document.querySelector('#banner').textContent")
            assert "Cannot reach the manager" in text and "Retrying in" in text
            assert await page.eval(f"{ROWS}.length") == 6  # the last data stays on screen, marked stale
            assert await page.eval("document.querySelector('#mirrors').classList.contains('stale')")
            await page.screenshot(ARTIFACTS / "status-page-down.png")
            # The manager comes back on the same port: the page recovers by itself.
            app = create_app(m.app[STATE].config, m.db, [install])
            runner = web.AppRunner(app, handle_signals=False)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            try:
                await page.wait_for("document.querySelector('#banner').hidden && document.body.dataset.state === 'ok'", within=60)
                assert await page.eval(f"{ROWS}.length") == 6
            finally:
                await page.close()
                await runner.cleanup()


def test_page_is_self_contained():
    page = render_page("A <b> site").decode()
    assert "<title>A &lt;b&gt; site</title>" in page
    assert "__SCRIPT__" not in page and "__STYLE__" not in page
    # No CDN, no external resources: every src/href is relative.
    assert "http://" not in page.split("<script>")[0] and "https://" not in page
    assert 'getJSON("jobs")' in page and 'getJSON("archive")' in page


async def test_public_feeds_allow_other_origins(tmp_path, port):
    async with running_manager(tmp_path, port, MIRRORZ) as m, aiohttp.ClientSession() as s:
        for path in ("/jobs", "/archive", "/mirrorz.json"):
            async with s.get(m.url + path) as r:
                assert r.status == 200 and r.headers.get("Access-Control-Allow-Origin") == "*", path
        async with s.get(m.url + "/workers") as r:
            assert "Access-Control-Allow-Origin" not in r.headers


async def test_operator_routes_stay_public_when_tokens_are_on(tmp_path, port):
    tokens = MIRRORZ + '[[auth.tokens]]\nname = "ops"\nrole = "admin"\ntoken = "s3cret"\n'
    async with running_manager(tmp_path, port, tokens) as m, aiohttp.ClientSession() as s:
        for path in ("/", "/jobs", "/archive", "/metrics", "/mirrorz.json"):
            async with s.get(m.url + path) as r:
                assert r.status == 200, path
        async with s.get(m.url + "/workers") as r:
            assert r.status == 401


async def test_page_can_show_another_manager(tmp_path, port, chromium):
    """`/?api=URL`: the page of one manager shows another's mirrors (the feeds allow any origin)."""
    from .worker_harness import free_port

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with running_manager(tmp_path / "a", port) as a, running_manager(tmp_path / "b", free_port()) as b:
        await populate(b.url)
        async with Browser(chromium) as br:
            page = await br.new_page()
            await page.goto(f"{a.url}/?api={b.url}/")
            await page.wait_for(f"{ROWS}.length === 6")
            assert "debian" in [r["mirror"] for r in await rows(page)]
            await page.close()
