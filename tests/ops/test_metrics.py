"""Manager /metrics: scraped over HTTP from a real manager and parsed with prometheus_client's parser."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tunasync.manager.metrics import ManagerMetrics, archive_summary, parse_size
from tunasync.manager.state import StatusChange
from tunasync.metrics import render
from tunasync.models import MirrorStatus, SyncStatus, timefmt

from .manager_harness import post_raw, register, report, running_manager


def samples(text: str) -> dict[tuple, float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def val(smp: dict, name: str, **labels: str) -> float | None:
    return smp.get((name, tuple(sorted(labels.items()))))


async def scrape(s: aiohttp.ClientSession, base: str) -> dict:
    async with s.get(base + "/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        return samples(await r.text())


@pytest.mark.parametrize("text,expect", [("1.33T", 1.33e12), ("596G", 596e9), ("12345", 12345.0), ("1.5 MiB", 1.5e6),
                                         ("unknown", None), ("", None), ("about 3G", None)])
def test_parse_size(text, expect):
    assert parse_size(text) == expect


def test_archive_summary_shapes():
    assert archive_summary({"states": {"stored": {"files": 2, "bytes": 10}}, "copies": {"3": 4, "x": 1}}) == (
        {"stored": (2, 10)}, {3: 4})
    assert archive_summary({"counts": {"evicted": [5, 50]}, "copies_histogram": {"0": 1}}) == ({"evicted": (5, 50)}, {0: 1})
    assert archive_summary({}) == ({}, {})


async def test_manager_metrics_over_http(tmp_path, port):
    async with running_manager(tmp_path, port) as m, aiohttp.ClientSession() as s:
        await register(s, m.url, "w1")
        await report(s, m.url, "w1", "debian", "pre-syncing", "syncing", "success", size="1.2T")
        await report(s, m.url, "w1", "arch", "pre-syncing", "syncing", "failed")
        nxt = timefmt.format_rfc3339(timefmt.now() + timedelta(hours=1))
        await post_raw(s, f"{m.url}/workers/w1/schedules", {"schedules": [{"name": "debian", "next_schedule": nxt}]})
        await post_raw(s, f"{m.url}/workers/w1/jobs/debian/archive", {
            "states": {"stored": {"files": 3, "bytes": 300}, "evicted": {"files": 2, "bytes": 200}},
            "copies": {"1": 1, "3": 2}})
        smp = await scrape(s, m.url)

        assert val(smp, "tunasync_mirror_state", mirror="debian", worker="w1", state="success") == 1
        assert val(smp, "tunasync_mirror_state", mirror="debian", worker="w1", state="failed") == 0
        assert val(smp, "tunasync_mirror_status_code", mirror="arch", worker="w1") == 1
        assert val(smp, "tunasync_mirror_size_bytes", mirror="debian", worker="w1") == 1.2e12
        assert val(smp, "tunasync_mirror_size_bytes", mirror="arch", worker="w1") is None  # "unknown"
        now = timefmt.unix(timefmt.now())
        assert abs(val(smp, "tunasync_mirror_last_success_timestamp_seconds", mirror="debian", worker="w1") - now) < 60
        assert val(smp, "tunasync_mirror_last_success_timestamp_seconds", mirror="arch", worker="w1") is None
        assert val(smp, "tunasync_mirror_next_schedule_timestamp_seconds", mirror="debian", worker="w1") > now
        assert val(smp, "tunasync_workers_registered") == 1
        # One run each, counted once although the schedule post re-sent debian's record.
        assert val(smp, "tunasync_sync_runs_total", mirror="debian", worker="w1", result="success") == 1
        assert val(smp, "tunasync_sync_runs_total", mirror="arch", worker="w1", result="failed") == 1
        assert val(smp, "tunasync_sync_duration_seconds_count", mirror="debian", worker="w1", result="success") == 1
        assert val(smp, "tunasync_sync_duration_seconds_bucket", mirror="debian", worker="w1", result="success",
                   le="+Inf") == 1
        # Archive figures per state and the copies histogram (cumulative buckets).
        assert val(smp, "tunasync_archive_bytes", mirror="debian", worker="w1", state="evicted") == 200
        assert val(smp, "tunasync_archive_files", mirror="debian", worker="w1", state="local") == 0
        assert val(smp, "tunasync_archive_piece_copies_bucket", mirror="debian", worker="w1", le="0.0") == 0
        assert val(smp, "tunasync_archive_piece_copies_bucket", mirror="debian", worker="w1", le="1.0") == 1
        assert val(smp, "tunasync_archive_piece_copies_bucket", mirror="debian", worker="w1", le="3.0") == 3
        assert val(smp, "tunasync_archive_piece_copies_count", mirror="debian", worker="w1") == 3

        # A second run of debian counts again.
        await report(s, m.url, "w1", "debian", "pre-syncing", "syncing", "success")
        smp = await scrape(s, m.url)
        assert val(smp, "tunasync_sync_runs_total", mirror="debian", worker="w1", result="success") == 2


def test_old_runs_seen_again_are_not_counted():
    mm = ManagerMetrics()
    old = timefmt.now() - timedelta(days=1)
    rec = MirrorStatus(name="m", worker="w", status=SyncStatus.SUCCESS, last_started=old - timedelta(hours=1),
                       last_ended=old, last_update=old)
    mm.on_change(StatusChange("w", "m", rec))  # e.g. the first schedule post after a manager restart
    fresh = timefmt.now()
    mm.on_change(StatusChange("w", "m", rec.model_copy(update={"last_started": fresh - timedelta(minutes=30),
                                                              "last_ended": fresh})))
    smp = samples(render(mm.registry).decode())
    assert val(smp, "tunasync_sync_runs_total", mirror="m", worker="w", result="success") == 1
    assert val(smp, "tunasync_sync_duration_seconds_bucket", mirror="m", worker="w", result="success", le="900.0") == 0
    assert val(smp, "tunasync_sync_duration_seconds_bucket", mirror="m", worker="w", result="success", le="1800.0") == 1


async def test_manager_exports_its_process_metrics(tmp_path, port):
    async with running_manager(tmp_path, port) as m, aiohttp.ClientSession() as s:
        smp = await scrape(s, m.url)
    assert val(smp, "process_resident_memory_bytes") > 0
    assert val(smp, "process_open_fds") > 0
