"""The two-stage rsync provider (docs/compat.md §6.3)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from tests.worker.attemptkit import attempt, log_text, make_provider, poll
from tests.worker.test_provider_rsync import FAKE_RSYNC
from tunasync.worker.providers.two_stage import STAGE1_PROFILES

pytestmark = pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")

DEBIAN = ("--include=*.diff/ --include=by-hash/ --exclude=*.diff/Index --exclude=Contents* --exclude=Packages* "
          "--exclude=Sources* --exclude=Release* --exclude=InRelease --exclude=i18n/* --exclude=dep11/* "
          "--exclude=installer-*/current --exclude=ls-lR*")


@pytest.fixture
def fake_rsync(tmp_path: Path) -> str:
    path = tmp_path / "fake-rsync.sh"
    path.write_text(FAKE_RSYNC)
    path.chmod(0o755)
    return str(path)


def test_profiles_exact_order():
    assert " ".join(STAGE1_PROFILES["debian"]) == DEBIAN
    assert " ".join(STAGE1_PROFILES["debian-oldstyle"]) == (
        "--exclude=Packages* --exclude=Sources* --exclude=Release* --exclude=InRelease --exclude=i18n/* "
        "--exclude=ls-lR* --exclude=dep11/*")


async def test_both_stages_argv_in_one_log(tmp_path, fake_rsync):
    # Global rsync_options do not apply to two-stage (quirk 29, kept).
    p = make_provider(tmp_path, {"rsync_options": ["--global"]}, provider="two-stage-rsync", command=fake_rsync,
                      upstream="rsync://h/debian/", stage1_profile="debian", rsync_timeout=30, use_ipv6=True,
                      exclude_file="/etc/F", rsync_options=["--delete-excluded", "--cache"])
    assert await attempt(p) is None
    argv = [line for line in log_text(p).splitlines() if line.startswith("-aHvh")]
    wd = p.working_dir
    assert argv == [
        f"-aHvh --no-o --no-g --stats --filter risk .~tmp~/ --exclude .~tmp~/ --safe-links {DEBIAN} "
        f"--timeout=30 -6 --exclude-from /etc/F rsync://h/debian/ {wd}",
        # rsync_options before --timeout in stage 2 (quirk 28, kept)
        "-aHvh --no-o --no-g --stats --filter risk .~tmp~/ --exclude .~tmp~/ --delete --delete-after "
        f"--delay-updates --safe-links --delete-excluded --cache --timeout=30 -6 --exclude-from /etc/F rsync://h/debian/ {wd}",
    ]
    assert p.data_size == "1.33T"


async def test_stage1_failure_stops_the_run(tmp_path, fake_rsync):
    p = make_provider(tmp_path, provider="two-stage-rsync", command=fake_rsync, upstream="rsync://h/d/",
                      stage1_profile="debian-oldstyle", env={"FAKE_EXIT": "1"})
    assert await attempt(p) == "exit status 1: Syntax or usage error"
    text = log_text(p)
    assert text.count("--safe-links") == 1 and text.endswith("rsync error: Syntax or usage error\n")


async def test_terminate_during_stage1_leaves_only_stage1(tmp_path, fake_rsync):
    p = make_provider(tmp_path, provider="two-stage-rsync", command=fake_rsync, upstream="rsync://h/d/",
                      stage1_profile="debian", env={"FAKE_SLEEP": "30"})
    started = asyncio.Event()
    run = asyncio.create_task(attempt(p, started=started.set))
    await asyncio.wait_for(started.wait(), 10)
    await poll(lambda: "Total file size: 1.33T" in (Path(p.log_file).read_text() if Path(p.log_file).exists() else ""))
    await p.terminate()
    assert await asyncio.wait_for(run, 10) == "signal: terminated"
    assert log_text(p).count("--safe-links") == 1


async def test_real_two_stage_from_daemon(tmp_path, rsync_daemon):
    up = rsync_daemon.source
    (up / "dists" / "stable").mkdir(parents=True)
    (up / "dists" / "stable" / "Release").write_text("Suite: stable\n")
    (up / "pool").mkdir()
    (up / "pool" / "a.deb").write_bytes(b"deb" * 1000)
    p = make_provider(tmp_path, provider="two-stage-rsync", upstream=rsync_daemon.url, stage1_profile="debian")
    assert await attempt(p) is None
    wd = Path(p.working_dir)
    assert (wd / "pool" / "a.deb").read_bytes() == b"deb" * 1000
    assert (wd / "dists" / "stable" / "Release").read_text() == "Suite: stable\n"  # from stage 2
    assert log_text(p).count("Total file size:") == 2 and p.data_size
