"""Archive figures: workers post them per mirror, `GET /archive` lists them (DESIGN extra routes).

The figures are whatever the worker's archive tier reports (files and bytes per state, copies
histogram, next eviction); the manager stores and shows them without interpreting them.
"""

from __future__ import annotations

from aiohttp import web

from ..http import error_reply, json_reply, read_object
from .common import known_worker, state


async def post_archive(request: web.Request) -> web.Response:
    w = await known_worker(request)
    job = request.match_info["job"]
    figures = await read_object(request)
    try:
        await state(request).db.put_archive_stats(w.id, job, figures)
    except Exception as exc:
        return error_reply(500, f"failed to store archive figures of job {job} of worker {w.id}: {exc}")
    return json_reply(_entry(w.id, job, figures))


async def list_archive(request: web.Request) -> web.Response:
    try:
        rows = await state(request).db.list_archive_stats()
    except Exception as exc:
        return error_reply(500, f"failed to list archive figures: {exc}")
    return json_reply([_entry(w, m, figs) for w, m, figs in rows])


def _entry(worker_id: str, mirror_id: str, figures: dict) -> dict:
    # worker and name come from the route, never from the figures.
    return {"worker": worker_id, "name": mirror_id, **{k: v for k, v in figures.items() if k not in ("worker", "name")}}


def setup(app: web.Application) -> None:
    app.router.add_post("/workers/{id}/jobs/{job}/archive", post_archive)
    app.router.add_get("/archive", list_archive, allow_head=False)
