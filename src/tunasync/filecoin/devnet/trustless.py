"""The rules of a trustless gateway's `/ipfs/` answers, as pure functions (the handler is `ipfs.py`).

Sources: ipfs/specs `src/http-gateways/trustless-gateway.md` (response types, `dag-scope`,
`entity-bytes`, CAR `version`/`order`/`dups`, status codes) and `path-gateway.md` (`Etag`,
`Cache-Control`, `Content-Disposition`, `Content-Location`, `X-Ipfs-Path`, `X-Ipfs-Roots`,
`If-None-Match`); docs/filecoin.md "The trustless-gateway contract" says what we serve and why.

    negotiate(query, accept)          -> Choice (raw | car + order/dups) or Refused(400|406, reason)
    entity_range(text, size)          -> inclusive (first, last), None for an empty range, or Refused
    etag(...) / etag_matches(...)     the validator and the If-None-Match test (weak comparison)
    resolve(get_block, root, path)    the blocks that prove a content path, and where it ends
    walk(get_block, target, scope, byte_range, dups)   the blocks of one answer, in DFS order
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from ...content import dagcbor
from ...content.cid import CID, DAG_CBOR, DAG_PB, IDENTITY, RAW
from ...content.dagpb import DagPbError, PBNode, decode_node
from ...content.hamt import bucket
from ...content.unixfs import DIRECTORY, FILE, HAMT_SHARD, UnixFSData, UnixFSError, decode_data
from ...content.unixfs import RAW as UNIXFS_RAW
from ...content.verify import dfs_blocks
from ...errors import TunasyncError

RAW_TYPE = "application/vnd.ipld.raw"
CAR_TYPE = "application/vnd.ipld.car"
CACHE_CONTROL = "public, max-age=29030400, immutable"  # path-gateway.md: every immutable /ipfs/ resource
SCOPES = ("block", "entity", "all")
GetBlock = Callable[[CID], bytes]


class Refused(TunasyncError):
    """A request we answer with an error status and a reason."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Choice:
    format: str  # "raw" | "car"
    order: str = "dfs"  # what we send: dfs (an `order=unk` request gets our default order)
    dups: str = "n"  # y | n; n when the client did not say (trustless-gateway.md, CAR `dups`)
    negotiated: bool = False  # chosen from Accept without `format=`: answer with a Content-Location

    @property
    def content_type(self) -> str:
        if self.format == "raw":
            return RAW_TYPE
        return f"{CAR_TYPE}; version=1; order={self.order}; dups={self.dups}"


def parse_accept(header: str) -> list[tuple[str, dict[str, str], float]]:
    """Media ranges of an Accept header, best first (RFC 9110 §12.5.1; ties keep their order)."""
    out = []
    for item in header.split(","):
        parts = [p.strip() for p in item.split(";")]
        if not parts[0]:
            continue
        params: dict[str, str] = {}
        q = 1.0
        for p in parts[1:]:
            k, _, v = p.partition("=")
            k, v = k.strip().lower(), v.strip().strip('"')
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
            elif k:
                params[k] = v.lower()
        out.append((parts[0].lower(), params, q))
    return sorted(out, key=lambda e: -e[2])


def _car_params(params: Mapping[str, str]) -> tuple[str | None, str | None] | None:
    """(order, dups) asked for, None when a value is one we do not serve."""
    if params.get("version", "1") != "1":
        return None
    order, dups = params.get("order"), params.get("dups")
    if order not in (None, "dfs", "unk") or dups not in (None, "y", "n"):
        return None
    return order, dups


