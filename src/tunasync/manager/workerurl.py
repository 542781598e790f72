"""Where the manager may send requests for a worker: its registered URL, checked (docs/security.md).

A worker registers `scheme://host:port/` (Go's and our worker build exactly this from `[server]
hostname` and `listen_port`). The manager accepts only that shape: http or https, a host name or IP
literal, an optional port, an empty path or `/`, and no user info, query or fragment. An empty host
(`http://:6000/`, from Go's default empty hostname) still registers, so the worker's statuses show
as they do with Go, but commands and logs for it answer 400. It then sends
requests only to `<scheme://host:port>/` (commands) and `<scheme://host:port>/logs/<job>` (the job
name is one escaped path segment), never to a path a client chose.

`[auth] worker_networks` (CIDRs) narrows where workers may live: an IP literal must be inside one of
them; a host name must resolve, at registration, to at least one address inside, and when the
manager connects later it uses only the name's addresses that are inside (`GuardedResolver`), so a
name that is pointed elsewhere after registration reaches nothing.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver

from ..errors import TunasyncError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252}))?"
    r"(?::(?P<port>[0-9]{1,5}))?"
    r"(?P<path>/?)"
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
NO_HOST = "registered without a host name (set [server] hostname in the worker's config)"


class BadWorkerURL(TunasyncError, ValueError):
    """Why a worker URL is refused (text for a 400)."""


@dataclass(frozen=True)
class WorkerTarget:
    scheme: str
    host: str  # as written in the URL (IPv6 literals keep their brackets)
    port: int
    address: Address | None  # the host as an IP when it is a literal

    @property
    def base(self) -> str:
        if not self.host:
            raise BadWorkerURL(NO_HOST)
        return f"{self.scheme}://{self.host}:{self.port}"

    def root(self) -> str:
        """Where commands go."""
        return self.base + "/"

    def log_url(self, job: str) -> str:
        """The job's log on the worker: the name is one path segment, every reserved character escaped."""
        return f"{self.base}/logs/{quote(job, safe='')}"


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _plain(addr: Address) -> Address:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def inside(addr: Address, networks: Sequence[Network]) -> bool:
    addr = _plain(addr)
    return any(addr.version == n.version and addr in n for n in networks)


def parse(url: str) -> WorkerTarget:
    """The target of a registered URL, or BadWorkerURL with the reason."""
    m = _URL.fullmatch(url)
    if m is None:
        if "#" in url or "?" in url:
            raise BadWorkerURL("no query or fragment allowed (the manager adds the paths itself)")
        if "@" in url:
            raise BadWorkerURL("no user info allowed")
        head = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://[^/]*", url)
        if head is not None and len(url) > head.end() + 1:
            raise BadWorkerURL("no path allowed: register scheme://host:port/")
        raise BadWorkerURL("expected http(s)://host:port/")
    scheme = m["scheme"].lower()
    if scheme not in _DEFAULT_PORTS:
        raise BadWorkerURL(f"scheme {scheme} not allowed (http or https)")
    port = int(m["port"]) if m["port"] else _DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise BadWorkerURL(f"port {port} out of range 1..65535")
    host = m["host"] or ""
    address: Address | None = None
    if host.startswith("["):
        try:
            address = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise BadWorkerURL(f"{host} is not an IPv6 address") from None
    elif re.fullmatch(r"[0-9.]+", host):
        try:
            address = ipaddress.IPv4Address(host)
        except ValueError:
            raise BadWorkerURL(f"{host} is not an IPv4 address") from None
    return WorkerTarget(scheme, host, port, address)


def check_literal(target: WorkerTarget, networks: Sequence[Network]) -> None:
    if networks and target.address is not None and not inside(target.address, networks):
        raise BadWorkerURL(f"{target.address} is outside [auth] worker_networks")


async def check_registration(url: str, networks: Sequence[Network]) -> WorkerTarget:
    """Validate a URL a worker registers; with worker_networks, resolve a host name once, here."""
    target = parse(url)
    if not networks:
        return target  # an empty host (Go's default hostname "") registers, as in Go, but is never reached
    if not target.host:
        raise BadWorkerURL("no host name to check against [auth] worker_networks")
    if target.address is not None:
        check_literal(target, networks)
        return target
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise BadWorkerURL(f"cannot resolve {target.host}: {exc.strerror or exc}") from None
    addrs = sorted({ipaddress.ip_address(str(i[4][0]).split("%")[0]) for i in infos}, key=str)
    if not any(inside(a, networks) for a in addrs):
        shown = ", ".join(str(a) for a in addrs) or "nothing"
        raise BadWorkerURL(f"{target.host} resolves to {shown}, outside [auth] worker_networks")
    return target


class GuardedResolver(AbstractResolver):
    """Resolves worker host names, keeping only the addresses inside worker_networks."""

    def __init__(self, networks: Sequence[Network]):
        self.networks = tuple(networks)
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        results = await self._inner.resolve(host, port, family)
        kept = [r for r in results if inside(ipaddress.ip_address(r["host"].split("%")[0]), self.networks)]
        if not kept:
            # errno + strerror: aiohttp's connection error shows strerror, which then names the cause.
            raise OSError(errno.EHOSTUNREACH, f"{host} resolves outside [auth] worker_networks")
        return kept

    async def close(self) -> None:
        await self._inner.close()
