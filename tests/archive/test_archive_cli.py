"""`tunasync archive ...` as a user runs it: subprocesses against the devnet, output and exit codes;
and real kill -9 of the CLI at journaled steps (TUNASYNC_ARCHIVE_CRASH makes it SIGKILL itself there)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.archive.archkit import archive_ctx, assert_nothing_lost, default_files, make_tree, write_conf
from tunasync.archive.crash import ENV as CRASH_ENV


def tunasync(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "tunasync.cli.main", *args], capture_output=True, text=True,
                       env={**os.environ, **(env or {})}, timeout=180)
    if check and p.returncode != 0:
        raise AssertionError(f"tunasync {' '.join(args)} exited {p.returncode}: {p.stdout}\n{p.stderr}")
    return p


@pytest.fixture
def setup(tmp_path, devnet):
    mirror = tmp_path / "mirror"
    files = make_tree(mirror, default_files(6), old={p for i, p in enumerate(default_files(6)) if i < 4})
    return write_conf(tmp_path, devnet.url, mirror, copies=2), files


async def test_store_evict_status_ls_round_trip(setup):
    conf, files = setup
    c = str(conf)
    dry = json.loads(tunasync("archive", "store", "-c", c, "demo", "--dry-run", "--json").stdout)
    assert dry == {"would_pack": [], "open_bundles": []}  # nothing hashed yet: a dry run changes nothing
    out = json.loads(tunasync("archive", "store", "-c", c, "demo", "--wait", "60", "--poll", "0.2", "--json").stdout)
    assert out["hashed"] == 6 and out["packed"] >= 1 and out["stored_bundles"] == out["packed"]
    would = json.loads(tunasync("archive", "evict", "-c", c, "demo", "--dry-run", "--json").stdout)
    old_nonempty = sorted(p for i, p in enumerate(files) if i < 4 and files[p])
    assert sorted(would["would_evict"]) == old_nonempty
    assert all(p.exists() for p in (conf.parent / "mirror").rglob("*.deb"))  # the dry run deleted nothing
    done = json.loads(tunasync("archive", "evict", "-c", c, "demo", "--json").stdout)
    assert sorted(done["evicted"]) == old_nonempty
    st = json.loads(tunasync("archive", "status", "-c", c, "demo", "--json").stdout)
    assert st["states"]["evicted"]["files"] == len(old_nonempty)
    assert list(st["copies"]) == ["2"]
    table = tunasync("archive", "status", "-c", c).stdout
    assert "archive of demo" in table and "evicted" in table and "next evictions" in table
    rows = json.loads(tunasync("archive", "ls", "-c", c, "demo", "pool/main/p1", "--json").stdout)
    assert rows and all(r["path"].startswith("pool/main/p1/") and r["copies"] == 2 for r in rows)
    plain = tunasync("archive", "ls", "-c", c, "demo").stdout.splitlines()
    assert len(plain) == 6 and all(len(line.split("\t")) == 5 for line in plain)
    rep = json.loads(tunasync("archive", "repair", "-c", c, "demo", "--json").stdout)
    assert rep["degraded"] == {} and rep["checked"] == out["packed"]
    async with archive_ctx(conf) as ctx:
        await assert_nothing_lost(ctx, files)


def test_errors_name_the_file_and_the_mirror(setup, tmp_path):
    conf, _ = setup
    p = tunasync("archive", "status", "-c", str(conf), "nope", check=False)
    assert p.returncode == 1 and "no mirror named 'nope' (archived mirrors: demo)" in p.stderr
    bad = tmp_path / "bad.conf"
    bad.write_text(conf.read_text().replace("copies = 2", "copies = 0"))
    p = tunasync("archive", "status", "-c", str(bad), check=False)
    assert p.returncode == 1 and str(bad) in p.stderr and "archive.copies" in p.stderr
    p = tunasync("archive", "store", "-c", str(tmp_path / "missing.conf"), "demo", check=False)
    assert p.returncode != 0 and "missing.conf" in p.stderr


def test_a_second_process_is_refused_while_one_works(setup):
    conf, _ = setup
    holder = subprocess.Popen([sys.executable, "-c", f"""
import fcntl, os, sys, time
fd = os.open({str(conf.parent / "archive" / "demo" / "lock")!r}, os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX); os.pwrite(fd, b"4242\\n", 0); print("locked", flush=True); time.sleep(60)
"""], stdout=subprocess.PIPE, text=True, env=os.environ)
    try:
        os.makedirs(conf.parent / "archive" / "demo", exist_ok=True)
        assert holder.stdout.readline().strip() == "locked"
        p = tunasync("archive", "evict", "-c", str(conf), "demo", check=False)
        assert p.returncode == 1 and "archive demo is busy: process 4242 is working on it" in p.stderr
    finally:
        holder.kill()
        holder.wait()


KILL_POINTS = [("store", "pack.car_written:1"), ("store", "store.offered:1"), ("store", "store.marked:1"),
               ("evict", "evict.tested:1"), ("evict", "evict.journaled:1"), ("evict", "evict.unlinked:2"),
               ("evict", "evict.recorded:1")]


@pytest.mark.parametrize(("step", "point"), KILL_POINTS, ids=[p for _, p in KILL_POINTS])
async def test_kill_9_at_a_journaled_step_loses_nothing(setup, step, point):
    conf, files = setup
    c = str(conf)
    if step == "evict":
        tunasync("archive", "store", "-c", c, "demo", "--wait", "60", "--poll", "0.2")
    p = tunasync("archive", step, "-c", c, "demo", env={CRASH_ENV: point}, check=False)
    assert p.returncode == -signal.SIGKILL, (p.returncode, p.stderr)
    tunasync("archive", "store", "-c", c, "demo", "--wait", "60", "--poll", "0.2")  # restart: recovery, then finish
    tunasync("archive", "evict", "-c", c, "demo")
    async with archive_ctx(conf) as ctx:
        check = await assert_nothing_lost(ctx, files)
        assert check.evicted == 3 and ctx.index.journal_open() == []
