"""Reload (docs/compat.md §4.13) in-process against the real manager: add / delete / modify, bad configs kept out,
quirk 21 fixed (new global settings reach the mirrors)."""

from __future__ import annotations

from datetime import timedelta

from tests.worker.jobkit import write_worker_conf
from tests.worker.test_job import wait_until
from tests.worker.test_worker import manager, running_worker, sh, statuses, wait_status


def mirrors_v1(tmp_path):
    block = f"while [ ! -e {tmp_path}/release ]; do sleep 0.02; done"
    return [
        {"name": "gone", "provider": "command", "upstream": "x", "command": "true"},
        {"name": "changed", "provider": "command", "upstream": "x", "command": sh(block)},
        {"name": "same", "provider": "command", "upstream": "x", "command": "true"},
    ]


async def test_reload_applies_mirror_changes_and_keeps_a_bad_config_out(tmp_path):
    async with manager(tmp_path) as base, running_worker(tmp_path, mirrors_v1(tmp_path), api_base=base) as (w, _):
        conf = w.cfg.path
        await wait_status(base, "gone", "success")
        await wait_status(base, "same", "success")
        await wait_status(base, "changed", "syncing")
        changed = w.jobs["changed"]

        # a broken file: logged, the running config stays
        with open(conf, "a") as f:  # noqa: ASYNC230
            f.write("\n[[mirrors]]\nname = 'bad'\nprovider = 'nope'\n")
        assert await w.reload() is False
        assert sorted(w.jobs) == ["changed", "gone", "same"]

        v2 = [m for m in mirrors_v1(tmp_path) if m["name"] != "gone"]
        v2[0]["upstream"] = "y"  # modify: a running sync is killed and the mirror re-runs
        v2.append({"name": "added", "provider": "command", "upstream": "x", "command": "true"})
        write_worker_conf(conf, port=w.cfg.server.listen_port, api_base=base, tmp=str(tmp_path), mirrors=v2,
                          interval=30)
        (tmp_path / "release").touch()
        assert await w.reload() is True
        assert sorted(w.jobs) == ["added", "changed", "same"]
        assert w.jobs["changed"] is changed and changed.provider.upstream == "y"
        await wait_status(base, "added", "success")
        rec = await wait_status(base, "changed", "success")
        assert rec["upstream"] == "y"
        # the deleted mirror is reported disabled so `tunasynctl flush` can remove it (quirk 21 fixed)
        assert (await statuses(base))["gone"]["status"] == "disabled"
        # global interval changed: the unchanged mirror uses the new file's settings from its next run
        await wait_until(lambda: not w.jobs["same"].running)
        assert w.jobs["same"].provider.interval == timedelta(minutes=30)
        assert changed.provider.interval == timedelta(minutes=30)


async def test_modify_keeps_paused_and_disabled_states(tmp_path):
    ms = [{"name": "p", "provider": "command", "upstream": "x", "command": "true"},
          {"name": "d", "provider": "command", "upstream": "x", "command": "true"}]
    async with manager(tmp_path) as base, running_worker(tmp_path, ms, api_base=base) as (w, url):
        await wait_status(base, "p", "success")
        await wait_status(base, "d", "success")
        from tunasync.models import WorkerCmd

        await w.command(WorkerCmd(cmd="stop", mirror_id="p"))
        await w.command(WorkerCmd(cmd="disable", mirror_id="d"))
        for m in ms:
            m["upstream"] = "z"
        write_worker_conf(w.cfg.path, port=w.cfg.server.listen_port, api_base=base, tmp=str(tmp_path), mirrors=ms)
        assert await w.reload()
        assert w.jobs["p"].state.value == "paused" and w.jobs["p"].alive and "p" not in w.scheduler.queue
        assert w.jobs["d"].state.value == "disabled" and not w.jobs["d"].alive
        assert w.jobs["p"].provider.upstream == "z"


async def test_tunasynctl_reload_through_the_manager(tmp_path):
    """`tunasynctl reload -w dut` = manager POST /cmd → worker `reload` with an empty mirror_id (answered 200)."""
    from tests.worker.test_worker import post

    ms = [{"name": "one", "provider": "command", "upstream": "x", "command": "true"}]
    async with manager(tmp_path) as base, running_worker(tmp_path, ms, api_base=base) as (w, url):
        await wait_status(base, "one", "success")
        ms.append({"name": "two", "provider": "command", "upstream": "x", "command": "true"})
        write_worker_conf(w.cfg.path, port=w.cfg.server.listen_port, api_base=base, tmp=str(tmp_path), mirrors=ms)
        assert await post(url, b'{"cmd":"reload","mirror_id":""}') == (200, '{"msg":"OK"}\n')
        await wait_status(base, "two", "success")
        ms.append({"name": "three", "provider": "command", "upstream": "x", "command": "true"})
        write_worker_conf(w.cfg.path, port=w.cfg.server.listen_port, api_base=base, tmp=str(tmp_path), mirrors=ms)
        body = b'{"cmd":"reload","worker_id":"dut","mirror_id":"","args":null,"options":null}'
        assert (await post(f"{base}/cmd", body))[0] == 200
        await wait_status(base, "three", "success")
