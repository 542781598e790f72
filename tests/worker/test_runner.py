"""Job processes (docs/compat.md §5.4): cwd, env, log file, Go exit texts, and whole-group termination (quirk 36)."""

from __future__ import annotations

import stat

import pytest

from tests.worker.attemptkit import file_text, poll
from tunasync.worker.runner import JobProcess, ProcessSpec, StartError, exit_text, failure


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie is dead: init here may be slow to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


async def wait_for_file(path) -> str:
    return await poll(lambda: file_text(path))


async def run(spec: ProcessSpec) -> int:
    p = JobProcess(spec)
    await p.start()
    return await p.wait()


def test_go_exit_texts():
    assert exit_text(3) == "exit status 3"
    assert exit_text(-15) == "signal: terminated" and exit_text(-9) == "signal: killed"
    assert exit_text(-2) == "signal: interrupt" and exit_text(-11) == "signal: segmentation fault"
    assert failure(0) is None and failure(23, [23, 24]) is None and failure(25, [23]) == "exit status 25"
    assert failure(-9, [-1]) is None  # Go's ExitCode() is -1 for a signal death


async def test_cwd_env_stdin_and_log(tmp_path, monkeypatch):
    monkeypatch.setenv("INHERITED", "worker")
    monkeypatch.setenv("REPLACED", "worker")
    work, log = tmp_path / "a" / "b", tmp_path / "job.log"
    script = 'pwd; echo "$INHERITED $REPLACED $ADDED"; cat; echo err >&2'
    rc = await run(ProcessSpec(["sh", "-c", script], str(log), cwd=str(work), env={"REPLACED": "job", "ADDED": "x"}))
    assert rc == 0
    assert log.read_text() == f"{work}\nworker job x\nerr\n"  # cat read /dev/null: nothing, no hang
    assert stat.S_IMODE(work.stat().st_mode) == 0o755
    assert stat.S_IMODE(log.stat().st_mode) == 0o644


async def test_log_is_truncated_and_append_mode_appends(tmp_path):
    log = tmp_path / "job.log"
    log.write_text("an old and much longer run\n" * 10)
    await run(ProcessSpec(["echo", "new"], str(log), cwd=str(tmp_path)))
    assert log.read_text() == "new\n"  # quirk 25 (fixed): no old tail behind the new output
    await run(ProcessSpec(["echo", "stage2"], str(log), cwd=str(tmp_path), append=True))
    assert log.read_text() == "new\nstage2\n"


async def test_missing_program_has_gos_text_and_logs_it(tmp_path):
    log = tmp_path / "job.log"
    with pytest.raises(StartError, match=r'^exec: "no-such-program-x": executable file not found in \$PATH$'):
        await run(ProcessSpec(["no-such-program-x"], str(log), cwd=str(tmp_path)))
    assert "executable file not found" in log.read_text()
    with pytest.raises(StartError, match="^fork/exec /nonexistent/prog: no such file or directory$"):
        await run(ProcessSpec(["/nonexistent/prog"], str(log), cwd=str(tmp_path)))


async def test_terminate_kills_the_whole_group(tmp_path):
    """Go SIGTERMed only the direct child; a backgrounded grandchild survived (quirk 36, fixed)."""
    pidfile = tmp_path / "gc.pid"
    p = JobProcess(ProcessSpec(["sh", "-c", f"sleep 1000 & echo $! > {pidfile}; wait"], str(tmp_path / "log"),
                               cwd=str(tmp_path)))
    await p.start()
    grandchild = int(await wait_for_file(pidfile))
    assert alive(grandchild)
    await p.terminate()
    assert exit_text(p.returncode) == "signal: terminated"  # TERM sufficed, no SIGKILL needed
    assert not alive(grandchild)
    assert not p.is_running()


async def test_terminate_escalates_to_sigkill_for_term_trappers(tmp_path):
    """The child dies on TERM but its grandchild ignores it: SIGKILL to the group after 2 s."""
    pidfile = tmp_path / "gc.pid"
    script = f"sh -c 'trap \"\" TERM; echo $$ > {pidfile}; while :; do sleep 0.1; done' & wait"
    p = JobProcess(ProcessSpec(["sh", "-c", script], str(tmp_path / "log"), cwd=str(tmp_path)))
    await p.start()
    grandchild = int(await wait_for_file(pidfile))
    await p.terminate()
    assert not alive(grandchild)

    # A child that itself ignores TERM is killed too: Go's `signal: killed`.
    ready = tmp_path / "ready"
    p = JobProcess(ProcessSpec(["sh", "-c", f"trap '' TERM; echo 1 > {ready}; while :; do sleep 0.1; done"],
                               str(tmp_path / "log2"), cwd=str(tmp_path)))
    await p.start()
    await wait_for_file(ready)
    await p.terminate(grace=0.5)
    assert exit_text(p.returncode) == "signal: killed"


async def test_terminate_when_idle_is_a_noop(tmp_path):
    p = JobProcess(ProcessSpec(["true"], str(tmp_path / "log"), cwd=str(tmp_path)))
    await p.terminate()  # never started
    await p.start()
    assert await p.wait() == 0
    await p.terminate()  # already finished
    assert p.returncode == 0
