"""The one place outbound HTTP is configured: session, timeouts, retries with backoff, clear errors.

Every Filecoin client (Lotus, IPNI, gateways, Singularity) goes through `Http`. A dead or hanging
peer costs `connect_timeout` / `read_timeout`, never a hang; transient failures (connection errors,
timeouts, 429, 502-504) are retried with exponential backoff and jitter; everything else becomes a
`NetworkError` naming the URL.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import platform
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from ..errors import NetworkError, PeerRefused, PeerTimeout, PeerUnreachable

RETRY_STATUSES = frozenset({429, 502, 503, 504})
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt(3)
_malloc_tuned = False


def recycle_read_buffers() -> None:
    """Let glibc reuse the memory of big socket reads instead of mapping fresh pages for each one.

    glibc serves allocations over 128 KiB with a new mmap; it raises that threshold when such a block
    is freed, but asyncio's read buffer (1 MiB, shrunk to what arrived before it is freed) never
    qualifies. So every byte read cost a page fault: ~0.4 s of CPU per GiB on a 2-core VM, twice the
    recv() copy itself. With reads and the blocks cut from them recycled from the heap, a verified CAR
    stream reads ~25% faster. Process-wide and idempotent; nothing happens on other C libraries.
    """
    global _malloc_tuned
    if _malloc_tuned:
        return
    _malloc_tuned = True
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, 8 << 20)  # above any read (1 MiB) or block (2 MiB) we hold
        libc.mallopt(_M_TRIM_THRESHOLD, 32 << 20)  # about what a stream keeps in flight
    except (OSError, AttributeError):
        pass


@dataclass(frozen=True)
class HttpSettings:
    connect_timeout: float = 5.0
    read_timeout: float = 30.0  # idle time between bytes, so long streams are fine
    total_timeout: float | None = None  # for small JSON calls only
    retries: int = 3
    backoff: float = 0.2  # first delay, doubled per attempt
    max_backoff: float = 5.0
    user_agent: str = "tunasync-filecoin/0.1"


def _short(text: str, n: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "…"


class Http:
    """A lazily created aiohttp session with our timeouts; safe to share between clients."""

    def __init__(self, settings: HttpSettings | None = None):
        self.settings = settings or HttpSettings()
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            recycle_read_buffers()
            s = self.settings
            timeout = aiohttp.ClientTimeout(total=None, connect=s.connect_timeout, sock_connect=s.connect_timeout,
                                            sock_read=s.read_timeout)
            self._session = aiohttp.ClientSession(
                timeout=timeout, headers={"User-Agent": s.user_agent},
                connector=aiohttp.TCPConnector(limit=64, enable_cleanup_closed=True),
                auto_decompress=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def _sleep(self, attempt: int) -> None:
        s = self.settings
        delay = min(s.max_backoff, s.backoff * (2 ** attempt))
        await asyncio.sleep(delay * (0.5 + random.random() / 2))

    @asynccontextmanager
    async def open(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                   json_body: Any = None, ok: tuple[int, ...] = (200,), passthrough: tuple[int, ...] = (),
                   endpoint: str | None = None, retries: int | None = None,
                   read_timeout: float | None = None,
                   read_bufsize: int | None = None) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send a request and yield the response once its status is in `ok` or `passthrough`.

        Transient failures before the body is read are retried; the body itself is the caller's to read
        (its errors surface as aiohttp exceptions: use `wrap_errors`). `read_bufsize`: how much of the body
        aiohttp buffers before it stops reading the socket (big streams want more than the 64 KiB default).
        """
        name = endpoint or url
        attempts = (self.settings.retries if retries is None else retries) + 1
        kwargs: dict[str, Any] = {"headers": headers or {}}
        if json_body is not None:
            kwargs["data"] = json.dumps(json_body).encode()
            kwargs["headers"] = {**kwargs["headers"], "Content-Type": "application/json"}
        if read_bufsize is not None:
            kwargs["read_bufsize"] = read_bufsize
        if read_timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=None, connect=self.settings.connect_timeout,
                                                      sock_connect=self.settings.connect_timeout,
                                                      sock_read=read_timeout)
        last = "no attempt made"
        for attempt in range(attempts):
            try:
                resp = await self.session().request(method, url, **kwargs)
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                last = describe(exc)
                if attempt + 1 < attempts:
                    await self._sleep(attempt)
                    continue
                raise network_error(name, exc) from exc
            try:
                if resp.status in ok or resp.status in passthrough:
                    yield resp
                    return
                body = await _peek(resp)
                last = f"HTTP {resp.status} {resp.reason or ''}".rstrip() + (f": {body}" if body else "")
                if resp.status in RETRY_STATUSES and attempt + 1 < attempts:
                    await self._sleep(attempt)
                    continue
                raise PeerRefused(name, last, resp.status)
            finally:
                resp.release()
        raise NetworkError(name, last)

    async def json(self, method: str, url: str, *, headers: dict[str, str] | None = None, json_body: Any = None,
                   ok: tuple[int, ...] = (200,), none_on: tuple[int, ...] = (), endpoint: str | None = None,
                   retries: int | None = None) -> Any:
        """One JSON request/answer; statuses in `none_on` return None (e.g. IPNI 404 = nobody).
        Pass retries=0 for requests that must not be repeated (they may have taken effect)."""
        name = endpoint or url
        async with self.open(method, url, headers={"Accept": "application/json", **(headers or {})},
                             json_body=json_body, ok=ok, passthrough=none_on, endpoint=name,
                             retries=retries) as resp:
            if resp.status in none_on:
                return None
            with wrap_errors(name):
                raw = await resp.read()
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise NetworkError(name, f"malformed JSON answer ({exc}): {_short(raw.decode(errors='replace'))}") from None


async def _peek(resp: aiohttp.ClientResponse) -> str:
    try:
        return _short((await resp.content.read(512)).decode(errors="replace"))
    except (TimeoutError, aiohttp.ClientError):
        return ""


def network_error(endpoint: str, exc: BaseException) -> NetworkError:
    """The typed error for a transport failure talking to `endpoint`: a timeout, no connection, or else."""
    if isinstance(exc, TimeoutError):  # aiohttp's ServerTimeoutError and asyncio's both
        return PeerTimeout(endpoint, describe(exc))
    if isinstance(exc, (aiohttp.ClientConnectorError, ConnectionRefusedError)):
        return PeerUnreachable(endpoint, describe(exc))
    return NetworkError(endpoint, describe(exc))


def describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect ({exc.os_error.strerror or exc.os_error})"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"transfer ended early ({exc})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class wrap_errors:
    """Turn aiohttp / timeout errors while reading a body into NetworkError(endpoint, …)."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def __enter__(self) -> wrap_errors:
        return self

    def __exit__(self, et: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None and isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError)):
            raise network_error(self.endpoint, exc) from exc
