"""Worker /metrics: a real worker subprocess runs a job; its control server reports runs and bytes."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from tunasync.worker.metrics import transferred_bytes

from .manager_harness import running_manager
from .test_metrics import samples, val
from .worker_harness import free_port, wait_status, worker_conf, worker_process


def test_transferred_bytes_from_rsync_stats():
    log = (b"sending incremental file list\n"
           b"Total file size: 1.33T bytes\nTotal transferred file size: 12.50M bytes\n"
           b"Total transferred file size: 1,234,567 bytes\n")
    assert transferred_bytes(log) == 1234567
    assert transferred_bytes(b"Total transferred file size: 2.5G bytes\n") == 2.5e9
    assert transferred_bytes(b"nothing here") is None


async def test_worker_metrics_after_a_run(tmp_path, port):
    wport = free_port()
    async with running_manager(tmp_path, port) as m, aiohttp.ClientSession() as s:
        conf = worker_conf(tmp_path, "pyworker", m.url, wport,
                           "echo 'Number of files: 3'\necho 'Total transferred file size: 1.50M bytes'")
        log = tmp_path / "worker.log"
        async with worker_process(conf, log) as proc:
            await wait_status(s, m.url, "pymirror", "success", proc=proc, log=log)
            deadline = time.monotonic() + 30
            while True:
                async with s.get(f"http://127.0.0.1:{wport}/metrics") as r:
                    assert r.status == 200
                    smp = samples(await r.text())
                if val(smp, "tunasync_worker_transferred_bytes_total", worker="pyworker", mirror="pymirror"):
                    break
                assert time.monotonic() < deadline, smp
                await asyncio.sleep(0.1)
        assert val(smp, "tunasync_worker_jobs", worker="pyworker") == 1
        assert val(smp, "tunasync_worker_runs_total", worker="pyworker", mirror="pymirror", result="success") == 1
        assert val(smp, "tunasync_worker_run_duration_seconds_count", worker="pyworker", mirror="pymirror",
                   result="success") == 1
        assert val(smp, "tunasync_worker_transferred_bytes_total", worker="pyworker", mirror="pymirror") == 1.5e6
        assert val(smp, "tunasync_worker_jobs_running", worker="pyworker") == 0
