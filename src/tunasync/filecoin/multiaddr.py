"""The few multiaddr shapes we use: text `/ip4/<a>/tcp/<p>/http` and its binary form (Lotus JSON gives
`StateMinerInfo.Multiaddrs` as base64 of the binary form), and their HTTP base URLs."""

from __future__ import annotations

import base64
import ipaddress

from ..content.cid import decode_varint, encode_varint

# code -> (name, size in bytes; -1 = varint-length-prefixed text, 0 = no value)
_PROTOCOLS = {0x04: ("ip4", 4), 0x29: ("ip6", 16), 0x06: ("tcp", 2), 0x35: ("dns", -1), 0x36: ("dns4", -1),
              0x37: ("dns6", -1), 0x01E0: ("http", 0), 0x01BB: ("https", 0), 0x01C0: ("tls", 0)}
_BY_NAME = {name: (code, size) for code, (name, size) in _PROTOCOLS.items()}


def to_bytes(addr: str) -> bytes:
    parts = addr.strip("/").split("/")
    out = bytearray()
    i = 0
    while i < len(parts):
        name = parts[i]
        if name not in _BY_NAME:
            raise ValueError(f"unsupported multiaddr protocol {name!r} in {addr!r}")
        code, size = _BY_NAME[name]
        out += encode_varint(code)
        if size != 0:
            i += 1
            if i >= len(parts):
                raise ValueError(f"multiaddr {addr!r}: {name} needs a value")
            v = parts[i]
            if name in ("ip4", "ip6"):
                out += ipaddress.ip_address(v).packed
            elif name == "tcp":
                out += int(v).to_bytes(2, "big")
            else:
                raw = v.encode()
                out += encode_varint(len(raw)) + raw
        i += 1
    return bytes(out)


def from_bytes(raw: bytes) -> str:
    out = []
    pos = 0
    while pos < len(raw):
        code, pos = decode_varint(raw, pos)
        if code not in _PROTOCOLS:
            raise ValueError(f"unsupported multiaddr protocol code 0x{code:x}")
        name, size = _PROTOCOLS[code]
        out.append(name)
        if size == -1:
            n, pos = decode_varint(raw, pos)
            out.append(raw[pos:pos + n].decode())
            pos += n
        elif size:
            v = raw[pos:pos + size]
            if len(v) != size:
                raise ValueError("truncated multiaddr")
            pos += size
            out.append(str(ipaddress.ip_address(v)) if name in ("ip4", "ip6") else str(int.from_bytes(v, "big")))
    return "/" + "/".join(out)


def parse_lotus(value: str) -> str:
    """A `StateMinerInfo.Multiaddrs` entry (base64 binary, or already text) as text."""
    if value.startswith("/"):
        return value
    return from_bytes(base64.b64decode(value, validate=True))


def http_url(addr: str) -> str | None:
    """Base URL for an HTTP(S) multiaddr, or None for anything else (libp2p transports)."""
    parts = addr.strip("/").split("/")
    if len(parts) < 5 or parts[2] != "tcp":
        return None
    proto, host, port, rest = parts[0], parts[1], parts[3], parts[4:]
    if proto not in ("ip4", "ip6", "dns", "dns4", "dns6"):
        return None
    if rest == ["http"]:
        scheme = "http"
    elif rest in (["https"], ["tls", "http"]):
        scheme = "https"
    else:
        return None
    if proto == "ip6":
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def http_multiaddr(host: str, port: int) -> str:
    return f"/ip4/{host}/tcp/{port}/http"
