"""The rsync provider (docs/compat.md §6.1) with the real rsync and with a fake rsync script for argv checks."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from tests.worker.attemptkit import attempt, log_text, make_provider, poll
from tunasync.worker.providers.rsync import parse_total_size
from tunasync.worker.runner import group_alive

pytestmark = pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")

FAKE_RSYNC = """#!/bin/sh
echo "syncing to $(pwd)"
echo "$@"
echo "USER=$USER RSYNC_PASSWORD=$RSYNC_PASSWORD RSYNC_PROXY=$RSYNC_PROXY"
echo "Total file size: 1.23K bytes"
echo "Total file size: 1.33T bytes"
[ -n "$FAKE_SLEEP" ] && sleep "$FAKE_SLEEP"
exit ${FAKE_EXIT:-0}
"""
BASE = "-aHvh --no-o --no-g --stats --filter risk .~tmp~/ --exclude .~tmp~/ --delete --delete-after --delay-updates --safe-links"


@pytest.fixture
def fake_rsync(tmp_path: Path) -> str:
    path = tmp_path / "fake-rsync.sh"
    path.write_text(FAKE_RSYNC)
    path.chmod(0o755)
    return str(path)


def test_size_parse():
    assert parse_total_size("Total file size: 1.33T bytes\n") == "1.33T"
    assert parse_total_size("x\nTotal file size: 12 bytes\nTotal file size: 7.5G bytes\nend") == "7.5G"
    assert parse_total_size("no stats here") == ""


async def test_default_argv_ipv6_and_size(tmp_path, fake_rsync):
    p = make_provider(tmp_path, command=fake_rsync, upstream="rsync://rsync.example.com/AOSP/", use_ipv6=True)
    assert await attempt(p) is None
    lines = log_text(p).splitlines()
    assert lines[0] == f"syncing to {p.working_dir}"
    assert lines[1] == f"{BASE} --timeout=120 -6 rsync://rsync.example.com/AOSP/ {p.working_dir}"
    assert p.data_size == "1.33T"


async def test_credentials_timeout_ipv4_and_options(tmp_path, fake_rsync):
    p = make_provider(tmp_path, command=fake_rsync, upstream="rsync://h/m/", username="tunasync", password="secret",
                      env={"RSYNC_PROXY": "127.0.0.1:8123"}, rsync_timeout=30, use_ipv4=True,
                      rsync_options=["--delete-excluded"])
    assert await attempt(p) is None
    lines = log_text(p).splitlines()
    assert lines[1] == f"{BASE} --timeout=30 -4 --delete-excluded rsync://h/m/ {p.working_dir}"
    assert lines[2] == "USER=tunasync RSYNC_PASSWORD=secret RSYNC_PROXY=127.0.0.1:8123"
    assert p.config.env == {"RSYNC_PROXY": "127.0.0.1:8123"}  # quirk 23 fixed: config untouched


def test_override_and_option_order(tmp_path):
    p = make_provider(tmp_path, upstream="rsync://h/m/", rsync_override=["-aHvh", "--no-o", "--no-g", "--stats"],
                      rsync_no_timeout=True, use_ipv6=True, rsync_options=["--delete-excluded"])
    assert p.options == ["-aHvh", "--no-o", "--no-g", "--stats", "-6", "--delete-excluded"]
    p = make_provider(tmp_path, {"rsync_options": ["--global"]}, upstream="rsync://h/m/",
                      rsync_override=["--override"], rsync_options=["--local"])
    assert p.options == ["--override", "--timeout=120", "--global", "--local"]
    p = make_provider(tmp_path, {"rsync_options": ["--global"]}, upstream="rsync://h/m/",
                      rsync_override=["--bar", "baz"], rsync_override_only=True, rsync_options=["--local"])
    assert p.options == ["--bar", "baz"]
    p = make_provider(tmp_path, upstream="rsync://h/m/", exclude_file="/etc/ex")
    assert p.options[-3:] == ["--timeout=120", "--exclude-from", "/etc/ex"]


async def test_failure_appends_rsync_error_and_explains_it(tmp_path, fake_rsync):
    p = make_provider(tmp_path, command=fake_rsync, upstream="rsync://h/m/", env={"FAKE_EXIT": "10"})
    assert await attempt(p) == "exit status 10: Error in socket I/O"
    log = Path(p.log_dir) / os.readlink(Path(p.log_dir) / "latest")
    assert log.name.endswith(".log.fail")
    assert log.read_text().splitlines()[-1] == "rsync error: Error in socket I/O"
    assert p.data_size == ""
    p = make_provider(tmp_path, command=fake_rsync, upstream="rsync://h/m/", env={"FAKE_EXIT": "1"})
    assert await attempt(p) == "exit status 1: Syntax or usage error"
    assert "Syntax or usage error" in log_text(p)
    p = make_provider(tmp_path, command=fake_rsync, upstream="rsync://h/m/", env={"FAKE_EXIT": "99"})
    assert await attempt(p) == "exit status 99"  # not in the table: Go's text alone, an empty log line
    assert log_text(p).endswith("bytes\n\n")


async def test_partial_transfer_codes_as_success(tmp_path, fake_rsync):
    p = make_provider(tmp_path, {"dangerous_global_rsync_success_exit_codes": [23]}, command=fake_rsync,
                      upstream="rsync://h/m/", env={"FAKE_EXIT": "23"}, rsync_success_exit_codes=[24])
    assert await attempt(p) is None and p.data_size == "1.33T"
    p = make_provider(tmp_path, command=fake_rsync, upstream="rsync://h/m/", env={"FAKE_EXIT": "24"},
                      rsync_success_exit_codes=[24])
    assert await attempt(p) is None
    p = make_provider(tmp_path, command=fake_rsync, upstream="rsync://h/m/", env={"FAKE_EXIT": "24"})
    assert await attempt(p) == "exit status 24: Partial transfer due to vanished source files"


async def test_real_rsync_local_dir_to_dir(tmp_path):
    src = tmp_path / "src"
    (src / "pool").mkdir(parents=True)
    (src / "pool" / "a.deb").write_bytes(b"x" * 5000)
    (src / "README").write_text("hello\n")
    p = make_provider(tmp_path, upstream=f"{src}/")
    os.makedirs(p.working_dir)
    (Path(p.working_dir) / "stale").write_text("deleted upstream")
    assert await attempt(p) is None
    work = Path(p.working_dir)
    assert (work / "pool" / "a.deb").read_bytes() == b"x" * 5000 and (work / "README").read_text() == "hello\n"
    assert not (work / "stale").exists()  # --delete
    assert p.data_size == "5.01K"


async def test_real_rsync_missing_source_is_23(tmp_path):
    p = make_provider(tmp_path, upstream=f"{tmp_path}/no-such-dir/")
    assert await attempt(p) == "exit status 23: Partial transfer due to error"
    assert "rsync error: Partial transfer due to error" in log_text(p)
    p = make_provider(tmp_path, upstream=f"{tmp_path}/no-such-dir/", rsync_success_exit_codes=[23])
    assert await attempt(p) is None


async def test_real_rsync_from_daemon(tmp_path, rsync_daemon):
    (rsync_daemon.source / "dists").mkdir()
    (rsync_daemon.source / "dists" / "Release").write_text("Origin: test\n")
    (rsync_daemon.source / "big.iso").write_bytes(os.urandom(300_000))
    p = make_provider(tmp_path, upstream=rsync_daemon.url)
    assert await attempt(p) is None
    assert (Path(p.working_dir) / "dists" / "Release").read_text() == "Origin: test\n"
    assert (Path(p.working_dir) / "big.iso").stat().st_size == 300_000
    assert p.data_size.endswith("K")

    p = make_provider(tmp_path, name="other", upstream=rsync_daemon.url.replace("/mirror/", "/nomodule/"))
    err = await attempt(p)
    assert err == "exit status 5: Error starting client-server protocol"
    assert "Unknown module" in log_text(p)


async def test_terminate_mid_transfer_stops_rsync_and_its_children(tmp_path, rsync_daemon):
    (rsync_daemon.source / "big.bin").write_bytes(os.urandom(4_000_000))
    p = make_provider(tmp_path, upstream=rsync_daemon.url, rsync_options=["--bwlimit=100"])
    started = asyncio.Event()
    task = asyncio.create_task(attempt(p, started=started.set))
    await asyncio.wait_for(started.wait(), 10)
    partial = Path(p.working_dir)
    await poll(lambda: any(partial.rglob("*")), limit=20)  # rsync is really transferring
    pgid = p._proc.pid
    await p.terminate()
    err = await asyncio.wait_for(task, 10)
    assert err is not None and err.startswith(("exit status 20", "signal: "))
    assert not (partial / "big.bin").exists()  # --delay-updates: nothing half-written in place
    assert not group_alive(pgid)
