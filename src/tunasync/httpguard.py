"""Connection limits for our aiohttp servers: the manager, the worker's control port and `tunasync serve`.

aiohttp alone lets a client hold a connection open for as long as it likes before finishing its first
request head, and accepts connections until the process runs out of file descriptors; asyncio then
logs a traceback for every failed `accept()`. This module puts three limits in front of the app:

- **header timeout**: the whole head of the first request must arrive within `header_timeout` seconds
  of the connection opening (a timer started in `connection_made`, stopped when the blank line that
  ends the head arrives); a connection that misses it is closed (408 when it sent something).
- **idle keep-alive timeout**: between two requests a connection may idle (or trickle the next head)
  for `keepalive_timeout` seconds (aiohttp's `keepalive_timeout`).
- **connection cap**: at most `max_connections` connections are open at once. At the cap a new
  connection first takes the place of the oldest one that has not completed a request head (or,
  failing that, of the oldest idle keep-alive connection); when every connection is busy with a
  request, the new one is closed at once (no request handler is even created for it). The cap is
  lowered to fit the process's open-file limit so `accept()` keeps working.

What happens is logged as one line per minute at most (how many were refused, closed to make room or
timed out), never a line per connection; `accept()` failing for lack of file descriptors (EMFILE) is
counted in the same way instead of asyncio's traceback per attempt.

Use `GuardedSite(runner, host, port, limits=..., name=...)` in place of `web.TCPSite`, and pass
`**limits.runner_kwargs()` to `web.AppRunner`. This module imports nothing of tunasync.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
import socket
import ssl
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web, web_response
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger("tunasync.httpguard")

NOTE_SECONDS = 60.0  # at most one log line per this many seconds and server
FD_RESERVE = 128  # descriptors kept free for files, sub-processes, databases and outgoing connections
ACCEPT_BATCH = 256  # connections accepted per event-loop turn at most (each then meets the cap)
SCAN_IDLE = 256  # at the cap, how many of the oldest connections are looked at for an idle one
MAX_HEAD = 64 << 10  # bytes of a request head, at most (aiohttp's own limits are per line and header)
HEAD_TIMEOUT_REPLY = (b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain\r\n"
                      b"Content-Length: 40\r\n\r\nthe request head did not arrive in time\n")
HEAD_TOO_LARGE_REPLY = (b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n"
                        b"Content-Type: text/plain\r\nContent-Length: 32\r\n\r\nthe request head is over 64 KiB\n")
SERVER_NAME = "tunasync"
ACCEPT_MESSAGE = "socket.accept() out of system resource"
_ACCEPT_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


@dataclass(frozen=True)
class Limits:
    # Open connections at once (lowered at start to fit the open-file limit).
    max_connections: int = 1024
    # Seconds from connect until the first request head is complete.
    header_timeout: float = 60.0
    # Seconds a connection may stay idle between requests.
    keepalive_timeout: float = 75.0

    def __post_init__(self) -> None:
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if not self.header_timeout > 0 or not self.keepalive_timeout > 0:
            raise ValueError("header_timeout and keepalive_timeout must be > 0")

    def runner_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `web.AppRunner` (handed on to aiohttp's request handler)."""
        return {"keepalive_timeout": self.keepalive_timeout, "logger": protocol_log}


