"""Item 15: no mirror URL in `/mirrorz.json` is protocol-relative.

Before: a mirror named `/evil.example` became `"url": "//evil.example"`, which mirrorz consumers
resolve against the site's scheme: a link to another host. Names with `/` are now refused at the
status routes, and a record that already holds one (an old database) is listed with the name as
one escaped path segment under the site.
"""

from __future__ import annotations

import aiohttp

from tunasync.models import MirrorStatus, SyncStatus

from .mgrkit_sec import call, manager, registration, status_msg

MIRRORZ = '[mirrorz]\nabbr = "EX"\nurl = "https://mirrors.example.org"\nhelp_url = "/help/{name}/"\n'


async def test_mirrorz_urls_stay_on_the_site(tmp_path):
    async with manager(tmp_path, MIRRORZ) as m, aiohttp.ClientSession() as s:
        await call(s, "POST", f"{m.url}/workers", registration("w1", "http://127.0.0.1:9/"))
        for name in ("/evil.example", "//evil.example", "a/../../b", "..", "."):
            code, body, _ = await call(s, "POST", f"{m.url}/workers/w1/jobs/x", status_msg(name, "w1"))
            assert code == 400 and "mirror name" in body["error"], (name, body)
        # A record stored before names were checked (e.g. migrated from Go's database).
        await m.db.update_mirror_status("w1", "/evil.example",
                                        MirrorStatus(name="/evil.example", worker="w1", status=SyncStatus.SUCCESS))
        await call(s, "POST", f"{m.url}/workers/w1/jobs/debian", status_msg("debian", "w1"))
        code, doc, _ = await call(s, "GET", f"{m.url}/mirrorz.json")
        assert code == 200
        urls = {x["cname"]: (x["url"], x["help"]) for x in doc["mirrors"]}
        assert urls["debian"] == ("/debian", "/help/debian/")
        assert urls["/evil.example"] == ("/%2Fevil.example", "/help/%2Fevil.example/")
        assert not [u for pair in urls.values() for u in pair if u.startswith("//") or "://" in u]
