"""Archive figures: workers post them per mirror, `GET /archive` lists them (docs/architecture.md, extra manager routes).

The figures are what the worker's archive tier reports (files and bytes per state, copies
histogram, next eviction), checked against `models.archive.ArchiveFigures` (bounded, unknown keys
dropped); the manager stores and shows them without interpreting them further.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from ...models.archive import ArchiveFigures
from ..db.base import HISTORY_DAYS, hour_of
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


async def archive_history(request: web.Request) -> web.Response:
    """`GET /archive/history[?mirror=NAME][&worker=ID][&days=D][&step=H]`: hourly points (or one per H hours) of every archived mirror,
    oldest first: bytes and files on local disk and on Filecoin, evicted bytes (public, like /archive)."""
    q = request.query
    raw = q.get("days", "")
    try:
        days = float(raw) if raw else float(HISTORY_DAYS)
    except ValueError:
        raise fail(400, f"days must be a number, not {raw!r}") from None
    if not 0 < days <= HISTORY_DAYS:
        raise fail(400, f"days must be more than 0 and at most {HISTORY_DAYS}, not {raw}")
    raw = q.get("step", "")
    try:
        step = int(raw) if raw else 1
    except ValueError:
        raise fail(400, f"step must be a whole number of hours, not {raw!r}") from None
    if not 1 <= step <= HISTORY_DAYS * 24:
        raise fail(400, f"step must be from 1 to {HISTORY_DAYS * 24} hours, not {step}")
    mirror, worker = q.get("mirror"), q.get("worker")
    since = hour_of(time.time() - days * 86400)
    try:
        rows = await state(request).db.list_archive_history(since)
    except Exception as exc:
        return error_reply(500, f"failed to list archive history: {exc}")
    return json_reply([{"worker": w, "name": m, "points": _thin(pts, step)} for w, m, pts in rows
                       if (mirror is None or m == mirror) and (worker is None or w == worker)])


def _thin(points: list[dict[str, int]], step: int) -> list[dict[str, int]]:
    """One point per `step` hours: the last of each span (figures are levels, not sums)."""
    if step == 1:
        return points
    out: dict[int, dict[str, int]] = {}
    for p in points:
        out[int(p.get("t", 0)) // (step * 3600)] = p
    return list(out.values())


def _entry(worker_id: str, mirror_id: str, figures: dict[str, Any]) -> dict[str, Any]:
    # worker and name come from the route, never from the figures.
    return {"worker": worker_id, "name": mirror_id, **{k: v for k, v in figures.items() if k not in ("worker", "name")}}


def setup(app: web.Application) -> None:
    app.router.add_post("/workers/{id}/jobs/{job}/archive", post_archive)
    app.router.add_get("/archive", list_archive, allow_head=False)
    app.router.add_get("/archive/history", archive_history, allow_head=False)
