"""tunasynctl's Go subcommands against the real manager (sqlite) on loopback, with a stand-in worker."""

from __future__ import annotations

import json

import pytest

from .ctlkit import ctl


@pytest.fixture
async def jobs(stack, worker):
    """w1: debian success, ubuntu failed, centos syncing; w2 (the stand-in worker's URL): arch paused; w3: none."""
    await stack.register("w1")
    await stack.register("w2", url=worker.url, token="w2-secret")
    await stack.register("w3")
    await stack.post_status("w1", "debian", "success", size="1.33T")
    await stack.post_status("w1", "ubuntu", "failed", error_msg="exit status 23")
    await stack.post_status("w1", "centos", "pre-syncing")
    await stack.post_status("w1", "centos", "syncing")
    await stack.post_status("w2", "arch", "paused", is_master=False)
    return stack


def _by_name(items):
    return sorted(items, key=lambda d: (d["name"], d.get("worker", "")))


async def test_list_all_reencodes_the_managers_jobs_exactly(env, jobs):
    r = await ctl(env, "list", "--all", real=True)
    assert r.code == 0, r.err
    _, manager_view = await jobs.call("GET", "/jobs")
    assert _by_name(r.json) == _by_name(manager_view)
    assert r.out.startswith("[\n  {\n    \"name\": ")  # Go's MarshalIndent with two spaces


async def test_list_all_status_filter(env, jobs):
    r = await ctl(env, "list", "-a", "-s", "success, failed")
    assert r.code == 0, r.err
    assert sorted(d["name"] for d in r.json) == ["debian", "ubuntu"]
    r = await ctl(env, "list", "-a", "--status", "syncing,bogus")
    assert (r.code, r.err) == (1, 'Error parsing status: Invalid status value: "bogus"\n')
    r = await ctl(env, "list", "-a", "-s", "disabled")
    assert (r.code, r.out) == (0, "[]\n")


async def test_list_all_format_template(env, jobs):
    r = await ctl(env, "list", "-a", "-f", '{{.Name}} {{.Status}} {{if .IsMaster}}master{{else}}slave{{end}} '
                                           '{{printf "%-6s|" .Size}}')
    assert r.code == 0, r.err
    assert sorted(r.out.splitlines()) == [
        "arch paused slave unknown|", "centos syncing master unknown|", "debian success master 1.33T |",
        "ubuntu failed master unknown|",
    ]


async def test_list_format_times_print_like_go(env, jobs):
    r = await ctl(env, "list", "-a", "-s", "success", "-f", "{{.LastUpdate}}|{{.LastUpdateTs.Unix}}|{{.Scheduled}}")
    assert r.code == 0, r.err
    text, ts, sched = r.out.strip().split("|")
    _, all_jobs = await jobs.call("GET", "/jobs")
    [web] = [d for d in all_jobs if d["name"] == "debian"]
    # TZ=UTC in the test environment; the manager (this process) wrote its own local offset
    assert text.startswith(web["last_update"][:19])
    assert int(ts) == web["last_update_ts"]
    assert sched.startswith("0001-01-01 00:00:00 +0000")


async def test_list_format_errors(env, jobs):
    r = await ctl(env, "list", "-a", "-f", "{{.Name")
    assert (r.code, r.err) == (1, "Error parsing format template: template: :1: unclosed action\n")
    r = await ctl(env, "list", "-a", "-s", "success", "-f", "{{.Name}} {{.Nope}}")
    assert r.code == 1
    assert r.out == "debian "  # Go writes into stdout until the failure
    assert r.err == ('Error printing out information: template: :1:12: executing "" at <.Nope>: '
                     "can't evaluate field Nope in type internal.WebMirrorStatus\n")


async def test_list_workers_includes_worker_fields(env, jobs):
    r = await ctl(env, "list", "w1", "w2")
    assert r.code == 0, r.err
    items = r.json
    assert sorted((d["name"], d["worker"]) for d in items) == [
        ("arch", "w2"), ("centos", "w1"), ("debian", "w1"), ("ubuntu", "w1")]
    assert list(items[0]) == ["name", "worker", "is_master", "status", "last_update", "last_started", "last_ended",
                              "next_schedule", "upstream", "size", "error_msg"]
    r = await ctl(env, "list", "w1", "-f", "{{.Name}}@{{.Worker}}:{{.Status}}:{{.ErrorMsg}}", real=True)
    assert sorted(r.out.splitlines()) == ["centos@w1:syncing:", "debian@w1:success:",
                                         "ubuntu@w1:failed:exit status 23"]


