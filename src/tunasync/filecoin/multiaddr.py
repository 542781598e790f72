"""Multiaddrs as real Filecoin peers publish them, and the HTTP base URL each one stands for.

Two forms: text (`/dns/sp.example.org/tcp/443/wss`, IPNI `Provider.Addrs`) and binary (Lotus JSON gives
`StateMinerInfo.Multiaddrs` as base64 of it): a sequence of (varint protocol code, value), where the value
has the fixed bit size of the protocol table or, for `V`, a varint byte length first.

Every protocol of the multiaddr table (multiformats/multiaddr `protocols.csv`, codes as in
multiformats/multicodec `table.csv`) is read, so an address we cannot use (`/udp/…/quic-v1`,
`/webtransport/certhash/…`, `/p2p-circuit`) is still understood and simply has no HTTP URL. An address we
cannot read at all (unknown code, truncated, bad value) is skipped by `readable()`: logged once with where
it came from and counted in `tunasync_filecoin_skipped_addrs_total{source}`, never a reason to drop the
peer's other addresses.

HTTP URLs (`http_url`): host `ip4|ip6|dns|dns4|dns6`, optional `tcp/<port>`, then one of

    http                      → http://host:port
    https, tls/http           → https://host:port
    tls/sni/<name>/http       → https://<name>:port   (the SNI name is the host we ask for)
    ws                        → http://host:port      (Curio: the libp2p websocket address is its HTTP server)
    wss, tls/ws, tls/sni/…/ws → https://host:port
    (optional) http-path/<p>  → the path becomes the URL's base path

`/p2p/<peer ID>` after the host is the peer's identity and does not change the URL. No `tcp` (e.g.
`/dns/h/tls/http`) means the scheme's default port. Anything else (`udp`, `quic-v1`, a bare libp2p
`/tcp/24001`, `dnsaddr`, relays) is not an HTTP endpoint we can use: no URL.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

from prometheus_client import Counter

from ..content.cid import CID, b32decode, b32encode, b58decode, b58encode, decode_varint, encode_varint
from ..errors import CodecError

log = logging.getLogger("tunasync.filecoin")

SKIPPED_ADDRS = Counter("tunasync_filecoin_skipped_addrs",
                        "Multiaddrs a chain node or indexer published that could not be read and were skipped, "
                        "by source (lotus.StateMinerInfo, ipni).", ["source"])

LIBP2P_KEY = 0x72  # multicodec of a peer ID written as a CID


class MultiaddrError(CodecError):
    """An address that cannot be read."""


@dataclass(frozen=True, slots=True)
class Protocol:
    code: int
    name: str
    bits: int  # value size in bits; -1 = varint length-prefixed; 0 = no value
    kind: str  # how the value is written in text (see _to_raw / _to_text)
    rest: bool = False  # the value is the rest of the text address (unix paths)


# multiformats/multiaddr protocols.csv (codes, names, sizes); `memory` and `plaintextv2` as go-multiaddr
# registers them; `httpath` is the pre-`http-path` code ipni/go-libipni maurl still reads.
_TABLE = (
    Protocol(4, "ip4", 32, "ip4"), Protocol(6, "tcp", 16, "port"), Protocol(273, "udp", 16, "port"),
    Protocol(33, "dccp", 16, "port"), Protocol(41, "ip6", 128, "ip6"), Protocol(42, "ip6zone", -1, "text"),
    Protocol(43, "ipcidr", 8, "uint"), Protocol(53, "dns", -1, "dns"), Protocol(54, "dns4", -1, "dns"),
    Protocol(55, "dns6", -1, "dns"), Protocol(56, "dnsaddr", -1, "dns"), Protocol(132, "sctp", 16, "port"),
    Protocol(301, "udt", 0, ""), Protocol(302, "utp", 0, ""), Protocol(400, "unix", -1, "text", rest=True),
    Protocol(421, "p2p", -1, "p2p"), Protocol(444, "onion", 96, "onion"), Protocol(445, "onion3", 296, "onion"),
    Protocol(446, "garlic64", -1, "garlic64"), Protocol(447, "garlic32", -1, "garlic32"),
    Protocol(448, "tls", 0, ""), Protocol(449, "sni", -1, "dns"), Protocol(454, "noise", 0, ""),
    Protocol(460, "quic", 0, ""), Protocol(461, "quic-v1", 0, ""), Protocol(465, "webtransport", 0, ""),
    Protocol(466, "certhash", -1, "multibase"), Protocol(480, "http", 0, ""),
    Protocol(481, "http-path", -1, "path"), Protocol(443, "https", 0, ""), Protocol(477, "ws", 0, ""),
    Protocol(478, "wss", 0, ""), Protocol(479, "p2p-websocket-star", 0, ""), Protocol(277, "p2p-stardust", 0, ""),
    Protocol(275, "p2p-webrtc-star", 0, ""), Protocol(276, "p2p-webrtc-direct", 0, ""),
    Protocol(280, "webrtc-direct", 0, ""), Protocol(281, "webrtc", 0, ""), Protocol(290, "p2p-circuit", 0, ""),
    Protocol(777, "memory", 64, "uint"), Protocol(0x706C61, "plaintextv2", 0, ""),
    Protocol(0x300200, "httpath", -1, "text"),
)
_BY_CODE = {p.code: p for p in _TABLE}
_BY_NAME = {p.name: p for p in _TABLE} | {"ipfs": _BY_CODE[421]}  # /ipfs/ is the old spelling of /p2p/

Component = tuple[str, str | None]  # (protocol name, value in its text form)


# -- values --------------------------------------------------------------------------------------------
def _multihash(raw: bytes) -> bytes:
    code, pos = decode_varint(raw)
    n, pos = decode_varint(raw, pos)
    if len(raw) - pos != n or (code == 0x12 and n != 32):
        raise MultiaddrError(f"not a multihash ({len(raw) - pos} digest bytes, header says {n})")
    return raw


def _b36decode(text: str) -> bytes:
    n = int(text, 36)
    pad = len(text) - len(text.lstrip("0"))
    return b"\0" * pad + (n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b"")


def _multibase(text: str) -> bytes:
    if not text:
        raise MultiaddrError("empty multibase value")
    prefix, body = text[0], text[1:]
    try:
        if prefix in "bB":
            return b32decode(body)
        if prefix == "z":
            return b58decode(body)
        if prefix in "kK":
            return _b36decode(body.lower())
        if prefix in "fF":
            return bytes.fromhex(body)
        if prefix in "uU":
            return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        if prefix in "mM":
            return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise MultiaddrError(f"bad multibase value {text!r}: {exc}") from None
    raise MultiaddrError(f"unsupported multibase prefix {prefix!r}")


def _peer_id_raw(text: str) -> bytes:
    """A peer ID in text: base58btc multihash (`Qm…`, `12D3KooW…`) or a CID with codec libp2p-key."""
    if text.startswith(("Qm", "1")):
        try:
            return _multihash(b58decode(text))
        except ValueError as exc:
            raise MultiaddrError(f"bad peer ID {text!r}: {exc}") from None
    try:
        raw = _multibase(text)
        cid = CID.decode(raw)
    except ValueError as exc:
        raise MultiaddrError(f"bad peer ID {text!r}: {exc}") from None
    if cid.codec != LIBP2P_KEY:
        raise MultiaddrError(f"bad peer ID {text!r}: a CID with codec 0x{cid.codec:x}, not libp2p-key")
    return _multihash(cid.multihash)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise MultiaddrError(f"bad port {text!r}")
    return int(text)


def _onion_raw(p: Protocol, text: str) -> bytes:
    host, sep, port = text.partition(":")
    want = 16 if p.name == "onion" else 56
    if not sep or len(host) != want:
        raise MultiaddrError(f"bad {p.name} address {text!r}")
    try:
        key = b32decode(host)
    except (ValueError, binascii.Error):
        raise MultiaddrError(f"bad {p.name} address {text!r}") from None
    if _port(port) < 1:
        raise MultiaddrError(f"bad {p.name} port in {text!r}")
    return key + int(port).to_bytes(2, "big")


_I2P = bytes.maketrans(b"-~", b"+/")
_I2P_BACK = bytes.maketrans(b"+/", b"-~")


def _to_raw(p: Protocol, text: str) -> bytes:
    k = p.kind
    try:
        if k == "ip4":
            return ipaddress.IPv4Address(text).packed
        if k == "ip6":
            return ipaddress.IPv6Address(text).packed
    except ValueError:
        raise MultiaddrError(f"bad {p.name} address {text!r}") from None
    if k == "port":
        return _port(text).to_bytes(2, "big")
    if k == "uint":
        if not text.isdigit() or int(text) >= 1 << p.bits:
            raise MultiaddrError(f"bad {p.name} value {text!r}")
        return int(text).to_bytes(p.bits // 8, "big")
    if k in ("dns", "text"):
        if not text or (k == "dns" and "/" in text):
            raise MultiaddrError(f"bad {p.name} value {text!r}")
        return text.encode()
    if k == "path":
        if not _valid_escapes(text):
            raise MultiaddrError(f"bad {p.name} value {text!r} (broken percent-escape)")
        return unquote_to_bytes(text)
    if k == "p2p":
        return _peer_id_raw(text)
    if k == "multibase":
        return _multihash(_multibase(text))
    if k == "onion":
        return _onion_raw(p, text)
    try:
        if k == "garlic64":
            raw = base64.b64decode(text.encode().translate(_I2P), validate=True)
            if len(raw) < 386:
                raise ValueError("too short")
            return raw
        if k == "garlic32":
            raw = b32decode(text)
            if len(raw) < 35 and len(raw) != 32:  # a 32-byte hash, or a key of 35+ bytes
                raise ValueError("too short")
            return raw
    except (ValueError, binascii.Error):
        raise MultiaddrError(f"bad {p.name} value {text!r}") from None
    raise MultiaddrError(f"{p.name} takes no value")  # pragma: no cover - table kinds are all handled


def _valid_escapes(text: str) -> bool:
    i = text.find("%")
    while i >= 0:
        if len(text) < i + 3 or any(c not in "0123456789abcdefABCDEF" for c in text[i + 1:i + 3]):
            return False
        i = text.find("%", i + 3)
    return True


def _to_text(p: Protocol, raw: bytes) -> str:
    k = p.kind
    if k == "ip4":
        return str(ipaddress.IPv4Address(raw))
    if k == "ip6":
        return str(ipaddress.IPv6Address(raw))
    if k in ("port", "uint"):
        return str(int.from_bytes(raw, "big"))
    if k in ("dns", "text"):
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            raise MultiaddrError(f"{p.name} value is not UTF-8") from None
        if not text or (k == "dns" and "/" in text):
            raise MultiaddrError(f"bad {p.name} value {text!r}")
        return text
    if k == "path":
        return quote(raw, safe="$&+:=@")  # one percent-encoded path segment: `/` becomes %2F
    if k == "p2p":
        return b58encode(_multihash(raw))
    if k == "multibase":
        return "u" + base64.urlsafe_b64encode(_multihash(raw)).decode().rstrip("=")
    if k == "onion":
        return f"{b32encode(raw[:-2])}:{int.from_bytes(raw[-2:], 'big')}"
    if k == "garlic64":
        return base64.b64encode(raw).translate(_I2P_BACK).decode()
    if k == "garlic32":
        return b32encode(raw)
    raise MultiaddrError(f"{p.name} takes no value")  # pragma: no cover


# -- the two forms -------------------------------------------------------------------------------------
def components_from_bytes(raw: bytes) -> list[Component]:
    """Binary multiaddr → [(name, text value or None)]; MultiaddrError on anything unreadable."""
    if not raw:
        raise MultiaddrError("empty multiaddr")
    out: list[Component] = []
    pos = 0
    try:
        while pos < len(raw):
            code, pos = decode_varint(raw, pos)
            p = _BY_CODE.get(code)
            if p is None:
                raise MultiaddrError(f"unknown multiaddr protocol code 0x{code:x}")
            if p.bits == 0:
                out.append((p.name, None))
                continue
            if p.bits < 0:
                n, pos = decode_varint(raw, pos)
            else:
                n = p.bits // 8
            value = raw[pos:pos + n]
            if len(value) != n:
                raise MultiaddrError(f"truncated multiaddr ({p.name} wants {n} bytes, {len(value)} left)")
            pos += n
            out.append((p.name, _to_text(p, value)))
    except MultiaddrError:
        raise
    except ValueError as exc:  # varints
        raise MultiaddrError(f"bad multiaddr bytes: {exc}") from None
    return out


def components_from_text(text: str) -> list[Component]:
    """Text multiaddr → [(name, canonical text value or None)]; every value is checked by encoding it."""
    if not text.startswith("/"):
        raise MultiaddrError(f"multiaddr {text!r} does not start with /")
    parts = text[1:].split("/")
    if parts and parts[-1] == "":
        parts.pop()  # one trailing slash is allowed (go-multiaddr does)
    if not parts:
        raise MultiaddrError("empty multiaddr")
    out: list[Component] = []
    i = 0
    while i < len(parts):
        p = _BY_NAME.get(parts[i])
        if p is None:
            raise MultiaddrError(f"unknown multiaddr protocol {parts[i]!r} in {text!r}")
        i += 1
        if p.bits == 0:
            out.append((p.name, None))
            continue
        if i >= len(parts):
            raise MultiaddrError(f"multiaddr {text!r}: {p.name} needs a value")
        value = "/".join(parts[i:]) if p.rest else parts[i]
        i = len(parts) if p.rest else i + 1
        out.append((p.name, _to_text(p, _to_raw(p, value))))
    return out


def to_bytes(addr: str) -> bytes:
    out = bytearray()
    for name, value in components_from_text(addr):
        p = _BY_NAME[name]
        out += encode_varint(p.code)
        if value is not None:
            raw = _to_raw(p, value)
            out += (encode_varint(len(raw)) + raw) if p.bits < 0 else raw
    return bytes(out)


def _join(comps: list[Component]) -> str:
    return "".join(f"/{n}" if v is None else f"/{n}/{v}" for n, v in comps)


def from_bytes(raw: bytes) -> str:
    return _join(components_from_bytes(raw))


def canonical(addr: str) -> str:
    """The text form go-multiaddr would print (`/ipfs/` as `/p2p/`, CID peer IDs as base58btc)."""
    return _join(components_from_text(addr))


def parse_lotus(value: str) -> str:
    """A `StateMinerInfo.Multiaddrs` entry (base64 binary, or already text) as text; MultiaddrError if unreadable."""
    if not isinstance(value, str):
        raise MultiaddrError(f"not a string: {value!r}")
    if value.startswith("/"):
        return canonical(value)
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MultiaddrError(f"{value!r} is neither base64 nor a text multiaddr") from None
    return from_bytes(raw)


# -- skipping what cannot be read -------------------------------------------------------------------------
_seen: set[tuple[str, str, str]] = set()
_seen_lock = threading.Lock()


def skipped(source: str, who: str, value: object, why: str, where: str = "") -> None:
    """Count an unreadable address; log it the first time (per source, peer and value)."""
    SKIPPED_ADDRS.labels(source).inc()
    key = (source, who, repr(value))
    with _seen_lock:
        if key in _seen:
            return
        if len(_seen) >= 4096:
            _seen.clear()
        _seen.add(key)
    log.warning("skipping unreadable multiaddr %r of %s from %s%s: %s", value, who, source,
                f" ({where})" if where else "", why)


def readable(values: Iterable[object], source: str, who: str, where: str = "") -> list[str]:
    """The text form of every value that can be read (base64 binary or text); the rest are `skipped`."""
    out = []
    for v in values:
        try:
            out.append(parse_lotus(v))  # type: ignore[arg-type]  # non-strings raise MultiaddrError
        except MultiaddrError as exc:
            skipped(source, who, v, str(exc), where)
    return out


# -- HTTP ----------------------------------------------------------------------------------------------
_HOSTS = ("ip4", "ip6", "dns", "dns4", "dns6")


def http_url(addr: str) -> str | None:
    """Base URL of an HTTP(S) endpoint (see the module doc), or None for anything else.
    MultiaddrError when `addr` cannot be read at all."""
    comps = components_from_text(addr)
    (kind, host), rest = comps[0], [c for c in comps[1:] if c[0] != "p2p"]
    if kind not in _HOSTS or host is None:
        return None
    port = None
    if rest and rest[0][0] == "tcp":
        port = rest.pop(0)[1]
    tls = bool(rest) and rest[0][0] == "tls"
    if tls:
        rest.pop(0)
        if rest and rest[0][0] == "sni":
            host = rest.pop(0)[1]
            kind = "dns"
    if not rest:
        return None
    top = rest.pop(0)[0]
    if top in ("http", "ws"):
        scheme = "https" if tls else "http"
    elif top in ("https", "wss") and not tls:
        scheme = "https"
    else:
        return None
    path = ""
    if rest and rest[0][0] in ("http-path", "httpath"):
        name, value = rest.pop(0)
        raw = unquote_to_bytes(value or "") if name == "http-path" else (value or "").encode()
        path = "/" + quote(raw.strip(b"/"), safe="/$&+:=@,;") if raw.strip(b"/") else ""
    if rest:
        return None  # e.g. /p2p-circuit: a relayed libp2p address, not a direct HTTP server
    if kind == "ip6":
        host = f"[{host}]"
    return f"{scheme}://{host}{f':{port}' if port is not None else ''}{path}"


def http_urls(addrs: Iterable[str], source: str = "", who: str = "") -> list[str]:
    """The distinct HTTP base URLs among `addrs`, in order; an unreadable one is skipped (and counted)."""
    out: list[str] = []
    for a in addrs:
        try:
            u = http_url(a)
        except MultiaddrError as exc:
            skipped(source or "unknown", who, a, str(exc))
            continue
        if u and u not in out:
            out.append(u)
    return out


def http_multiaddr(host: str, port: int) -> str:
    return f"/ip4/{host}/tcp/{port}/http"
