"""Short answers for what is not a file: error and reason pages (HTML, escaped), redirects."""

from __future__ import annotations

import html
from http import HTTPStatus

from aiohttp import web


def page(status: int, detail: str = "", headers: dict[str, str] | None = None) -> web.Response:
    """A small HTML page naming the status and, when there is one, the reason."""
    title = f"{status} {HTTPStatus(status).phrase}"
    body = f"<!DOCTYPE html>\n<html><head><title>{title}</title></head><body><h1>{title}</h1>"
    if detail:
        body += f"<p>{html.escape(detail)}</p>"
    body += "<hr><p><small>tunasync serve</small></p></body></html>\n"
    return web.Response(status=status, text=body, content_type="text/html", charset="utf-8", headers=headers)


def redirect(location: str) -> web.Response:
    """301 to `location` (a path: resolved against whatever host the client used, nginx included)."""
    return web.Response(status=301, headers={"Location": location}, text=f"Moved to {location}\n")
