"""Short answers for what is not a file: error and reason pages (HTML, escaped), directory pages,
redirects; and the headers every answer of serve carries.

Pages serve writes itself (listings, errors) carry a Content-Security-Policy that allows no script,
no plugin, no form and no framing (their only style is inline), and `X-Frame-Options: DENY` for
browsers without CSP. Every answer carries `X-Content-Type-Options: nosniff` and a `Server` header
without versions. Mirror files keep their own content: no CSP is added to an HTML file of a mirror.
"""

from __future__ import annotations

import html
from http import HTTPStatus

from aiohttp import web

SERVER = "tunasync"
PAGE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'")
PAGE_HEADERS = {"Content-Security-Policy": PAGE_CSP, "X-Frame-Options": "DENY"}


def html_page(text: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A page written by serve (a listing, an error) with its security headers."""
    return web.Response(status=status, text=text, content_type="text/html", charset="utf-8",
                        headers={**PAGE_HEADERS, **(headers or {})})


def page(status: int, detail: str = "", headers: dict[str, str] | None = None) -> web.Response:
    """A small HTML page naming the status and, when there is one, the reason."""
    title = f"{status} {HTTPStatus(status).phrase}"
    body = f"<!DOCTYPE html>\n<html><head><title>{title}</title></head><body><h1>{title}</h1>"
    if detail:
        body += f"<p>{html.escape(detail)}</p>"
    body += "<hr><p><small>tunasync serve</small></p></body></html>\n"
    return html_page(body, status, headers)


def redirect(location: str) -> web.Response:
    """301 to `location`, a path (resolved against whatever host the client used, nginx included).

    Always exactly one leading slash: `//host/` or `/\\host/` would send a browser to another site."""
    location = "/" + location.lstrip("/\\")
    return web.Response(status=301, headers={"Location": location}, text=f"Moved to {location}\n")


async def common_headers(_request: web.BaseRequest, response: web.StreamResponse) -> None:
    """on_response_prepare: what every answer carries."""
    response.headers["Server"] = SERVER
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
