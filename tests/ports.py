"""Loopback ports for the servers tests start.

Ports come from below the kernel's ephemeral range, where client sockets take their local ports, so an
outgoing connection of a test running in parallel can never be holding the port a server is about to
bind (the `bind(0)`-then-close way raced with exactly that: "address already in use" under xdist).
Each pytest-xdist worker takes its own slice of that range, walked in turn, and every port is checked
free by binding it first.
"""

from __future__ import annotations

import itertools
import os
import socket

_LOW = 10_000


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def _slice() -> range:
    high = _ephemeral_low()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index = int(worker) if worker.isdigit() else 0
    count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1))
    span = (high - _LOW) // count
    if span < 500:  # an unusual ephemeral range: no room below it
        return range(0)
    return range(_LOW + index * span, _LOW + (index + 1) * span)


_PORTS = _slice()
_NEXT = itertools.cycle(_PORTS) if _PORTS else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago and that no client socket will take."""
    for _ in range(len(_PORTS)):
        assert _NEXT is not None
        port = next(_NEXT)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # nothing free below the ephemeral range: the kernel's choice
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
