"""Archive test kit: a mirror tree with old and new files, a worker config pointing at a devnet, an
ArchiveCtx on the real network clients, and the invariant every fault test checks."""

from __future__ import annotations

import hashlib
import os
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tunasync.archive.context import ArchiveCtx
from tunasync.archive.crash import Crash, no_crash
from tunasync.archive.runtime import open_archive
from tunasync.archive.settings import ArchiveSetup
from tunasync.archive.states import FileState
from tunasync.content.cid import CID
from tunasync.filecoin.http import HttpSettings
from tunasync.worker.archive_setup import find_mirror
from tunasync.worker.config import load_worker_config as load

YEAR = 365.2425 * 86400
FAST = HttpSettings(connect_timeout=2.0, read_timeout=3.0, retries=1, backoff=0.05)


def rand(n: int, seed: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:n])


def make_tree(root: Path, files: dict[str, bytes], old: set[str], years: float = 3.0) -> dict[str, bytes]:
    """Write `files`; those in `old` get an mtime `years` ago (due for eviction)."""
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        if rel in old:
            t = time.time() - years * YEAR
            os.utime(p, (t, t))
    return files


def default_files(n: int = 6, seed: int = 1) -> dict[str, bytes]:
    sizes = [0, 1, 1000, 300_000, 1 << 20, (1 << 20) + 7, 2_500_000, 64 << 10]
    return {f"pool/main/p{i % 3}/f{i:02d}.deb": rand(sizes[i % len(sizes)], seed * 100 + i) for i in range(n)}


def write_conf(tmp: Path, devnet_url: str, mirror_dir: Path, *, copies: int = 2, keep_years: float = 1.0,
               bundle_size: str = "4MiB", extra: str = "", mirror_extra: str = "", provider: str = "command",
               upstream: str = "", name: str = "demo") -> Path:
    conf = tmp / "worker.conf"
    cmd = 'command = "true"' if provider == "command" else ""
    conf.write_text(f"""
[global]
name = "w1"
log_dir = "{tmp}/log/{{{{.Name}}}}"
mirror_dir = "{tmp}/mirrors"
concurrent = 2
interval = 60

[manager]
api_base = "http://127.0.0.1:1"

[server]
listen_addr = "127.0.0.1"
listen_port = 6000

[archive]
network = "devnet"
devnet_url = "{devnet_url}"
index_dir = "{tmp}/archive"
copies = {copies}
keep_years = {keep_years}
bundle_size = "{bundle_size}"
{extra}

[[mirrors]]
name = "{name}"
provider = "{provider}"
upstream = "{upstream}"
{cmd}
mirror_dir = "{mirror_dir}"
archive = true
{mirror_extra}
""")
    return conf


@asynccontextmanager
async def archive_ctx(conf: Path, name: str = "demo", crash: Crash = no_crash, network: bool = True):
    """An ArchiveCtx from the archive runtime on the real clients (devnet), with the loopback piece server;
    closed on exit."""
    cfg = load(conf)
    setup = ArchiveSetup(cfg.archive, (find_mirror(cfg, name),), str(conf))
    async with open_archive(setup, http_settings=FAST, crash=crash) as rt, rt.run(name, network=network) as ctx:
        yield ctx


@dataclass
class Check:
    on_disk: int = 0
    evicted: int = 0


async def assert_nothing_lost(ctx: ArchiveCtx, files: dict[str, bytes]) -> Check:
    """Every file is on disk with its bytes, or evicted and retrievable from the network, verified
    against its CID, byte-identical."""
    out = Check()
    # the running totals (archive status, /archive) equal a count of the rows after whatever happened
    assert ctx.index.db.read(lambda r: r.files.totals_drift()) == {}, "file_totals drifted from the rows"
    scratch = ctx.ms.dir / "verify"
    scratch.mkdir(exist_ok=True)
    for rel, data in files.items():
        full = Path(ctx.ms.root) / rel
        rec = ctx.index.get(rel)
        if full.exists():
            assert full.read_bytes() == data, f"{rel}: bytes on disk changed"
            assert rec is None or rec.state is not FileState.EVICTED, f"{rel}: on disk but indexed as evicted"
            out.on_disk += 1
            continue
        assert rec is not None and rec.state is FileState.EVICTED and rec.cid, f"{rel}: LOST (state {rec})"
        assert ctx.net is not None
        got = await ctx.net.retriever.fetch(CID.decode(rec.cid), scratch / "f")
        assert got.path.read_bytes() == data, f"{rel}: retrieved bytes differ"
        got.path.unlink()
        out.evicted += 1
    return out
