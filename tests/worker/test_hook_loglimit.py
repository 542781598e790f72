"""The log limiter (docs/compat.md §7.1): time-stamped logs, keep 10, `latest`, `.fail`, own files only."""

from __future__ import annotations

import os
from datetime import datetime

from tests.worker.attemptkit import attempt, make_provider
from tunasync.worker.hooks.loglimit import LogLimitHook

NOW = datetime(2026, 3, 1, 12, 34, 56)


def old_log(log_dir, name: str, i: int) -> str:
    path = log_dir / f"{name}_2025-01-{i + 1:02d}_00_00.log"
    path.write_text(f"old {i}\n")
    os.utime(path, (1_700_000_000 + i * 60, 1_700_000_000 + i * 60))
    return path.name


def use_clock(p, now=NOW):
    hook = p.hooks[0]
    assert isinstance(hook, LogLimitHook)
    hook.now = lambda: now


async def test_keeps_the_ten_newest_and_only_touches_its_own_logs(tmp_path):
    p = make_provider(tmp_path, name="tuna-loglimit", provider="command", command="echo hello",
                      global_={"log_dir": str(tmp_path / "shared")})
    use_clock(p)
    log_dir = tmp_path / "shared"
    log_dir.mkdir()
    olds = [old_log(log_dir, "tuna-loglimit", i) for i in range(15)]
    # Another mirror whose name starts with this one, in the same dir (quirk 25: Go deleted these).
    others = [old_log(log_dir, "tuna-loglimit-cd", i) for i in range(3)]
    (log_dir / "tuna-loglimit-notes.txt").write_text("keep me")
    assert await attempt(p) is None
    mine = sorted(n for n in os.listdir(log_dir) if n.startswith("tuna-loglimit_"))
    assert len(mine) == 10
    assert mine == sorted(olds[-9:] + ["tuna-loglimit_2026-03-01_12_34.log"])
    assert all((log_dir / n).exists() for n in others) and (log_dir / "tuna-loglimit-notes.txt").exists()
    assert os.readlink(log_dir / "latest") == "tuna-loglimit_2026-03-01_12_34.log"  # relative
    assert (log_dir / "latest").read_text() == "hello\n"
    assert p.context.depth == 1 and p.log_file == str(log_dir / "latest.log")


async def test_failure_renames_to_fail_and_repoints_latest(tmp_path):
    p = make_provider(tmp_path, provider="command", command="sh -c 'echo broken; exit 3'")
    use_clock(p)
    assert await attempt(p) == "exit status 3"
    log_dir = tmp_path / "log" / "m"
    assert os.readlink(log_dir / "latest") == "m_2026-03-01_12_34.log.fail"
    assert (log_dir / "m_2026-03-01_12_34.log.fail").read_text() == "broken\n"
    assert not (log_dir / "m_2026-03-01_12_34.log").exists()
    assert p.context.depth == 1
    # .fail files count towards the ten kept
    for i in range(12):
        old_log(log_dir, "m", i)
    use_clock(p, NOW.replace(minute=35))
    assert await attempt(p) == "exit status 3"
    names = [n for n in os.listdir(log_dir) if n.startswith("m_")]
    assert len(names) == 10 and "m_2026-03-01_12_34.log.fail" in names and "m_2026-03-01_12_35.log.fail" in names


async def test_log_dir_is_created_and_link_dangles_until_start(tmp_path):
    p = make_provider(tmp_path, provider="command", command="true")
    hook = p.hooks[0]
    await hook.pre_exec()
    log_dir = tmp_path / "log" / "m"
    assert log_dir.is_dir() and (log_dir / "latest").is_symlink() and not (log_dir / "latest").exists()
    assert p.log_file.startswith(str(log_dir / "m_")) and p.log_file.endswith(".log")
    await hook.post_success()
    assert p.context.depth == 1
