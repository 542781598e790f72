"""A real `tunasync worker` process with an archived rsync mirror, a real manager, rsync and the devnet:
after a sync the archive hook indexes, stores and (between syncs) evicts; the next sync's rsync never
fetches evicted files back, while upstream deletions still reach the mirror and the index."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import aiohttp
import pytest

from tests.archive.archkit import make_tree, rand
from tests.ops.manager_harness import post_raw, running_manager
from tests.ops.worker_harness import free_port, worker_process
from tunasync.archive.index import ArchiveIndex

pytestmark = pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")

OLD = ["pool/a/old1.deb", "pool/a/old2.deb", "pool/b/old3.iso", "pool/b/old4.iso"]
YOUNG = ["pool/a/new1.deb", "pool/b/new2.deb", "README"]


def conf_text(tmp: Path, manager: str, port: int, devnet: str, upstream: Path) -> str:
    return f"""
[global]
name = "w-arch"
log_dir = "{tmp}/logs/{{{{.Name}}}}"
mirror_dir = "{tmp}/mirrors"
concurrent = 2
interval = 600
retry = 1

[manager]
api_base = "{manager}"

[server]
hostname = "127.0.0.1"
listen_addr = "127.0.0.1"
listen_port = {port}

[archive]
network = "devnet"
devnet_url = "{devnet}"
index_dir = "{tmp}/archive"
copies = 2
keep_years = 1
bundle_size = "1MiB"

[[mirrors]]
name = "deb"
provider = "rsync"
upstream = "{upstream}/"
archive = true
"""


async def archive_entry(s: aiohttp.ClientSession, base: str) -> dict:
    async with s.get(base + "/archive") as r:
        rows = await r.json()
    return next((e for e in rows if e["name"] == "deb"), {})


def tail(log: Path) -> str:
    return log.read_text()[-3000:]


async def until(pred, within: float, what: str, log: Path):
    deadline = time.monotonic() + within
    while True:
        got = await pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; worker log:\n{tail(log)}")
        await asyncio.sleep(0.2)


async def job(s: aiohttp.ClientSession, base: str) -> dict:
    async with s.get(base + "/jobs") as r:
        return next((j for j in await r.json() if j["name"] == "deb"), {})


async def test_archive_hook_stores_evicts_and_rsync_never_refetches(tmp_path, devnet, monkeypatch):
    upstream = tmp_path / "upstream"
    make_tree(upstream, {p: rand(150_000 + 1000 * i, i) for i, p in enumerate(OLD + YOUNG)}, old=set(OLD))
    mport, wport = free_port(), free_port()
    monkeypatch.setenv("TUNASYNC_ARCHIVE_TICK", "0.5")
    async with running_manager(tmp_path, mport) as m, aiohttp.ClientSession() as s:
        conf = tmp_path / "worker.conf"
        conf.write_text(conf_text(tmp_path, m.url, wport, devnet.url, upstream))
        log = tmp_path / "worker.log"
        async with worker_process(conf, log):
            mirror = tmp_path / "mirrors" / "deb"

            async def evicted_all():
                e = await archive_entry(s, m.url)
                return e if e.get("states", {}).get("evicted", {}).get("files") == len(OLD) else None

            entry = await until(evicted_all, 90, "the old files to be evicted", log)
            assert entry["worker"] == "w-arch" and entry["states"]["stored"]["files"] == len(YOUNG)
            assert all(int(k) >= 2 for k in entry["copies"]) and entry["copies"]
            assert (await job(s, m.url))["status"] == "success"
            assert sorted(p.relative_to(mirror).as_posix() for p in mirror.rglob("*") if p.is_file()) == sorted(YOUNG)
            shadow = tmp_path / "archive" / "deb" / "evicted"

            def placeholders() -> list[str]:
                return sorted(p.relative_to(shadow).as_posix() for p in shadow.rglob("*") if p.is_file())

            assert placeholders() == sorted(OLD)

            # upstream deletes an evicted file and a file still on disk, then the mirror syncs again
            (upstream / OLD[0]).unlink()
            (upstream / YOUNG[0]).unlink()
            first_end = (await job(s, m.url))["last_ended_ts"]
            await asyncio.sleep(1.1)  # *_ts have whole seconds: the next end must be a later one
            code, _ = await post_raw(s, f"{m.url}/cmd", {"cmd": "start", "mirror_id": "deb", "worker_id": "w-arch",
                                                         "args": None, "options": None})
            assert code == 200

            async def synced_again():
                j = await job(s, m.url)
                return j if j.get("status") == "success" and j["last_ended_ts"] > first_end else None

            await until(synced_again, 60, "the second sync", log)
            assert not (mirror / YOUNG[0]).exists()  # --delete still honoured
            for p in OLD[1:]:
                assert not (mirror / p).exists(), f"rsync fetched evicted {p} back"
            runs = sorted((tmp_path / "logs" / "deb").glob("deb_*.log"))
            assert not any(Path(p).name in runs[-1].read_text() for p in OLD[1:])

            def index_row(p):
                ix = ArchiveIndex(tmp_path / "archive" / "deb" / "index.sqlite")
                try:
                    return ix.get(p)
                finally:
                    ix.close()

            async def marked():
                rows = [await asyncio.to_thread(index_row, p) for p in (OLD[0], YOUNG[0])]
                return rows if all(r is not None and r.deleted for r in rows) else None

            gone_old, gone_young = await until(marked, 90, "upstream deletions in the index", log)
            assert gone_old.state.value == "evicted" and gone_old.cid  # its copies stay known
            await until(lambda: asyncio.sleep(0, OLD[0] not in placeholders()), 10,
                        "the shadow tree to drop the deleted file", log)
            assert placeholders() == sorted(OLD[1:])

            async def reported():  # the figures reach the manager when the archive run that marked them ends
                e = await archive_entry(s, m.url)
                return e if e.get("deleted_upstream", {}).get("files") == 2 else None

            await until(reported, 60, "the deletions in the manager's /archive", log)