def negotiate(query: Mapping[str, str], accept: str | None) -> Choice:
    """The response type: `format=` wins over Accept; CAR parameters from Accept, then `car-*` params."""
    fmt = query.get("format")
    if fmt is not None and fmt not in ("raw", "car"):
        raise Refused(400, f"format={fmt} is not served by a trustless gateway (raw or car)")
    entries = [e for e in parse_accept(accept or "") if e[2] > 0]
    asked: tuple[str | None, str | None] = (None, None)
    negotiated = False
    if fmt is None:
        for media, params, _ in entries:
            if media == RAW_TYPE:
                fmt = "raw"
                break
            if media == CAR_TYPE and (got := _car_params(params)) is not None:
                fmt, asked = "car", got
                break
        if fmt is None:
            if any(m not in ("*/*", "application/*") for m, _, _ in entries):
                raise Refused(406, f"none of Accept {accept!r} is served here ({RAW_TYPE}, {CAR_TYPE}; version=1)")
            raise Refused(400, f"trustless gateway: send Accept: {RAW_TYPE} or {CAR_TYPE}, or ?format=raw|car")
        negotiated = True
    elif fmt == "car":
        cars = [p for m, p, _ in entries if m == CAR_TYPE]
        usable = [got for p in cars if (got := _car_params(p)) is not None]
        if cars and not usable:
            raise Refused(406, f"Accept {accept!r} asks for a CAR variant not served here")
        asked = usable[0] if usable else asked
    if fmt == "raw":
        return Choice("raw", negotiated=negotiated)
    version = query.get("car-version", "1")
    order = query.get("car-order", asked[0])
    dups = query.get("car-dups", asked[1])
    if version != "1":
        raise Refused(400, f"car-version={version}: only CAR version 1 is served")
    if order not in (None, "dfs", "unk"):
        raise Refused(400, f"car-order={order}: dfs or unk")
    if dups not in (None, "y", "n"):
        raise Refused(400, f"car-dups={dups}: y or n")
    return Choice("car", "dfs", dups or "n", negotiated)


def entity_range(text: str, size: int) -> tuple[int, int] | None:
    """`entity-bytes=from:to` of an entity of `size` bytes -> inclusive (first, last).

    `*` is the end, negatives count from the end, `to` past the end is clipped; a range that starts
    after the end is a 400 (known up front); an empty one (to before from) -> None (= dag-scope=block).
    """
    a_s, sep, b_s = text.partition(":")
    try:
        if not sep:
            raise ValueError
        a = int(a_s)
        b = size - 1 if b_s == "*" else int(b_s)
    except ValueError:
        raise Refused(400, f"entity-bytes={text}: want from:to (integers, to may be *)") from None
    if a < 0:
        a = max(0, size + a)
    if b < 0:
        b = size + b
    if a >= size and size > 0 or (size == 0 and a > 0):
        raise Refused(400, f"entity-bytes={text}: the entity has {size} bytes")
    b = min(b, size - 1)
    return None if a > b else (a, b)


def file_size(cid: CID, block: bytes) -> int | None:
    """Bytes of a UnixFS file (or raw block) entity; None when it is not a file."""
    if cid.codec == RAW:
        return len(block)
    if cid.codec != DAG_PB:
        return None
    try:
        data = decode_data(decode_node(block).data or b"")
    except (DagPbError, UnixFSError):
        return None
    if data.type not in (FILE, UNIXFS_RAW):
        return None
    return len(data.data or b"") + sum(data.blocksizes)


def etag(target: str, choice: Choice, scope: str = "all", entity_bytes: str | None = None,
         weak: bool = False) -> str:
    """Strong unless the block order is not reproducible; unique per format, scope, range, order, dups."""
    if choice.format == "raw":
        return f'"{target}.raw"'
    tag = f"{target}.car.{scope}"
    if entity_bytes is not None:
        tag += f".{entity_bytes}"
    tag += f".{'unk' if weak else choice.order}.{choice.dups}"
    return f'W/"{tag}"' if weak else f'"{tag}"'


def etag_matches(if_none_match: str, tag: str) -> bool:
    """RFC 9110 §13.1.2: `*` or any listed tag equal to ours under weak comparison."""
    ours = tag.removeprefix("W/")
    for item in if_none_match.split(","):
        item = item.strip()
        if item == "*" or (item and item.removeprefix("W/") == ours):
            return True
    return False


def content_disposition(filename: str) -> str:
    """`attachment; filename="…"`, non-ASCII as `_` plus the RFC 8187 UTF-8 form (path-gateway.md)."""
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    out = f'attachment; filename="{ascii_name}"'
    if ascii_name != filename:
        out += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return out


# -- content paths and walks ------------------------------------------------------------------------
def _node(cid: CID, block: bytes) -> tuple[PBNode, UnixFSData]:
    try:
        node = decode_node(block)
        return node, decode_data(node.data or b"")
    except (DagPbError, UnixFSError) as exc:
        raise Refused(400, f"{cid} is not a UnixFS node: {exc}") from None