def raise_open_files_limit() -> int:
    """Lift the soft RLIMIT_NOFILE to the hard one (at most 1M); the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def fitting(limits: Limits) -> Limits:
    """`limits` with max_connections lowered to what the open-file limit leaves room for."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return limits
    room = max(16, soft - max(FD_RESERVE, soft // 8))
    return replace(limits, max_connections=min(limits.max_connections, room))


class _Note:
    """Counts of unusual events, logged as one line at most every NOTE_SECONDS."""

    def __init__(self, name: str):
        self.name = name
        self.counts: dict[str, int] = {}
        self._last = float("-inf")
        self._timer: asyncio.TimerHandle | None = None

    def add(self, what: str, loop: asyncio.AbstractEventLoop) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1
        now = loop.time()
        if now - self._last >= NOTE_SECONDS:
            self.flush(loop)
        elif self._timer is None:
            self._timer = loop.call_at(self._last + NOTE_SECONDS, self.flush, loop)

    def flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        if not self.counts:
            return
        self._last = loop.time()
        counts, self.counts = self.counts, {}
        parts = ", ".join(f"{n} {what}" for what, n in counts.items())
        quiet = all(w.startswith(("request heads timed out", "malformed requests")) for w in counts)
        log.log(logging.INFO if quiet else logging.WARNING, "%s: %s (at most one such line a minute)",
                self.name, parts)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class _ClientErrors(logging.Filter):
    """aiohttp logs a traceback for every malformed request it answers with a 400 (a header line too
    long, a bad request line): the client's fault, so counted here and summed up once a minute."""

    def __init__(self) -> None:
        super().__init__()
        self.note = _Note("http")

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return True
        self.note.add(f"malformed requests answered {exc.code or 400}", loop)
        return False


protocol_log = logging.getLogger("tunasync.http")  # what aiohttp's request handler logs
protocol_log.addFilter(_ClientErrors())


class Guard:
    """The connections of one listening site: counted, capped, heads timed."""

    def __init__(self, limits: Limits, name: str):
        self.limits = limits
        self.name = name
        self.open: dict[_Conn, None] = {}  # every admitted, open connection, oldest first
        self.waiting: dict[_Conn, float] = {}  # no complete request head yet → deadline, oldest first
        self.note = _Note(name)
        self.refused = 0
        self.displaced = 0
        self.timed_out = 0
        self._sweeper: asyncio.TimerHandle | None = None

    def factory(self, make_handler: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: _Conn(self, make_handler)

    def admit(self, conn: _Conn, loop: asyncio.AbstractEventLoop) -> bool:
        if len(self.open) >= self.limits.max_connections:
            victim = self._victim()
            if victim is None:
                self.refused += 1
                self.note.add(f"connections refused at the cap of {self.limits.max_connections}", loop)
                return False
            self.displaced += 1
            self.note.add(f"idle connections closed to make room (cap {self.limits.max_connections})", loop)
            victim.drop()
        self.open[conn] = None
        self.waiting[conn] = loop.time() + self.limits.header_timeout
        if self._sweeper is None:
            self._sweeper = loop.call_at(self.waiting[conn], self._sweep, loop)
        return True

    def _victim(self) -> _Conn | None:
        if self.waiting:
            return next(iter(self.waiting))
        for i, c in enumerate(self.open):
            if i >= SCAN_IDLE:
                break
            if c.idle():
                return c
        return None

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close the connections whose head is late (one timer for all: deadlines come in order)."""
        self._sweeper = None
        now = loop.time()
        while self.waiting:
            conn, deadline = next(iter(self.waiting.items()))
            if deadline > now:
                self._sweeper = loop.call_at(deadline, self._sweep, loop)
                return
            self.timed_out += 1
            self.note.add(f"request heads timed out ({self.limits.header_timeout:g} s)", loop)
            conn.head_timeout()

    def head_complete(self, conn: _Conn) -> None:
        self.waiting.pop(conn, None)

    def forget(self, conn: _Conn) -> None:
        self.open.pop(conn, None)
        self.waiting.pop(conn, None)

    def close(self) -> None:
        self.note.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None


class _Conn(asyncio.Protocol):
    """One connection: admitted (or refused) at connect; its bytes are kept here until the head of its
    first request is complete, and only then is aiohttp's request handler made and handed the
    connection. A connection that never completes a head costs this object and its buffer, nothing more."""

    __slots__ = ("guard", "make", "inner", "transport", "buffer", "closed")

    def __init__(self, guard: Guard, make: Callable[[], asyncio.Protocol]):
        self.guard = guard
        self.make = make
        self.inner: Any = None
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if not self.guard.admit(self, asyncio.get_running_loop()):
            self.closed = True
            transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        if self.inner is not None:
            self.inner.data_received(data)
            return
        tail = self.buffer[-3:]
        self.buffer += data
        seen = tail + data
        if b"\r\n\r\n" in seen or b"\n\n" in seen:
            self._hand_over()
        elif len(self.buffer) > MAX_HEAD:
            self._close_with(HEAD_TOO_LARGE_REPLY)

    def eof_received(self) -> bool | None:
        if self.inner is None or self.closed:
            return None  # the transport closes
        answer: bool | None = self.inner.eof_received()
        return answer

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.forget(self)
        self.buffer = b""
        if self.inner is not None:
            inner, self.inner = self.inner, None
            inner.connection_lost(exc)

    def _hand_over(self) -> None:
        self.guard.head_complete(self)
        data, self.buffer = self.buffer, b""
        self.inner = self.make()
        assert self.transport is not None
        self.inner.connection_made(self.transport)
        self.inner.data_received(data)

    # -- the guard's side ----------------------------------------------------------------------------
    def idle(self) -> bool:
        """Waiting for a request (not in the middle of one): aiohttp's own test for its keep-alive close."""
        h = self.inner
        waiter = getattr(h, "_waiter", None)
        return waiter is not None and not waiter.done() and not getattr(h, "_messages", True)

    def drop(self) -> None:
        """Close now, to make room; the guard stops counting it at once."""
        self.guard.forget(self)
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.abort()

    def head_timeout(self) -> None:
        self._close_with(HEAD_TIMEOUT_REPLY if self.buffer else b"")

    def _close_with(self, reply: bytes) -> None:
        self.guard.forget(self)
        if self.transport is None or self.closed:
            return
        self.closed = True
        if reply:
            self.transport.write(reply)
            self.transport.close()
        else:
            self.transport.abort()


# -- accept() out of descriptors ---------------------------------------------------------------------
_accept_notes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Note] = weakref.WeakKeyDictionary()


def _quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Count asyncio's `accept()` resource errors (it retries by itself a second later) instead of its
    traceback per attempt; every other exception goes to the handler that was there before."""
    if loop in _accept_notes:
        return
    note = _accept_notes[loop] = _Note("accept()")
    previous = loop.get_exception_handler()

    def handler(lp: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if context.get("message") == ACCEPT_MESSAGE and isinstance(exc, OSError) and exc.errno in _ACCEPT_ERRNOS:
            note.add(f"accepts failed: {exc.strerror or exc} (retried after a pause)", lp)
            return
        if previous is not None:
            previous(lp, context)
        else:
            lp.default_exception_handler(context)

    loop.set_exception_handler(handler)


def hide_versions() -> None:
    """`Server: tunasync` on what aiohttp answers by itself too (a 400 for a malformed request never
    reaches an app's on_response_prepare), instead of the Python and aiohttp versions."""
    # aiohttp.web_response reads its module global SERVER_SOFTWARE (imported from aiohttp.http, not
    # re-exported), so the global itself is replaced.
    vars(web_response)["SERVER_SOFTWARE"] = SERVER_NAME


class GuardedSite(web.BaseSite):
    """A TCP site like `web.TCPSite`, its connections behind a `Guard`."""

    def __init__(self, runner: web.BaseRunner, host: str | None, port: int, *, limits: Limits | None = None,
                 name: str = "http", ssl_context: ssl.SSLContext | None = None, backlog: int = 1024,
                 reuse_address: bool | None = None):
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._host_ = host
        self._port_ = port
        self._reuse = reuse_address
        self.guard = Guard(fitting(limits or Limits()), name)
        self.bound_port = port

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        host = self._host_ or "0.0.0.0"
        return f"{scheme}://{host if ':' not in host else f'[{host}]'}:{self.bound_port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        _quiet_accept_errors(loop)
        hide_versions()
        # asyncio accepts up to `backlog` connections in one go before any of them reaches the guard:
        # accept in small batches, and give the kernel's queue its full length afterwards.
        self._server = await loop.create_server(
            self.guard.factory(server), self._host_, self._port_, ssl=self._ssl_context,
            backlog=self._accept_batch(), reuse_address=self._reuse)
        for ts in self._server.sockets:
            with socket.socket(fileno=os.dup(ts.fileno())) as s:
                s.listen(self._backlog)
        if self._server.sockets:
            self.bound_port = self._server.sockets[0].getsockname()[1]

    def _accept_batch(self) -> int:
        """Connections accepted per turn: as many as the descriptors left beside the cap allow."""
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        spare = 1 << 20 if soft == resource.RLIM_INFINITY else soft - self.guard.limits.max_connections
        return max(16, min(self._backlog, ACCEPT_BATCH, spare // 4))

    async def stop(self) -> None:
        self.guard.close()
        await super().stop()