async def test_list_worker_with_zero_jobs_is_empty_not_an_error(env, jobs):
    """Quirk 13 fixed: the manager answers null for w3; Go tunasynctl failed, we list nothing."""
    r = await ctl(env, "list", "w3")
    assert (r.code, r.out, r.err) == (0, "[]\n", "")
    r = await ctl(env, "list", "w3", "w1")
    assert r.code == 0 and len(r.json) == 3


async def test_list_unknown_worker_fails(env, jobs):
    r = await ctl(env, "list", "w1", "nosuch")
    assert (r.code, r.err) == (1, "Failed to correctly get information of jobs from at least one manager\n")


async def test_workers_lists_redacted_tokens(env, jobs):
    r = await ctl(env, "workers")
    assert r.code == 0, r.err
    workers = {w["id"]: w for w in r.json}
    assert set(workers) == {"w1", "w2", "w3"}
    assert workers["w2"]["token"] == "REDACTED"
    assert list(workers["w2"]) == ["id", "url", "token", "last_online", "last_register"]


async def test_workers_is_null_when_none(env, stack):
    r = await ctl(env, "workers")
    assert (r.code, r.out) == (0, "null\n")


async def test_set_size(env, jobs):
    r = await ctl(env, "set-size", "-w", "w1", "ubuntu", "42G")
    assert (r.code, r.out) == (0, "Successfully updated mirror size to 42G\n")
    r = await ctl(env, "list", "w1", "-f", "{{.Name}} {{.Size}}")
    assert "ubuntu 42G" in r.out.splitlines()
    r = await ctl(env, "set-size", "-w", "w1", "nosuch", "1G")
    assert r.code == 1
    assert r.err.startswith("Manager failed to update mirror size: ")
    assert "no mirror 'nosuch' exists in worker 'w1'" in r.err


async def test_job_commands_reach_the_worker(env, jobs, worker):
    for args, want in [
        (["start", "-w", "w2", "arch", "-f"], {"cmd": "start", "mirror_id": "arch", "args": None,
                                               "options": {"force": True}}),
        (["start", "-w", "w2", "arch", "a, b"], {"cmd": "start", "mirror_id": "arch", "args": ["a", "b"],
                                                 "options": {}}),
        (["restart", "-w", "w2", "arch"], {"cmd": "restart", "mirror_id": "arch", "args": None, "options": {}}),
        (["ping", "-w", "w2", "arch"], {"cmd": "ping", "mirror_id": "arch", "args": None, "options": {}}),
        (["reload", "-w", "w2"], {"cmd": "reload", "mirror_id": "", "args": None, "options": None}),
    ]:
        r = await ctl(env, *args, real=args[0] == "reload")
        assert (r.code, r.out) == (0, "Successfully send the command\n"), r.err
        assert worker.commands[-1] == want
        # the manager forwards with the token the worker registered with
        assert worker.headers[-1].get("Authorization") == "Bearer w2-secret"


async def test_disable_then_flush_removes_the_job(env, jobs, worker):
    r = await ctl(env, "disable", "-w", "w2", "arch")
    assert r.code == 0, r.err
    assert worker.commands[-1]["cmd"] == "disable"
    r = await ctl(env, "list", "-a", "-s", "disabled", "-f", "{{.Name}}")
    assert r.out == "arch\n"
    r = await ctl(env, "flush")
    assert (r.code, r.out) == (0, "Successfully flushed disabled jobs\n")
    r = await ctl(env, "list", "-a", "-f", "{{.Name}}")
    assert "arch" not in r.out.split()


async def test_stop_marks_the_job_paused(env, jobs, worker):
    await jobs.post_status("w2", "arch", "success")
    r = await ctl(env, "stop", "-w", "w2", "arch")
    assert r.code == 0, r.err
    r = await ctl(env, "list", "w2", "-f", "{{.Status}}")
    assert r.out == "paused\n"


async def test_command_to_unregistered_worker_fails_with_the_managers_reason(env, jobs):
    r = await ctl(env, "start", "-w", "nosuch", "debian")
    assert r.code == 1
    assert r.err.startswith("Failed to correctly send command: HTTP status code is not 200: ")
    assert json.loads(r.err.split(": ", 2)[2]) == {"error": "worker nosuch is not registered yet"}