def resolve(get_block: GetBlock, root: CID, path: list[str]) -> tuple[list[CID], CID, list[CID]]:
    """Walk `path` from `root` through UnixFS directories (plain or HAMT-sharded).

    Returns (every block on the way, in order, the terminal excluded; the terminal CID; the logical
    roots, one per path segment, for X-Ipfs-Roots). Refused(404) names the missing segment.
    """
    proof: list[CID] = []
    roots = [root]
    cur = root
    for i, name in enumerate(path):
        here = "/".join(path[:i]) or "/"
        if cur.codec != DAG_PB:
            raise Refused(404, f"/{'/'.join(path[: i + 1])}: {here} is not a directory")
        block = fetch_block(get_block, cur)
        node, data = _node(cur, block)
        proof.append(cur)
        if data.type == DIRECTORY:
            nxt = next((link.cid for link in node.links if link.name == name), None)
        elif data.type == HAMT_SHARD:
            nxt = _hamt_lookup(get_block, node, name, proof)
        else:
            raise Refused(404, f"/{'/'.join(path[: i + 1])}: {here} is not a directory")
        if nxt is None:
            raise Refused(404, f"no link named {name!r} under /{'/'.join(path[:i])}")
        cur = nxt
        roots.append(cur)
    return proof, cur, roots


def _hamt_lookup(get_block: GetBlock, node: PBNode, name: str, proof: list[CID]) -> CID | None:
    key = name.encode()
    depth = 0
    while True:
        prefix = f"{bucket(key, depth):02X}"
        sub = None
        for link in node.links:
            if link.name == prefix + name:
                return link.cid
            if link.name == prefix:
                sub = link.cid
        if sub is None:
            return None
        block = fetch_block(get_block, sub)
        node, data = _node(sub, block)
        if data.type != HAMT_SHARD:
            return None
        proof.append(sub)
        depth += 1


def fetch_block(get_block: GetBlock, cid: CID) -> bytes:
    """The block, or Refused(404) when this provider does not hold it."""
    if cid.mh_code == IDENTITY:
        return cid.digest
    try:
        return get_block(cid)
    except KeyError:
        raise Refused(404, f"block {cid} is not held by this provider") from None


def _cbor_links(value: object, out: list[CID]) -> None:
    if isinstance(value, CID):
        out.append(value)
    elif isinstance(value, list):
        for v in value:
            _cbor_links(v, out)
    elif isinstance(value, dict):
        for k in sorted(value, key=lambda k: (len(k), k)):  # DAG-CBOR map order
            _cbor_links(value[k], out)


def all_blocks(get_block: GetBlock, root: CID) -> Iterator[tuple[CID, bytes]]:
    """`dag-scope=all`: the whole DAG under `root`, depth first, links in order (identity CIDs skipped)."""
    stack = [root]
    while stack:
        cid = stack.pop()
        block = cid.digest if cid.mh_code == IDENTITY else get_block(cid)
        if cid.mh_code != IDENTITY:
            yield cid, block
        links: list[CID] = []
        if cid.codec == DAG_PB:
            links = [link.cid for link in decode_node(block).links]
        elif cid.codec == DAG_CBOR:
            try:
                _cbor_links(dagcbor.decode(block), links)
            except dagcbor.DagCborError:
                links = []
        stack.extend(reversed(links))


def walk(get_block: GetBlock, proof: list[CID], target: CID, scope: str,
         byte_range: tuple[int, int] | None, dups: str) -> Iterator[tuple[CID, bytes]]:
    """The blocks of a CAR answer: the path's proof, then the scope's blocks; `dups=n` sends each once.

    Raises KeyError for a block it does not hold (the caller ends the CAR there).
    """
    seen: set[bytes] = set()
    for cid, block in _scope_blocks(get_block, proof, target, scope, byte_range):
        if dups == "n":
            if cid.multihash in seen:
                continue
            seen.add(cid.multihash)
        yield cid, block


def _scope_blocks(get_block: GetBlock, proof: list[CID], target: CID, scope: str,
                  byte_range: tuple[int, int] | None) -> Iterator[tuple[CID, bytes]]:
    for cid in proof:
        if cid.mh_code != IDENTITY:
            yield cid, get_block(cid)
    if scope == "block":
        if target.mh_code != IDENTITY:
            yield target, get_block(target)
    elif scope == "entity":
        yield from dfs_blocks(get_block, target, byte_range)
    else:
        yield from all_blocks(get_block, target)
