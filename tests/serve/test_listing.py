"""Directory pages merge the disk with the evicted files of the index (marked), escape every name, and
leave out upstream-deleted files (which answer 404)."""

from __future__ import annotations

import re
import shutil

from tests.serve.servekit import build_mirror, client, rand, serving, write_conf
from tunasync.serve.listing import Entry, render

NASTY = 'a <b> & "c" \'d\'.deb'


def names(page: str) -> list[str]:
    return re.findall(r'<a href="([^"]*)">', page)


async def test_listing_merges_disk_and_evicted_and_hides_deleted(tmp_path, devnet):
    conf = write_conf(tmp_path, devnet.url, {"deb": True})
    files = {"pool/main/z.deb": rand(5000, 1), f"pool/main/{NASTY}": rand(100, 2), "pool/main/local.txt": b"x",
             "pool/main/gone.deb": rand(200, 3), "pool/old/a/1.deb": rand(300, 4), "pool/old/b.deb": rand(300, 5),
             "pool/main/sub/k.deb": rand(10, 6), "top.txt": b"top"}
    evicted = ["pool/main/z.deb", f"pool/main/{NASTY}", "pool/main/gone.deb", "pool/old/a/1.deb", "pool/old/b.deb"]
    m = build_mirror(devnet, conf, "deb", files, evicted)
    m.index.mark_deleted(["pool/main/gone.deb"])  # upstream removed it after it was evicted
    shutil.rmtree(m.root / "pool" / "old")  # a directory whose files are all evicted, itself gone
    (m.root / "pool" / "main" / ".tunasync-z.deb.0123.partial").write_bytes(b"half")
    async with serving(conf) as s, client() as c:
        async with c.get(s.url + "/deb/pool/main/") as r:
            assert r.status == 200 and r.content_type == "text/html"
            page = await r.text()
        assert names(page) == ["../", "sub/", "a%20%3Cb%3E%20%26%20%22c%22%20%27d%27.deb", "local.txt", "z.deb"]
        assert "a &lt;b&gt; &amp; &quot;c&quot; &#x27;d&#x27;.deb" in page and "<b>" not in page
        assert page.count('class="evicted">evicted<') == 2  # the two evicted files, not local.txt
        assert "gone.deb" not in page and ".tunasync-" not in page
        async with c.get(s.url + "/deb/pool/main/gone.deb") as r:
            assert r.status == 404
        async with c.get(s.url + "/deb/pool/") as r:
            assert names(await r.text()) == ["../", "main/", "old/"]
        async with c.get(s.url + "/deb/pool/old/") as r:  # only the index knows it now
            page = await r.text()
            assert r.status == 200 and names(page) == ["../", "a/", "b.deb"]
        async with c.get(s.url + "/deb/pool/old", allow_redirects=False) as r:
            assert r.status == 301 and r.headers["Location"] == "/deb/pool/old/"
        async with c.get(s.url + "/deb/pool/old/b.deb") as r:  # and its files are still served
            assert r.status == 200 and await r.read() == files["pool/old/b.deb"]
        async with c.get(s.url + "/deb/pool/nothing/") as r:
            assert r.status == 404
        async with c.get(s.url + "/") as r:
            assert names(await r.text()) == ["deb/"]
        async with c.get(s.url + "/nosuchmirror/") as r:
            assert r.status == 404


async def test_index_html_is_the_directory_page(tmp_path):
    (tmp_path / "simple" / "pkg").mkdir(parents=True)
    (tmp_path / "simple" / "pkg" / "index.html").write_text("<a href='pkg-1.0.tar.gz'>pkg</a>")
    from tunasync.serve.app import Server, start
    from tunasync.serve.trees import tree_from_root

    runner, port = await start(Server([tree_from_root(str(tmp_path))], mirrors=False), "127.0.0.1", 0)
    try:
        async with client() as c, c.get(f"http://127.0.0.1:{port}/simple/pkg/") as r:
            assert await r.text() == "<a href='pkg-1.0.tar.gz'>pkg</a>" and r.content_type == "text/html"
    finally:
        await runner.cleanup()


def test_render_sorts_dirs_first_and_marks_evicted():
    page = render("/x/", [Entry("d", True), Entry("f", False, 2048, 1.5e9, evicted=True)])
    assert names(page) == ["../", "d/", "f"]
    assert "2.0K" in page and "evicted" in page and "Index of /x/" in page
