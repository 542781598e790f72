"""The status page at `GET /` and `install(app)`, which adds every operator route to a manager app.

The page is static HTML + CSS + JS under `static/` (no build step, no CDN); it is served as one
document with the style and script inlined, so `GET /` is the only public route it needs even when
tokens are on. The script reads `GET /jobs` and `GET /archive` relative to the page's URL (so a
reverse proxy may mount the manager under a prefix); `?api=URL` points it at another manager.
"""

from __future__ import annotations

import html
from importlib import resources

from aiohttp import web

from . import metrics, mirrorz, status_file
from .state import STATE

DEFAULT_TITLE = "Mirror status"


def render_page(title: str = DEFAULT_TITLE) -> bytes:
    """The status page as one HTML document."""
    static = resources.files("tunasync.manager") / "static"
    page = (static / "index.html").read_text(encoding="utf-8")
    style = (static / "status.css").read_text(encoding="utf-8")
    script = (static / "status.js").read_text(encoding="utf-8")
    # Replace the title first: the script and style never contain the markers, the title might.
    page = page.replace("__STYLE__", style).replace("__SCRIPT__", script)
    return page.replace("__TITLE__", html.escape(title)).encode("utf-8")


def setup_page(app: web.Application) -> None:
    raw = app[STATE].config.mirrorz or {}
    name = raw.get("name") or raw.get("abbr") if isinstance(raw, dict) else None
    body = render_page(f"{name} mirror status" if isinstance(name, str) and name else DEFAULT_TITLE)

    async def index(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-cache"})

    app.router.add_get("/", index, allow_head=False)


# Read-only public feeds other sites' pages may fetch from the browser (Go sends no CORS headers;
# an extra response header changes nothing for existing clients).
CORS_PATHS = frozenset({"/jobs", "/archive", "/mirrorz.json"})


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
