"""Security headers on every manager answer (added just before each response is sent).

- `X-Content-Type-Options: nosniff`: a browser takes the declared type (a log or JSON is never run as
  a page or a script);
- `X-Frame-Options: DENY` and CSP `frame-ancestors 'none'`: no other site can frame the manager;
- `Content-Security-Policy`: `default-src 'none'` (and `sandbox`) for data answers; for HTML, scripts
  and styles only from the manager itself or inline blocks whose SHA-256 is listed (computed from
  the page, so the status page's inlined script and style run and an injected one does not), fetches
  to any origin (`?api=URL` reads another manager), no plugins, base or forms;
- `Server: tunasync`, with no Python or aiohttp versions.

A handler that sets its own `Content-Security-Policy` keeps it.
"""

from __future__ import annotations

import base64
import hashlib
import re

from aiohttp import web

from ..httpguard import hide_versions

SERVER = "tunasync"
DATA_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"
_INLINE = re.compile(rb"<(script|style)(?:\s[^>]*)?>(.*?)</\1\s*>", re.DOTALL | re.IGNORECASE)
_cache: dict[int, tuple[bytes, str]] = {}


def page_csp(html: bytes) -> str:
    """The CSP of an HTML page: its inline <script> and <style> blocks allowed by hash."""
    hashes: dict[bytes, list[str]] = {b"script": [], b"style": []}
    for m in _INLINE.finditer(html):
        digest = base64.b64encode(hashlib.sha256(m.group(2)).digest()).decode()
        hashes[m.group(1).lower()].append(f"'sha256-{digest}'")
    script = " ".join(["'self'", *hashes[b"script"]])
    style = " ".join(["'self'", *hashes[b"style"]])
    return (f"default-src 'none'; script-src {script}; style-src {style}; img-src 'self' data:; "
            "connect-src *; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _csp_for(response: web.StreamResponse) -> str:
    body = getattr(response, "body", None)
    if response.content_type != "text/html" or not isinstance(body, bytes):
        return DATA_CSP
    hit = _cache.get(id(body))
    if hit is not None and hit[0] is body:
        return hit[1]
    csp = page_csp(body)
    if len(_cache) > 16:
        _cache.clear()
    _cache[id(body)] = (body, csp)
    return csp


async def add_security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    h = response.headers
    h["X-Content-Type-Options"] = "nosniff"
    h["X-Frame-Options"] = "DENY"
    h["Server"] = SERVER
    if "Content-Security-Policy" not in h:
        h["Content-Security-Policy"] = _csp_for(response)


def install(app: web.Application) -> None:
    app.on_response_prepare.append(add_security_headers)
    hide_versions()  # what aiohttp answers by itself (a malformed request's 400) says `tunasync` too
