"""Reload (docs/compat.md §4.13): re-read the same config path and reconcile the mirror list.

A config that fails to load is logged (file and key) and the old config keeps running. Otherwise:
- delete: disable the job (a running sync is killed), drop it, and (fixed, quirk 21) tell the
  managers it is `disabled`, so `tunasynctl flush` removes its record;
- modify: disable, rebuild, then previous state disabled → stays disabled; paused → task, not queued;
  otherwise → task, queued at now (Go's kill-and-re-run, kept: the new config takes effect at once);
- add: new job, queued at now.

Quirk 21 (fixed): modified mirrors are built with the NEW file's global settings, and when `[global]`
or a hook section changed, unchanged mirrors get providers built from the new file too, swapped in at
their next run (nothing running is killed for it). `[manager]`, `[server]` and `global.concurrent`
changes need a restart; the reload says so in the log.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..models import MirrorStatus, SyncStatus
from .job import JobState

if TYPE_CHECKING:
    from .worker import Worker

log = logging.getLogger(__name__)

_PROVIDER_SECTIONS = ("global_", "cgroup", "docker", "zfs", "btrfs_snapshot", "archive")
_RESTART_SECTIONS = ("manager", "server")


def _section(cfg: Any, name: str) -> Any:
    return getattr(cfg, name, None)


async def reload_worker(w: Worker) -> bool:
    from .config import diff_mirrors, load_worker_config

    path = w.cfg.path
    try:
        new = await asyncio.to_thread(load_worker_config, path)
    except ConfigError as exc:
        log.error("reload of %s failed, keeping the running config: %s", path, exc)
        return False
    async with w.lock:
        if w.halting:
            return False
        old = w.cfg
        if w.archive is not None:
            await w.archive.update(new)  # before any provider is rebuilt: the hooks read the new settings
        elif any(m.archive for m in new.mirrors):
            log.warning("reload: archive = true on a worker that started without archived mirrors; "
                        "the archive tier starts after a restart")
        changes = diff_mirrors(old.mirrors, new.mirrors)
        changed_names = {c.name for c in changes}
        for ch in changes:
            try:
                if ch.op == "delete":
                    await _delete(w, ch.name)
                elif ch.op == "modify":
                    await _modify(w, ch.new, new)
                else:
                    _add(w, ch.new, new)
            except Exception as exc:  # one bad mirror must not stop the others
                log.error("reload: cannot apply %s of mirror %s: %s", ch.op, ch.name, exc)
        if any(_section(old, s) != _section(new, s) for s in _PROVIDER_SECTIONS):
            for mirror in new.mirrors:
                job = w.jobs.get(mirror.name)
                if job is not None and mirror.name not in changed_names:
                    job.replace_provider(w.build(mirror, new))
        for s in _RESTART_SECTIONS:
            if _section(old, s) != _section(new, s):
                log.warning("reload: [%s] changed; it takes effect after a restart", s)
        if old.global_.concurrent != new.global_.concurrent:
            log.warning("reload: global.concurrent changed; it takes effect after a restart")
        # Keep the sections that need a restart as they run, so the next reload compares with them.
        w.cfg = new.model_copy(update={s: _section(old, s) for s in _RESTART_SECTIONS})
        log.info("reload of %s applied: %s", path, ", ".join(f"{c.op} {c.name}" for c in changes) or "no changes")
    await w.scheduler.post_schedules()
    return True


async def _delete(w: Worker, name: str) -> None:
    job = w.jobs.get(name)
    if job is None:
        return
    await w.disable_job(job)
    del w.jobs[name]
    w.scheduler.queue.remove(name)
    p = job.provider
    w.scheduler.reporter.status(MirrorStatus(
        name=name, worker=w.name, is_master=p.is_master, status=SyncStatus.DISABLED,
        upstream=p.upstream, size=job.size or "unknown"))


async def _modify(w: Worker, mirror: Any, cfg: Any) -> None:
    job = w.jobs.get(mirror.name)
    if job is None:
        _add(w, mirror, cfg)
        return
    provider = w.build(mirror, cfg)  # first: a build error leaves the old job untouched
    previous = job.state
    await w.disable_job(job)
    job.provider = provider
    if previous is JobState.DISABLED:
        job.state = JobState.DISABLED
        return
    if previous is JobState.PAUSED:
        job.state = JobState.PAUSED
        job.start_task()
        return
    job.state = JobState.NONE
    job.start_task()
    w.scheduler.queue.add(job.name, w.scheduler.now())


def _add(w: Worker, mirror: Any, cfg: Any) -> None:
    job = w.new_job(mirror, cfg)
    w.jobs[mirror.name] = job
    job.state = JobState.NONE
    job.start_task()
    w.scheduler.queue.add(job.name, w.scheduler.now())
