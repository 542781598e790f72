"""DAG-PB (codec 0x70): the protobuf envelope of every UnixFS node (docs/cid.md §1.2).

Writer: canonical form (Links before Data; inside a link Hash, Name, Tsize in that order). An empty
`name=""` is written as present-but-empty (`12 00`), which is what kubo and ipfs-car do for file
chunk links; `name=None` omits it. Reader: strict (no unknown fields, no duplicates, no wrong wire
types, link fields in order); Data may come before or after the Links, as the spec allows.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import CodecError
from .cid import CID, decode_varint, encode_varint


class DagPbError(CodecError):
    """A block is not valid canonical-enough DAG-PB."""


@dataclass(frozen=True, slots=True)
class PBLink:
    cid: CID
    name: str | None = ""
    tsize: int | None = None


@dataclass(frozen=True, slots=True)
class PBNode:
    links: tuple[PBLink, ...]
    data: bytes | None


def _len_field(tag: int, payload: bytes) -> bytes:
    return bytes((tag,)) + encode_varint(len(payload)) + payload


def encode_link(link: PBLink) -> bytes:
    out = _len_field(0x0A, link.cid.bytes)
    if link.name is not None:
        out += _len_field(0x12, link.name.encode("utf-8"))
    if link.tsize is not None:
        out += b"\x18" + encode_varint(link.tsize)
    return out


def encode_node(links: list[PBLink] | tuple[PBLink, ...], data: bytes | None) -> bytes:
    """Serialize a PBNode canonically: all links first (in the given order), then Data."""
    parts = [_len_field(0x12, encode_link(link)) for link in links]
    if data is not None:
        parts.append(_len_field(0x0A, data))
    return b"".join(parts)


def _read_len(buf: bytes | memoryview, pos: int, end: int, what: str) -> tuple[int, int]:
    try:
        n, pos = decode_varint(buf, pos)
    except ValueError as exc:
        raise DagPbError(f"{what}: {exc}") from None
    if pos + n > end:
        raise DagPbError(f"{what}: length {n} runs past the end of the block")
    return pos, pos + n


def _decode_link(buf: bytes | memoryview, pos: int, end: int) -> PBLink:
    cid: CID | None = None
    name: str | None = None
    tsize: int | None = None
    last = 0
    while pos < end:
        key, pos = _varint(buf, pos, "link field key")
        field, wire = key >> 3, key & 7
        if field <= last:
            raise DagPbError(f"link field {field} out of order or duplicated")
        last = field
        if field == 1 and wire == 2:
            start, pos = _read_len(buf, pos, end, "link Hash")
            try:
                cid = CID.decode(bytes(buf[start:pos]))
            except ValueError as exc:
                raise DagPbError(f"link Hash is not a CID: {exc}") from None
        elif field == 2 and wire == 2:
            start, pos = _read_len(buf, pos, end, "link Name")
            try:
                name = bytes(buf[start:pos]).decode("utf-8")
            except UnicodeDecodeError:
                raise DagPbError("link Name is not UTF-8") from None
        elif field == 3 and wire == 0:
            tsize, pos = _varint(buf, pos, "link Tsize")
        else:
            raise DagPbError(f"unexpected link field {field} (wire type {wire})")
    if pos != end:
        raise DagPbError("link runs past its length")
    if cid is None:
        raise DagPbError("link without Hash")
    return PBLink(cid, name, tsize)


def _varint(buf: bytes | memoryview, pos: int, what: str) -> tuple[int, int]:
    try:
        return decode_varint(buf, pos)
    except ValueError as exc:
        raise DagPbError(f"{what}: {exc}") from None


def decode_node(block: bytes | memoryview) -> PBNode:
    """Parse a DAG-PB block strictly; DagPbError on anything malformed."""
    links: list[PBLink] = []
    data: bytes | None = None
    links_done = False
    pos, end = 0, len(block)
    while pos < end:
        key, pos = _varint(block, pos, "node field key")
        field, wire = key >> 3, key & 7
        if wire != 2 or field not in (1, 2):
            raise DagPbError(f"unexpected node field {field} (wire type {wire})")
        start, pos = _read_len(block, pos, end, "node field")
        if field == 1:
            if data is not None:
                raise DagPbError("duplicate Data field")
            data = bytes(block[start:pos])
            links_done = bool(links)
        else:
            if links_done:
                raise DagPbError("Links split around Data")
            links.append(_decode_link(block, start, pos))
    return PBNode(tuple(links), data)
