"""Status routes (docs/compat.md §3.4 2, 3, 7–10): the public feed and what workers post."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from ...log import notice
from ...models import MirrorSchedules, MirrorSize, MirrorStatus, SyncStatus, timefmt
from ..db.base import NotFound, dump_model
from ..http import (
    SCHEDULES_BODY,
    SMALL_BODY,
    check_name,
    error_reply,
    fail,
    json_reply,
    message_reply,
    raw_json,
    read_model,
    read_status,
)
from ..precedence import finished_run, merge_status, with_schedule, with_size
from .common import known_worker, state

log = logging.getLogger("tunasync.manager")


async def list_all_jobs(request: web.Request) -> web.Response:
    try:
        body = await state(request).jobs.body()
    except Exception as exc:
        return error_reply(500, f"failed to list all mirror status: {exc}")
    return raw_json(body)  # `[]` when empty (quirk 2: only /workers lists answer null)


async def flush_disabled(request: web.Request) -> web.Response:
    st = state(request)
    try:
        removed = await st.db.flush_disabled_jobs()
    except Exception as exc:
        return error_reply(500, f"failed to flush disabled jobs: {exc}")
    for worker_id, mirror_id in removed:
        await st.status_changed(worker_id, mirror_id, None)
    return message_reply("flushed")


async def list_worker_jobs(request: web.Request) -> web.Response:
    w = await known_worker(request)
    try:
        statuses = await state(request).db.list_mirror_status(w.id)
    except Exception as exc:
        return error_reply(500, f"failed to list jobs of worker {w.id}: {exc}")
    if not statuses:
        return json_reply(None)  # quirk 2/13 kept: Go answers null for a worker without jobs
    statuses.sort(key=lambda s: s.name)
    return json_reply([s.to_go() for s in statuses])


async def update_job(request: web.Request) -> web.Response:
    w = await known_worker(request)
    posted = await read_status(request)
    # Quirk 8 kept: the name comes from the body, the :job segment is ignored.
    name = posted.name
    if not name:
        raise fail(400, "mirror Name should not be empty")  # Go carries on here; we stop
    check_name(name)
    st = state(request)
    await st.refresh_worker(w.id)
    async with st.lock(w.id, name):
        try:
            cur: MirrorStatus | None = await st.db.get_mirror_status(w.id, name)
        except NotFound:
            cur = None
        now = timefmt.now()
        new = merge_status(cur, posted, now)
        encoded = dump_model(new)
        run = finished_run(w.id, name, new, now)
        try:
            if run is None:
                await st.db.update_mirror_status(w.id, name, new, encoded)
            else:
                # Queued together, so the status and its history entry share one commit.
                stored, added = await asyncio.gather(
                    st.db.update_mirror_status(w.id, name, new, encoded),
                    st.db.add_run(w.id, name, run, st.config.history.keep),
                    return_exceptions=True,
                )
                if isinstance(stored, BaseException):
                    raise stored
                if isinstance(added, BaseException):
                    log.error("cannot record run of %s @%s: %s", name, w.id, added)
        except Exception as exc:
            return error_reply(500, f"failed to update job {name} of worker {w.id}: {exc}")
    if cur is None or cur.status != new.status:
        if new.status == SyncStatus.SYNCING:
            notice(log, "Job [%s] @<%s> starts syncing", name, w.id)
        else:
            notice(log, "Job [%s] @<%s> %s", name, w.id, new.status.value)
    await st.status_changed(w.id, name, new)
    return raw_json(encoded.encode("utf-8"))


async def update_size(request: web.Request) -> web.Response:
    w = await known_worker(request)
    body = await read_model(request, MirrorSize, SMALL_BODY)
    st = state(request)
    await st.refresh_worker(w.id)
    name = body.name  # quirk 8 kept: from the body
    async with st.lock(w.id, name):
        try:
            cur = await st.db.get_mirror_status(w.id, name)
        except NotFound as exc:
            return error_reply(500, str(exc))
        new = with_size(cur, body.size)
        try:
            await st.db.update_mirror_status(w.id, name, new)
        except Exception as exc:
            return error_reply(500, f"failed to update job {name} of worker {w.id}: {exc}")
    notice(log, "Mirror size of [%s] @<%s>: %s", name, w.id, new.size)
    await st.status_changed(w.id, name, new)
    return json_reply(new.to_go())


async def update_schedules(request: web.Request) -> web.Response:
    w = await known_worker(request)
    body = await read_model(request, MirrorSchedules, SCHEDULES_BODY)
    entries = body.schedules or []
    if any(not e.name for e in entries):
        # Go writes this 400, then carries on and appends `{}` to the body; we reject the post whole.
        raise fail(400, "mirror Name should not be empty")
    st = state(request)
    if entries:
        await st.refresh_worker(w.id)
    for e in entries:
        async with st.lock(w.id, e.name):
            try:
                cur = await st.db.get_mirror_status(w.id, e.name)
            except NotFound:
                log.info("schedule for unknown job %s @%s skipped", e.name, w.id)
                continue
            new = with_schedule(cur, e.next_schedule)
            if new is None:
                continue
            try:
                await st.db.update_mirror_status(w.id, e.name, new)
            except Exception as exc:
                return error_reply(500, f"failed to update job {e.name} of worker {w.id}: {exc}")
        await st.status_changed(w.id, e.name, new)
    return json_reply({})


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/jobs", list_all_jobs, allow_head=False)
    r.add_delete("/jobs/disabled", flush_disabled)
    r.add_get("/workers/{id}/jobs", list_worker_jobs, allow_head=False)
    r.add_post("/workers/{id}/jobs/{job}", update_job)
    r.add_post("/workers/{id}/jobs/{job}/size", update_size)
    r.add_post("/workers/{id}/schedules", update_schedules)
