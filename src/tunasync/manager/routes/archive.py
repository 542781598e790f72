"""Archive figures: workers post them per mirror, `GET /archive` lists them (DESIGN extra routes).

The figures are what the worker's archive tier reports (files and bytes per state, copies
histogram, next eviction), checked against `models.archive.ArchiveFigures` (bounded, unknown keys
dropped); the manager stores and shows them without interpreting them further.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from ...models.archive import ArchiveFigures
from ..http import ARCHIVE_BODY, check_name, error_reply, fail, json_reply, read_object
from .common import known_worker, state


async def post_archive(request: web.Request) -> web.Response:
    w = await known_worker(request)
    job = request.match_info["job"]
    check_name(job)
    raw = await read_object(request, ARCHIVE_BODY)
    try:
        figures = ArchiveFigures.model_validate(raw).stored()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise fail(400, f"invalid archive figures: {where}: {first['msg']}") from None
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
