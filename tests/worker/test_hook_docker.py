"""The docker hook (docs/compat.md §7.4), against the stand-in `docker` of tests/worker/stand-ins placed first
on PATH (no docker daemon runs on the test host). The stand-in records its argv and runs the command
after the image on the host, with only the -e variables, in the -w directory."""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.worker.attemptkit import attempt, log_text, make_provider, poll
from tunasync.worker.config_models import CgroupConfig, DockerConfig
from tunasync.worker.hooks.docker import DockerHook

IMAGE = "tunathu/tunasync-scripts:latest"


@pytest.fixture
def docker(stand_ins, monkeypatch):
    monkeypatch.setenv("STANDIN_DOCKER_IMAGE", IMAGE)
    monkeypatch.setenv("HOSTVAR", "host-only")
    return stand_ins


def docker_provider(tmp_path, **mirror):
    sections = {"docker": DockerConfig(enable=True, volumes=["/g:/g:ro"], options=["--cpus", "2"]),
                "cgroup": CgroupConfig(enable=True, group="unused")}
    return make_provider(tmp_path, {}, sections, docker_image=IMAGE, **mirror)


async def test_run_argv_env_and_output(tmp_path, docker):
    ex = tmp_path / "exclude.txt"
    ex.write_text("*.tmp\n")
    p = docker_provider(tmp_path, provider="command", upstream="http://up/",
                        command="sh -c 'echo in-container $FOO; pwd; echo HOSTVAR=$HOSTVAR'",
                        env={"FOO": "bar"}, docker_volumes=["/m:/m"], docker_options=["--dns", "9.9.9.9"],
                        memory_limit="512M", exclude_file=str(ex))
    assert [type(h) for h in p.hooks][1:] == [DockerHook]  # docker replaces the cgroup hook
    seen = []
    assert await attempt(p, started=lambda: seen.append(p.log_file)) is None
    wd, log_dir, log_file = p.working_dir, p.log_dir, seen[0]
    run = docker.calls("docker")[0]
    env = ["TUNASYNC_MIRROR_NAME=m", f"TUNASYNC_WORKING_DIR={wd}", "TUNASYNC_UPSTREAM_URL=http://up/",
           f"TUNASYNC_LOG_DIR={log_dir}", f"TUNASYNC_LOG_FILE={log_file}", "FOO=bar"]
    assert run == [
        "run", "--rm", "-a", "STDOUT", "-a", "STDERR", "--name", "tunasync-job-m", "-w", wd,
        "-u", f"{os.getuid()}:{os.getgid()}",
        "-v", "/g:/g:ro", "-v", "/m:/m", "-v", f"{ex}:{ex}:ro",
        "-v", f"{log_dir}:{log_dir}", "-v", f"{log_file}:{log_file}", "-v", f"{wd}:{wd}",
        *[x for kv in env for x in ("-e", kv)],
        "-m", "536870912", "--cpus", "2", "--dns", "9.9.9.9", IMAGE,
        "sh", "-c", "echo in-container $FOO; pwd; echo HOSTVAR=$HOSTVAR",
    ]
    # The host environment does not reach the container; output lands in the job log.
    assert log_text(p).splitlines() == ["in-container bar", wd, "HOSTVAR="]
    assert docker.calls("docker")[1][:4] == ["ps", "-a", "--filter", "name=^tunasync-job-m$"]
    assert p.context.depth == 1


async def test_terminate_uses_docker_stop(tmp_path, docker):
    p = docker_provider(tmp_path, provider="command", command="sleep 60")
    started = asyncio.Event()
    task = asyncio.create_task(attempt(p, started=started.set))
    await asyncio.wait_for(started.wait(), 10)
    container = docker.state / "containers" / "tunasync-job-m"
    await poll(container.exists)
    await p.terminate()
    err = await asyncio.wait_for(task, 15)
    assert err == "exit status 143"  # the container's exit code for SIGTERM, as docker run reports it
    assert ["stop", "-t", "2", "tunasync-job-m"] in docker.calls("docker")
    assert not container.exists()


async def test_post_exec_waits_for_the_container_then_warns(tmp_path, docker, caplog):
    p = docker_provider(tmp_path, provider="command", command="true")
    hook = next(h for h in p.hooks if isinstance(h, DockerHook))
    hook.poll_interval = 0.01
    await hook.pre_exec()
    (docker.state / "containers").mkdir(exist_ok=True)
    (docker.state / "containers" / "tunasync-job-m").write_text("1")  # a container that never goes
    await hook.post_exec()  # never fails
    assert len([c for c in docker.calls("docker") if c[0] == "ps"]) == 10
    assert "still exists" in caplog.text and p.context.depth == 1
