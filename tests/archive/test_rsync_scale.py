"""50,000 evicted files, the real rsync provider and a real `rsync --daemon` upstream on loopback: the sync
fetches none of them back, `--delete` and updates still work, and the evicted files upstream deletes
reach the index, found by asking only about the directories whose mtime moved."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ports import free_port
from tunasync.archive import pipeline
from tunasync.archive.context import ArchiveCtx
from tunasync.archive.index import ArchiveIndex
from tunasync.archive.policy import Policy
from tunasync.archive.scan import scan
from tunasync.archive.settings import MirrorArchive
from tunasync.archive.upstream import check_evicted
from tunasync.providerkind import ProviderKind
from tunasync.worker.config_models import GlobalConfig, MirrorConfig, WorkerConfig
from tunasync.worker.providers.build import build_provider
from tunasync.worker.providers.process import ARCHIVE_COMPARE_DEST_KEY, ARCHIVE_EXCLUDE_KEY

pytestmark = pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")

DIRS, PER_DIR = 52, 1000  # 52,000 files upstream
OLD_DIR_NS = 1_577_836_800_000_000_000  # 2020-01-01: directories nobody touched for years
FILE_NS = 1_500_000_000_000_000_000


def rel(d: int, i: int) -> str:
    return f"pool/d{d:02d}/pkg-{i:04d}_{d}.{i % 13}.deb"




@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    up = tmp_path / "upstream"
    up.mkdir()
    port = free_port()
    conf = tmp_path / "rsyncd.conf"
    conf.write_text(f"pid file = {tmp_path}/rsyncd.pid\nuse chroot = no\n"
                    f"[mirror]\n    path = {up}\n    read only = yes\n")
    with open(tmp_path / "rsyncd.log", "wb") as log:
        proc = subprocess.Popen(["rsync", "--daemon", "--no-detach", f"--port={port}", "--address=127.0.0.1",
                                 f"--config={conf}"], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "rsync daemon did not start"
                time.sleep(0.05)
        yield f"rsync://127.0.0.1:{port}/mirror/", up
    finally:
        proc.terminate()
        proc.wait(10)


def put(path: Path, data: bytes, ns: int = FILE_NS) -> None:
    path.write_bytes(data)
    os.utime(path, ns=(ns, ns))


def age_dirs(root: Path) -> None:
    for d, _, _ in os.walk(root):
        os.utime(d, ns=(OLD_DIR_NS, OLD_DIR_NS))


def transferred(log_file: str) -> int:
    found = re.findall(r"Number of regular files transferred: ([\d,]+)", Path(log_file).read_text())
    return int(found[-1].replace(",", ""))


def test_fifty_thousand_evicted_files_stay_away(tmp_path, daemon, caplog):
    url, up = daemon
    for d in range(DIRS):
        (up / f"pool/d{d:02d}").mkdir(parents=True)
        for i in range(PER_DIR):
            put(up / rel(d, i), b"%d.%d\n" % (d, i) * (1 + i % 7))
    age_dirs(up)
    mirror_dir = tmp_path / "mirrors"
    cfg = WorkerConfig.model_validate({"global": GlobalConfig(name="w", log_dir=str(tmp_path / "log" / "{{.Name}}"),
                                                              mirror_dir=str(mirror_dir)),
                                       "path": str(tmp_path / "w.conf")})
    m = MirrorConfig(name="big", provider="rsync", upstream=url)
    cfg.mirrors = [m]
    provider = build_provider(m, cfg)
    Path(provider.log_file).parent.mkdir(parents=True)
    Path(provider.working_dir).mkdir(parents=True)
    asyncio.run(provider.run(lambda: None))  # the first sync: everything
    root = Path(provider.working_dir)
    assert transferred(provider.log_file) == DIRS * PER_DIR

    ms = MirrorArchive(name="big", root=str(root), dir=tmp_path / "archive" / "big", policy=Policy(),
                       upstream=url, provider=ProviderKind.RSYNC)
    ms.ensure_dirs()
    index = ArchiveIndex(ms.index_path)
    ctx = ArchiveCtx(ms, index)
    assert scan(str(root), index).files == DIRS * PER_DIR
    # 50,000 files evicted, 970 in each directory but the last (the index written as the evictor would)
    evicted = [rel(d, i) for d in range(DIRS) for i in range(PER_DIR) if i >= 30][:50_000]
    index.close()
    with sqlite3.connect(ms.index_path) as db:  # seeding only: the state the evictor would leave
        db.executemany("UPDATE files SET state = 'evicted', cid = 'bafkqaaa', evicted_at = 1 WHERE path = ?",
                       [(p,) for p in evicted])
    db.close()
    index = ArchiveIndex(ms.index_path)
    ctx = ArchiveCtx(ms, index)
    for p in evicted:
        (root / p).unlink()
    assert pipeline.write_exclude(ctx) == 50_000  # the shadow tree: one placeholder each
    assert len(ms.exclude_path.read_text().splitlines()) == 2  # the rules file does not grow
    provider.context.set(ARCHIVE_EXCLUDE_KEY, str(ms.exclude_path))
    provider.context.set(ARCHIVE_COMPARE_DEST_KEY, str(ms.shadow_dir))

    # a sync with nothing changed upstream transfers nothing
    asyncio.run(provider.run(lambda: None))
    assert transferred(provider.log_file) == 0
    assert sum(1 for p in evicted if (root / p).exists()) == 0
    caplog.set_level(logging.INFO, logger="tunasync.archive.upstream")
    assert asyncio.run(check_evicted(ms, index, rotate=0)) == []  # first check: every directory is asked once
    assert f"50000 evicted file(s) asked about in {DIRS} of {DIRS} directories, 0 gone" in caplog.text

    # upstream (an hour or more ago): deletes an evicted file and a present one in d03, rewrites an
    # evicted file of d07 in place (its directory does not change), adds a file to d09
    gone_evicted, gone_present, replaced, added = rel(3, 500), rel(3, 5), rel(7, 700), rel(9, 1000)
    (up / gone_evicted).unlink()
    (up / gone_present).unlink()
    put(up / replaced, b"a new build of this package\n" * 50, FILE_NS + 10**9)
    put(up / added, b"new\n")
    for d in ("pool/d03", "pool/d09"):
        os.utime(up / d, ns=(OLD_DIR_NS + 10**12, OLD_DIR_NS + 10**12))
    asyncio.run(provider.run(lambda: None))
    assert transferred(provider.log_file) == 2  # the new file and the replaced one, nothing else
    assert (root / replaced).read_bytes() == (up / replaced).read_bytes()
    assert (root / added).exists()
    assert not (root / gone_present).exists()  # --delete still works
    assert [p for p in evicted if (root / p).exists()] == [replaced]
    log_text = Path(provider.log_file).read_text()
    assert rel(3, 501) not in log_text and rel(51, 999) not in log_text

    # the archive run after the sync: the scan sees the replaced file, the check finds the deletion
    res = scan(str(root), index)
    assert sorted(c[0] for c in res.changed) == sorted([replaced, added]) and res.deleted == [gone_present]
    index.mark_deleted(res.deleted)
    caplog.clear()
    gone = asyncio.run(check_evicted(ms, index, rotate=0))
    assert gone == [gone_evicted]
    assert "1940 evicted file(s) asked about in 2 of 52 directories, 1 gone" in caplog.text  # d03, d09
    index.mark_deleted(gone)
    assert index.get(gone_evicted).deleted
    pipeline.write_exclude(ctx)
    assert not (ms.shadow_dir / gone_evicted).exists() and not (ms.shadow_dir / replaced).exists()

    # and the next check asks about nothing, the next sync fetches nothing
    caplog.clear()
    assert asyncio.run(check_evicted(ms, index, rotate=0)) == []
    assert "asked about" not in caplog.text
    asyncio.run(provider.run(lambda: None))
    assert transferred(provider.log_file) == 0
    index.close()
