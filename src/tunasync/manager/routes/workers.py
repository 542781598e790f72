"""Worker registry routes: `GET /workers`, `POST /workers`, `DELETE /workers/:id` (docs/compat.md §3.4 4–6)."""

from __future__ import annotations

import logging

from aiohttp import web

from ...log import notice
from ...models import WorkerStatus, timefmt
from ...models.status import COMMAND_AUTH_BEARER, COMMAND_AUTH_HEADER
from .. import workerurl
from ..auth import IDENTITY
from ..http import SMALL_BODY, check_name, error_reply, fail, json_reply, message_reply, read_model
from .common import known_worker, state

log = logging.getLogger("tunasync.manager")


async def list_workers(request: web.Request) -> web.Response:
    try:
        workers = await state(request).db.list_workers()
    except Exception as exc:
        return error_reply(500, f"failed to list workers: {exc}")
    if not workers:
        return json_reply(None)  # quirk 2 kept: Go answers null, tunasynctl prints it
    workers.sort(key=lambda w: w.id)
    return json_reply([{**w.to_go(), "token": "REDACTED"} for w in workers])


async def register_worker(request: web.Request) -> web.Response:
    w = await read_model(request, WorkerStatus, SMALL_BODY)
    if not w.id:
        raise fail(400, "worker ID should not be empty")
    check_name(w.id, "worker ID")
    ident = request.get(IDENTITY)
    if ident is not None:
        refused = ident.refusal(w.id)
        if refused is not None:
            raise fail(403, refused)
    networks = workerurl.parse_networks(state(request).config.auth.worker_networks)
    try:
        await workerurl.check_registration(w.url, networks)
    except workerurl.BadWorkerURL as exc:
        raise fail(400, f"invalid worker URL {w.url!r}: {exc}") from None
    now = timefmt.now()
    w = w.model_copy(update={"last_online": now, "last_register": now})
    try:
        await state(request).db.create_worker(w)
    except Exception as exc:
        return error_reply(500, f"failed to register worker: {exc}")
    notice(log, "Worker %s registered", w.id)
    reply = json_reply(w.to_go())  # Go's JSON, unchanged; the header says we forward the worker's token
    reply.headers[COMMAND_AUTH_HEADER] = COMMAND_AUTH_BEARER
    return reply


async def delete_worker(request: web.Request) -> web.Response:
    w = await known_worker(request)
    try:
        await state(request).db.delete_worker(w.id)
    except Exception as exc:
        return error_reply(500, f"failed to delete worker: {exc}")
    # Quirk 10 kept: its status records stay (the documented procedure flushes them first).
    notice(log, "Worker %s deleted", w.id)
    return message_reply("deleted")


def setup(app: web.Application) -> None:
    app.router.add_get("/workers", list_workers, allow_head=False)
    app.router.add_post("/workers", register_worker)
    app.router.add_delete("/workers/{id}", delete_worker)
