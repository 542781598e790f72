"""`POST /cmd` (docs/compat.md §3.4 11): record stop/disable, then forward a WorkerCmd to the worker."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiohttp import web

from ...log import notice
from ...models import ClientCmd, WorkerCmd
from ..client import post_command, target
from ..db.base import NotFound
from ..http import CMD_BODY, check_name, error_reply, json_reply, read_model
from ..precedence import with_command
from ..workerurl import BadWorkerURL
from .common import state

log = logging.getLogger("tunasync.manager")


async def post_cmd(request: web.Request) -> web.Response:
    cmd = await read_model(request, ClientCmd, CMD_BODY)  # quirk 7 kept: an unknown or missing verb is `start`
    if not cmd.worker_id:
        return web.Response(status=500)  # quirk 6 kept: Go answers 500 with an empty body
    if cmd.mirror_id:
        check_name(cmd.mirror_id)  # stop/disable store a record under it
    st = state(request)
    worker = await st.worker_or_none(cmd.worker_id)
    if worker is None:
        return error_reply(400, f"worker {cmd.worker_id} is not registered yet")
    try:
        where = target(st.config, worker)
    except BadWorkerURL as exc:
        return error_reply(400, f"worker {worker.id} has a URL the manager no longer uses ({exc}): "
                                "it must register again")
    verb = cmd.cmd.value
    async with st.lock(cmd.worker_id, cmd.mirror_id):
        try:
            cur = await st.db.get_mirror_status(cmd.worker_id, cmd.mirror_id)
        except NotFound:
            cur = None
        new = with_command(cur, verb)
        if new is not None:
            try:
                await st.db.update_mirror_status(cmd.worker_id, cmd.mirror_id, new)
            except Exception as exc:
                return error_reply(500, f"failed to update job {cmd.mirror_id} of worker {cmd.worker_id}: {exc}")
    if new is not None:
        await st.status_changed(cmd.worker_id, cmd.mirror_id, new)
    notice(log, "Posting command '%s %s' to %s", verb, cmd.mirror_id, cmd.worker_id)
    wcmd = WorkerCmd(cmd=cmd.cmd, mirror_id=cmd.mirror_id, args=cmd.args, options=cmd.options)
    assert st.client is not None, "manager HTTP client not started"
    try:
        status = await post_command(st.client, where, worker, wcmd)
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, asyncio.TimeoutError):
            reason = "timeout after 5s (Client.Timeout exceeded)"
        return error_reply(500, f"post command to worker {worker.id}({worker.url}) fail: {reason}")
    if status >= 400:
        # Quirk 4 kept: the reply is still success (reload always gets a worker 404 in Go).
        log.info("worker %s answered %d to '%s %s'", worker.id, status, verb, cmd.mirror_id)
    return json_reply({"message": f"successfully send command to worker {worker.id}"})


def setup(app: web.Application) -> None:
    app.router.add_post("/cmd", post_cmd)
