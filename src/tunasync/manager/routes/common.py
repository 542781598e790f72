"""Helpers the route modules share."""

from __future__ import annotations

from aiohttp import web

from ...models import WorkerStatus
from ..http import fail
from ..state import STATE, ManagerState


def state(request: web.Request) -> ManagerState:
    return request.app[STATE]


async def known_worker(request: web.Request) -> WorkerStatus:
    """Go's workerIDValidator: 400 `invalid workerID <id>` when `:id` is not registered."""
    worker_id = request.match_info["id"]
    w = await state(request).worker_or_none(worker_id)
    if w is None:
        raise fail(400, f"invalid workerID {worker_id}")
    return w
