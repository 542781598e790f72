"""`GET /workers/:id/jobs/:job/history`: the last runs of a mirror, newest first (docs/architecture.md, extra manager routes)."""

from __future__ import annotations

from aiohttp import web

from ..http import error_reply, fail, json_reply
from .common import known_worker, state


async def job_history(request: web.Request) -> web.Response:
    w = await known_worker(request)
    job = request.match_info["job"]
    st = state(request)
    keep = st.config.history.keep
    raw = request.query.get("limit", "")
    try:
        limit = int(raw) if raw else keep
    except ValueError:
        raise fail(400, f"limit must be an integer, not {raw!r}") from None
    if limit < 1:
        raise fail(400, f"limit must be at least 1, not {limit}")
    try:
        runs = await st.db.list_runs(w.id, job, min(limit, keep))
    except Exception as exc:
        return error_reply(500, f"failed to list runs of job {job} of worker {w.id}: {exc}")
    return json_reply([r.to_json() for r in runs])  # new route: `[]`, not Go's null, when empty


STRIP_RUNS = 30  # what the status page draws per mirror


async def all_history(request: web.Request) -> web.Response:
    """`GET /history[?limit=N]`: the last runs of every mirror of every worker, newest first per mirror,
    in one answer for the status page's history strips (a read like the per-job history)."""
    st = state(request)
    keep = st.config.history.keep
    raw = request.query.get("limit", "")
    try:
        limit = int(raw) if raw else min(STRIP_RUNS, keep)
    except ValueError:
        raise fail(400, f"limit must be an integer, not {raw!r}") from None
    if limit < 1:
        raise fail(400, f"limit must be at least 1, not {limit}")
    try:
        items = await st.db.list_mirror_status_items()
        out = []
        for w, m, _s in sorted(items, key=lambda t: (t[1], t[0])):
            runs = await st.db.list_runs(w, m, min(limit, keep))
            out.append({"worker": w, "name": m, "runs": [r.to_json() for r in runs]})
    except Exception as exc:
        return error_reply(500, f"failed to list run history: {exc}")
    return json_reply(out)


def setup(app: web.Application) -> None:
    app.router.add_get("/workers/{id}/jobs/{job}/history", job_history, allow_head=False)
    app.router.add_get("/history", all_history, allow_head=False)
