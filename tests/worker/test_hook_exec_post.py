"""exec_on_success / exec_on_failure (docs/compat.md §7.6)."""

from __future__ import annotations

import pytest

from tests.worker.attemptkit import attempt, make_provider
from tunasync.worker.hooks.base import HookError
from tunasync.worker.hooks.exec_post import ExecPostHook

SPEC_HOOK = "bash -c 'echo ${TUNASYNC_JOB_EXIT_STATUS} > ${TUNASYNC_WORKING_DIR}/exit_status'"


async def test_exit_status_file_after_success_and_failure(tmp_path):
    p = make_provider(tmp_path, provider="command", command="true", exec_on_success=[SPEC_HOOK],
                      exec_on_failure=[SPEC_HOOK])
    assert await attempt(p) is None
    assert (tmp_path / "mirrors" / "m" / "exit_status").read_text() == "success\n"
    p = make_provider(tmp_path, provider="command", command="false", exec_on_success=[SPEC_HOOK],
                      exec_on_failure=[SPEC_HOOK])
    assert await attempt(p) == "exit status 1"
    assert (tmp_path / "mirrors" / "m" / "exit_status").read_text() == "failure\n"


async def test_environment_cwd_and_no_mirror_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FROM_WORKER", "w")
    out = tmp_path / "hook.out"
    hook = (f"sh -c 'pwd > {out}; echo \"$TUNASYNC_MIRROR_NAME|$TUNASYNC_UPSTREAM_URL|$TUNASYNC_LOG_DIR|"
            f"$TUNASYNC_LOG_FILE|$FROM_WORKER|$MIRROR_ONLY\" >> {out}'")
    p = make_provider(tmp_path, provider="command", command="sh -c 'exit 2'", upstream="http://up/",
                      env={"MIRROR_ONLY": "secret"}, exec_on_failure=[hook])
    seen = []
    assert await attempt(p, started=lambda: seen.append(p.log_file)) == "exit status 2"
    cwd, values = out.read_text().splitlines()
    assert cwd == str(tmp_path)  # the worker's cwd, not the mirror dir
    # The time-stamped log (not yet renamed .fail), no mirror env (quirk 26, kept)
    assert values == f"m|http://up/|{p.log_dir}|{seen[0]}|w|"


async def test_hooks_run_backwards_later_commands_first(tmp_path):
    order = tmp_path / "order"
    cmds = {n: f"sh -c 'echo {n} >> {order}'" for n in "abc"}
    p = make_provider(tmp_path, provider="command", command="true",
                      exec_on_success=[cmds["a"], cmds["b"]], exec_on_success_extra=[cmds["c"]])
    assert await attempt(p) is None
    assert order.read_text().split() == ["c", "b", "a"]  # quirk 26, kept: Go's order


async def test_failing_hook_and_invalid_command(tmp_path):
    p = make_provider(tmp_path, provider="command", command="true", exec_on_success=["sh -c 'exit 3'"])
    with pytest.raises(HookError, match="^exit status 3$"):
        await attempt(p)
    with pytest.raises(HookError, match="^Invalid Command$"):
        await ExecPostHook(p, "success", []).post_success()
    # a failure hook is silent on success and vice versa
    await ExecPostHook(p, "failure", ["false"]).post_success()
    await ExecPostHook(p, "success", ["false"]).post_fail()  # no HookError: not its point