async def test_rm_worker(env, jobs):
    r = await ctl(env, "rm-worker", "-w", "w3")
    assert (r.code, r.out) == (0, "Successfully removed the worker\n")
    r = await ctl(env, "workers")
    assert {w["id"] for w in r.json} == {"w1", "w2"}
    r = await ctl(env, "rm-worker", "-w", "w3")
    assert r.code == 1
    assert r.err.startswith("Failed to correctly send command: HTTP status code is not 200: ")
    assert "invalid workerID w3" in r.err


async def test_command_without_worker_gets_the_managers_empty_500(env, jobs):
    """Go sends worker_id "" and the manager answers 500 with an empty body (quirk 6, kept by the manager)."""
    r = await ctl(env, "start", "debian")
    assert (r.code, r.err) == (1, "Failed to correctly send command: HTTP status code is not 200: \n")


@pytest.fixture
async def odd_manager(home):
    """A stand-in manager giving replies the real one never gives, to reach Go's remaining error branches."""
    from aiohttp import web

    from .ctlkit import ctl_env, free_port

    async def size(request: web.Request) -> web.Response:
        return web.json_response({"name": "debian", "size": "unknown"})

    async def delete_worker(request: web.Request) -> web.Response:
        return web.json_response({"message": "kept"})

    async def jobs(request: web.Request) -> web.Response:
        return web.Response(text="[{\"name\": 1}]", content_type="application/json")

    async def worker_jobs(request: web.Request) -> web.Response:
        return web.Response(text="not json", content_type="application/json")

    app = web.Application()
    app.router.add_post("/workers/{id}/jobs/{job}/size", size)
    app.router.add_delete("/workers/{id}", delete_worker)
    app.router.add_get("/jobs", jobs)
    app.router.add_get("/workers/{id}/jobs", worker_jobs)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield ctl_env(home), ["-m", "127.0.0.1", "-p", str(port)]
    await runner.cleanup()


async def test_set_size_checks_the_size_the_manager_returns(odd_manager):
    env, addr = odd_manager
    r = await ctl(env, "set-size", "-w", "w1", "debian", "3T", *addr)
    assert (r.code, r.err) == (1, "Mirror size error, expecting 3T, manager returned unknown\n")


async def test_rm_worker_needs_the_deleted_message(odd_manager):
    env, addr = odd_manager
    r = await ctl(env, "rm-worker", "-w", "w1", *addr)
    assert (r.code, r.err) == (1, "Failed to remove the worker\n")


async def test_undecodable_replies_are_errors(odd_manager):
    env, addr = odd_manager
    r = await ctl(env, "list", "-a", *addr)
    assert r.code == 1
    assert r.err.startswith("Failed to correctly get information of all jobs from manager server: json: cannot unmarshal")
    r = await ctl(env, "list", "w1", "-v", *addr)
    assert (r.code, r.err) == (1, "Failed to correctly get information of jobs from at least one manager\n")
    assert "Failed to correctly get jobs for worker w1: invalid JSON" in r.out


async def test_go_flag_syntax_from_cron_lines(home, jobs):
    """The lines of the issue, as Go's flag package reads them (cmd/tunasynctl/tunasynctl.go flags)."""
    from .ctlkit import ctl_env

    env = ctl_env(home)  # no ctl.conf: the flags alone point at the manager
    port = str(jobs.config.server.port)
    r = await ctl(env, "list", "-p=" + port, "-m=127.0.0.1", "-all", "-f={{.Name}}", real=True)
    assert r.code == 0, r.err
    assert sorted(r.out.splitlines()) == ["arch", "centos", "debian", "ubuntu"]  # not `=arch` ...
    r = await ctl(env, "workers", "-manager", "127.0.0.1", "-p", port)  # not host `anager`
    assert r.code == 0, r.err
    assert sorted(w["id"] for w in r.json) == ["w1", "w2", "w3"]
    r = await ctl(env, "list", "--port=" + port, "--manager=127.0.0.1", "--all=true", "-status=success")
    assert (r.code, [d["name"] for d in r.json]) == (0, ["debian"])
    r = await ctl(env, "list", "-port", "0x" + format(int(port), "x"), "-m", "127.0.0.1", "-a=false", "w1")
    assert r.code == 0 and sorted(d["name"] for d in r.json) == ["centos", "debian", "ubuntu"]
