"""One run of a job (docs/compat.md §5.3): slot, pre-syncing, hooks, attempts, timeout, kill, final status.

Message sequences (retry = 2): success → pre-syncing, syncing, success; a failing command →
pre-syncing, (syncing, failed) × 2; a kill → pre-syncing, syncing, failed `killed by manager`;
a timeout → (syncing, failed `<name> timeout after <Go duration>`) per attempt.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ..models import SyncStatus
from .job import JobMessage, JobState
from .slots import Acquired

if TYPE_CHECKING:
    from .job import Job
    from .providers.base import Provider

log = logging.getLogger(__name__)

KILLED = "killed by manager"


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String() for a non-negative duration: `1h0m0s`, `7s`, `1m30s`, `1.5s`, `500ms`."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        ms = seconds * 1000
        return f"{ms:g}ms" if ms >= 1 else f"{seconds * 1e6:g}µs"
    whole = int(seconds)
    frac = round(seconds - whole, 9)
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    sec = f"{s + frac:.9f}".rstrip("0").rstrip(".") + "s"
    if h:
        return f"{h}h{m}m{sec}"
    if m:
        return f"{m}m{sec}"
    return sec


class _Silent(Exception):
    """Terminating the provider failed: Go ends the run without hooks or messages."""


async def run_once(job: Job, kill: asyncio.Event) -> None:
    bypass = job.slot_wait_started()
    try:
        got = await job.slots.acquire(bypass, kill)
    finally:
        job.slot_wait_ended()
    if got is Acquired.KILLED:
        return  # stopped while waiting for a slot: no message at all
    job.runs += 1
    if got is Acquired.BYPASS:
        log.info("concurrent limit ignored by %s", job.name)
    try:
        await _attempts(job, job.provider, kill)
    except _Silent:
        pass
    finally:
        job.slots.release(got)


async def _send(job: Job, status: SyncStatus, msg: str = "", schedule: bool = False) -> None:
    await job.send(JobMessage(status, job.name, msg, schedule))


async def _hooks(job: Job, p: Provider, point: str, backwards: bool = False) -> bool:
    """Run one hook point over the hook list; on failure report it (schedule=true) and return False."""
    hooks = reversed(p.hooks) if backwards else p.hooks
    for hook in list(hooks):
        try:
            await getattr(hook, point.replace("-", "_"))()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any hook failure fails the run, as Go's hook error does
            log.error("job %s: hook %s failed at %s: %s", job.name, type(hook).__name__, point, exc)
            await _send(job, SyncStatus.FAILED, f"error exec hook {point}: {exc}", True)
            return False
    return True


async def _attempts(job: Job, p: Provider, kill: asyncio.Event) -> None:
    await _send(job, SyncStatus.PRE_SYNCING)
    if not await _hooks(job, p, "pre-job"):
        return
    for attempt in range(p.retry):
        last = attempt == p.retry - 1
        if not await _hooks(job, p, "pre-exec"):
            return
        await _send(job, SyncStatus.SYNCING)
        error, killed = await _execute(job, p, kill)
        if not await _hooks(job, p, "post-exec", backwards=True):
            return
        if error is None:
            if not await _hooks(job, p, "post-success", backwards=True):
                return
            job.size = p.data_size or ""
            await _send(job, SyncStatus.SUCCESS, "", job.state is JobState.READY)
            return
        log.info("job %s attempt %d/%d failed: %s", job.name, attempt + 1, p.retry, error)
        if not await _hooks(job, p, "post-fail", backwards=True):
            return
        await _send(job, SyncStatus.FAILED, error, last and job.state is JobState.READY)
        if killed:
            return


def _error_text(run: asyncio.Future[None]) -> str | None:
    exc = run.exception()
    if exc is None:
        return None
    from .providers.base import ProviderError

    if not isinstance(exc, ProviderError):
        log.error("provider raised %r", exc, exc_info=exc)
    return str(exc) or type(exc).__name__


async def _execute(job: Job, p: Provider, kill: asyncio.Event) -> tuple[str | None, bool]:
    """Start the provider and wait for its end, the timeout (from `started`) or a kill."""
    started = asyncio.Event()
    run = asyncio.ensure_future(p.run(started.set))
    try:
        if not started.is_set():
            st = asyncio.ensure_future(started.wait())
            await asyncio.wait({run, st}, return_when=asyncio.FIRST_COMPLETED)
            st.cancel()
            if not started.is_set():
                return _error_text(run), False  # failed before starting, e.g. a missing binary
        if not run.done():
            kw = asyncio.ensure_future(kill.wait())
            timeout = p.timeout if p.timeout and p.timeout > 0 else None
            await asyncio.wait({run, kw}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            kw.cancel()
        if run.done():
            return _error_text(run), False
        killed = kill.is_set()
        try:
            await p.terminate()
        except Exception as exc:
            log.error("job %s: failed to terminate the provider: %s", job.name, exc)
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)
            raise _Silent() from exc
        await asyncio.gather(run, return_exceptions=True)
        if killed:
            return KILLED, True
        return f"{p.name} timeout after {go_duration(p.timeout)}", False
    except asyncio.CancelledError:
        if not run.done():
            try:
                await p.terminate()
            finally:
                run.cancel()
        raise
