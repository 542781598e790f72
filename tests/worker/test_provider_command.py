"""The command provider (docs/compat.md §6.2)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from tests.worker.attemptkit import attempt, log_text, make_provider, poll
from tunasync.archive.exclude import write_rules_file
from tunasync.archive.shadow import reconcile
from tunasync.worker.providers.base import ProviderError
from tunasync.worker.providers.process import ARCHIVE_COMPARE_DEST_KEY, ARCHIVE_EXCLUDE_KEY


async def test_env_reaches_the_command(tmp_path):
    script = tmp_path / "env.sh"
    script.write_text('#!/bin/sh\necho "$TUNASYNC_WORKING_DIR"\necho "$TUNASYNC_MIRROR_NAME"\n'
                      'echo "$TUNASYNC_UPSTREAM_URL"\necho "$TUNASYNC_LOG_FILE"\necho "$AOSP_REPO_BIN"\n'
                      'echo "[$TUNASYNC_JOB_EXIT_STATUS]"\necho "$TUNASYNC_LOG_DIR"\n')
    script.chmod(0o755)
    p = make_provider(tmp_path, name="tuna-cmd", provider="command", upstream="http://mirrors.tuna.moe/",
                      command=f"{script}", env={"AOSP_REPO_BIN": "/usr/local/bin/repo"})
    log_files = []
    assert await attempt(p, started=lambda: log_files.append(p.log_file)) is None
    assert log_text(p).splitlines() == [
        p.working_dir, "tuna-cmd", "http://mirrors.tuna.moe/", log_files[0], "/usr/local/bin/repo", "[]", p.log_dir,
    ]
    assert Path(log_files[0]).name.startswith("tuna-cmd_")  # the time-stamped file, not latest.log


async def test_mirror_env_overrides_tunasync_vars(tmp_path):
    p = make_provider(tmp_path, provider="command", command="sh -c 'echo $TUNASYNC_MIRROR_NAME'",
                      env={"TUNASYNC_MIRROR_NAME": "mine"})
    assert await attempt(p) is None and log_text(p) == "mine\n"


async def test_success_exit_codes(tmp_path):
    p = make_provider(tmp_path, provider="command", command="sh -c 'exit 199'", success_exit_codes=[199, 200])
    assert await attempt(p) is None
    p = make_provider(tmp_path, provider="command", command="sh -c 'exit 201'", success_exit_codes=[199, 200])
    assert await attempt(p) == "exit status 201"


async def test_fail_on_match(tmp_path):
    cmd = "sh -c 'echo load average: 0.42, 0.40; echo fatal: no'"
    p = make_provider(tmp_path, provider="command", command=cmd, fail_on_match="[a-z]+")
    assert await attempt(p) == "Fail-on-match regexp found 4 matches"
    p = make_provider(tmp_path, provider="command", command=cmd, fail_on_match="load average_")
    assert await attempt(p) is None
    p = make_provider(tmp_path, provider="command", command=cmd, fail_on_match="^fatal: ")
    assert await attempt(p) is None  # no implicit multiline, as in RE2


async def test_size_pattern_last_match(tmp_path):
    cmd = "sh -c 'echo size-pack: 1.5G; echo load average: 0.42; echo size-pack: 3.25T'"
    p = make_provider(tmp_path, provider="command", command=cmd, size_pattern=r"size-pack: ([0-9\.]+[KMGTP])")
    assert await attempt(p) is None and p.data_size == "3.25T"
    p = make_provider(tmp_path, provider="command", command=cmd, size_pattern=r"load average: ([\d\.]+)")
    assert await attempt(p) is None and float(p.data_size) == 0.42
    p = make_provider(tmp_path, provider="command", command=cmd, size_pattern=r"load ave: ([\d\.]+)")
    assert await attempt(p) is None and p.data_size == ""


async def test_dev_null_log(tmp_path):
    """Go's tests use /dev/null as the log: fail_on_match then fails, size_pattern finds nothing."""
    p = make_provider(tmp_path, provider="command", command="echo hi", fail_on_match="x")
    p.context.set("log_file", "/dev/null")
    with pytest.raises(ProviderError, match="^invalid log file$"):
        await p.run(lambda: None)
    p = make_provider(tmp_path, provider="command", command="echo hi", size_pattern="(h)")
    p.context.set("log_file", "/dev/null")
    await p.run(lambda: None)
    assert p.data_size == ""


async def test_missing_program_and_terminate(tmp_path):
    p = make_provider(tmp_path, provider="command", command="no-such-program-x --flag")
    assert await attempt(p) == 'exec: "no-such-program-x": executable file not found in $PATH'
    assert "executable file not found" in log_text(p)  # the .fail log says why

    p = make_provider(tmp_path, provider="command", command="sleep 60")
    started = asyncio.Event()
    task = asyncio.create_task(attempt(p, started=started.set))
    await asyncio.wait_for(started.wait(), 10)
    await poll(p.is_running)
    await p.terminate()
    assert await asyncio.wait_for(task, 10) == "signal: terminated"
    assert not p.is_running()


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")
async def test_archive_rules_and_shadow_reach_a_script_rsync(tmp_path):
    """A command mirror's script hands the archive's rules file and shadow tree to its own rsync
    (docs/archive.md): an evicted file stays away, the other files sync."""
    up = tmp_path / "up"
    (up / "pool").mkdir(parents=True)
    for name in ("old.deb", "new.deb"):
        (up / "pool" / name).write_bytes(name.encode() * 100)
        os.utime(up / "pool" / name, ns=(1_500_000_000_000_000_000,) * 2)
    rules, shadow = tmp_path / "exclude.txt", tmp_path / "evicted"
    write_rules_file(str(rules), ".tunasync-")
    reconcile(str(shadow), [("pool/old.deb", 700, 1_500_000_000_000_000_000)])
    script = tmp_path / "sync.sh"
    script.write_text('#!/bin/sh\nexec rsync -a --delete --exclude-from "$TUNASYNC_ARCHIVE_EXCLUDE" '
                      f'--compare-dest "$TUNASYNC_ARCHIVE_COMPARE_DEST" --no-perms {up}/ "$TUNASYNC_WORKING_DIR/"\n')
    script.chmod(0o755)
    p = make_provider(tmp_path, provider="command", command=str(script))
    p.context.set(ARCHIVE_EXCLUDE_KEY, str(rules))
    p.context.set(ARCHIVE_COMPARE_DEST_KEY, str(shadow))
    assert await attempt(p) is None, log_text(p)
    assert sorted(os.listdir(Path(p.working_dir) / "pool")) == ["new.deb"]
