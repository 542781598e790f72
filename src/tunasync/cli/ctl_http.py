"""tunasynctl's HTTP to the manager (docs/compat.md §1.8): one session, a 5 s total timeout per request.

POST bodies are Go's JSON plus a newline with `application/json; charset=utf-8`; a configured token is
sent as `Authorization: Bearer <token>`. Transport failures raise `TransportError` whose text follows
Go's `Get "<url>": <reason>` shape, so the messages tunasynctl prints read like Go's.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from ..errors import TunasyncError
from ..models import gojson
from .ctl_config import CtlConfig, ssl_context

TIMEOUT = aiohttp.ClientTimeout(total=5)
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0  # a log stream without follow that stays silent this long has failed
JSON_CT = "application/json; charset=utf-8"


class TransportError(TunasyncError):
    """The request never got an HTTP answer (refused, timeout, TLS failure)."""


class GetJSONError(TunasyncError):
    """Go's GetJSON failure: transport error, status other than 200, or a body that does not decode."""


@dataclass
class Reply:
    status: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "request timed out (Client.Timeout exceeded)"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"x509: {exc.certificate_error}"
    return str(exc) or type(exc).__name__


class ManagerClient:
    """Async context manager owning the aiohttp session for one tunasynctl run."""

    def __init__(self, cfg: CtlConfig):
        self.base_url = cfg.base_url
        self.token = cfg.token
        self._ssl: ssl.SSLContext | None = ssl_context(cfg)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ManagerClient:
        connector = aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else True)
        self._session = aiohttp.ClientSession(connector=connector, timeout=TIMEOUT)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    def url(self, path: str) -> str:
        return self.base_url + path

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        h = dict(extra or {})
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        return h

    async def request(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Reply:
        """One request; the whole reply body is read. Raises TransportError without an HTTP answer."""
        assert self._session is not None
        url = self.url(path)
        data = None
        headers = self._headers()
        if body is not None:
            data = (gojson.dumps(body) + "\n").encode("utf-8")
            headers["Content-Type"] = JSON_CT
        try:
            async with self._session.request(method, url, data=data, headers=headers, params=params) as resp:
                return Reply(resp.status, await resp.read())
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise TransportError(f'{method.title()} "{url}": {_reason(exc)}') from None

    async def get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        """Go's GetJSON: fails on transport error, on any status but 200, or on invalid JSON."""
        try:
            reply = await self.request("GET", path, params=params)
        except TransportError as exc:
            raise GetJSONError(str(exc)) from None
        if reply.status != 200:
            # Go says only "HTTP status code is not 200"; the status and body after it tell why (e.g. 401).
            raise GetJSONError(f"HTTP status code is not 200: {reply.status} {reply.text.strip()}")
        try:
            return json.loads(reply.body)
        except ValueError as exc:
            raise GetJSONError(f"invalid JSON from {self.url(path)}: {exc}") from None

    async def stream(self, path: str, params: dict[str, str] | None, follow: bool,
                     sink: Callable[[bytes], Awaitable[None] | None]) -> Reply:
        """GET streaming the body into sink while it arrives; returns the status (body kept only on error)."""
        assert self._session is not None
        url = self.url(path)
        timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT, sock_connect=CONNECT_TIMEOUT,
                                        sock_read=None if follow else READ_TIMEOUT)
        try:
            async with self._session.get(url, params=params, headers=self._headers(), timeout=timeout) as resp:
                if resp.status != 200:
                    return Reply(resp.status, await resp.read())
                async for chunk in resp.content.iter_any():
                    r = sink(chunk)
                    if r is not None:
                        await r
                return Reply(200, b"")
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise TransportError(f'Get "{url}": {_reason(exc)}') from None
