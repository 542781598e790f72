"""The status page at `GET /` and `install(app)`, which adds every operator route to a manager app.

The page is static HTML + CSS + JS under `static/` (no build step, no CDN); it is served as one
document with the style and scripts inlined, so `GET /` is the only public route it needs even when
tokens are on. The script reads `GET /jobs` and `GET /archive` relative to the page's URL (so a
reverse proxy may mount the manager under a prefix); `?api=URL` points it at another manager.
`GET /history` (run history: a read when tokens are on) and `GET /archive/history` add the pictures.

`GET /mirror/{name}` is one mirror's page: a section per worker carrying it. Its statuses (with the
last error, which `/jobs` leaves out) are written into the page; history, figures and points are
fetched by the page like the status page's.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any

from aiohttp import web

from . import metrics, mirrorz, status_file
from .state import STATE

DEFAULT_TITLE = "Mirror status"


def _static(name: str) -> str:
    return (resources.files("tunasync.manager") / "static" / name).read_text(encoding="utf-8")


def _assemble(page: str, script: str, title: str, data: str = "") -> bytes:
    # Fill the markers the assets never contain first; the title and data (which might) last.
    page = page.replace("__STYLE__", _static("status.css")).replace("__CHARTS__", _static("charts.js"))
    page = page.replace("__SCRIPT__", script).replace("__TITLE__", html.escape(title))
    return page.replace("__DATA__", data).encode("utf-8")


def render_page(title: str = DEFAULT_TITLE) -> bytes:
    """The status page as one HTML document."""
    return _assemble(_static("index.html"), _static("status.js"), title)


def script_json(value: Any) -> str:
    """JSON safe inside a <script> element: no `</`, `<!--` or line separators can end or bend it."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def render_mirror(name: str, workers: list[dict[str, Any]], title: str = DEFAULT_TITLE) -> bytes:
    """One mirror's page; `workers`: its statuses as /jobs entries plus `worker` and `error_msg`."""
    return _assemble(_static("mirror.html"), _static("mirror.js"), f"{name} · {title}",
                     script_json({"name": name, "workers": workers}))


def setup_page(app: web.Application) -> None:
    raw = app[STATE].config.mirrorz or {}
    name = raw.get("name") or raw.get("abbr") if isinstance(raw, dict) else None
    title = f"{name} mirror status" if isinstance(name, str) and name else DEFAULT_TITLE
    body = render_page(title)

    async def index(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-cache"})

    async def mirror(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        items = await app[STATE].db.list_mirror_status_items()
        found = sorted((w, s) for w, m, s in items if m == name)
        if not found:
            return web.Response(status=404, text=f"no mirror named {name!r} on this manager\n",
                                headers={"Cache-Control": "no-cache"})
        workers = [{"worker": w, **s.to_web().to_go(), "error_msg": s.error_msg} for w, s in found]
        page = render_mirror(name, workers, title)
        return web.Response(body=page, content_type="text/html", charset="utf-8", headers={"Cache-Control": "no-cache"})

    app.router.add_get("/", index, allow_head=False)
    app.router.add_get("/mirror/{name}", mirror, allow_head=False)


# Read-only public feeds other sites' pages may fetch from the browser (Go sends no CORS headers;
# an extra response header changes nothing for existing clients).
CORS_PATHS = frozenset({"/jobs", "/archive", "/archive/history", "/mirrorz.json"})


async def _cors(request: web.Request, response: web.StreamResponse) -> None:
    if request.method == "GET" and request.path in CORS_PATHS:
        response.headers.setdefault("Access-Control-Allow-Origin", "*")


def install(app: web.Application) -> None:
    """Status page, /mirrorz.json, /metrics and the status file: pass as `create_app(extra_setup=[install])`."""
    app.on_response_prepare.append(_cors)
    setup_page(app)
    mirrorz.setup(app)
    metrics.setup(app)
    status_file.setup(app)
