"""Get files back out of a block store (a CAR index): verified, ranged, never half-written.

    read_file(get_block, cid, byte_range)        -> iterator of verified file bytes
    list_dir(get_block, cid)                     -> [(name, cid)] of a plain or HAMT directory
    extract(index, cid, out_path, byte_range)    -> bytes written (a file, or a directory tree)

Output goes to `out_path + ".tmp"` first and is renamed into place only when everything verified.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator

from ..errors import VerifyError
from .carread import check_block
from .cid import CID, DAG_PB
from .dagpb import DagPbError, PBNode, decode_node
from .unixfs import DIRECTORY, HAMT_SHARD, UnixFSData, UnixFSError, decode_data
from .verify import DfsVerifier, dfs_blocks

GetBlock = Callable[[CID], bytes]


def read_file(get_block: GetBlock, cid: CID, byte_range: tuple[int, int | None] | None = None,
              ) -> Iterator[bytes]:
    """The file's bytes (or the inclusive range), each block checked against its CID on the way."""
    v = DfsVerifier(cid, byte_range)
    for c, block in dfs_blocks(get_block, cid, byte_range):
        for _, data in v.feed_block(c, block):
            yield data
    v.finish()


def _checked(get_block: GetBlock, cid: CID) -> bytes:
    block = get_block(cid)
    check_block(cid, block)
    return block


def _decode(cid: CID, block: bytes) -> tuple[PBNode, UnixFSData]:
    try:
        node = decode_node(block)
        return node, decode_data(node.data or b"")
    except (DagPbError, UnixFSError) as exc:
        raise VerifyError(cid, f"not a UnixFS node: {exc}") from None


def node_type(get_block: GetBlock, cid: CID) -> int | None:
    """UnixFS type of a dag-pb node (None for raw leaves: a file)."""
    if cid.codec != DAG_PB:
        return None
    return _decode(cid, _checked(get_block, cid))[1].type


def _safe_name(parent: CID, name: str | None) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise VerifyError(parent, f"unsafe directory entry name {name!r}")
    return name


def list_dir(get_block: GetBlock, cid: CID) -> list[tuple[str, CID]]:
    """Entries of a directory, plain or HAMT-sharded, in link order."""
    node, data = _decode(cid, _checked(get_block, cid))
    if data.type == DIRECTORY:
        return [(_safe_name(cid, link.name), link.cid) for link in node.links]
    if data.type != HAMT_SHARD:
        raise VerifyError(cid, f"not a directory (UnixFS type {data.type})")
    out: list[tuple[str, CID]] = []
    for link in node.links:
        name = link.name or ""
        if len(name) < 2:
            raise VerifyError(cid, f"bad HAMT link name {name!r}")
        if len(name) == 2:
            out.extend(list_dir(get_block, link.cid))
        else:
            out.append((_safe_name(cid, name[2:]), link.cid))
    return out


def _write_file(get_block: GetBlock, cid: CID, path: str, byte_range: tuple[int, int | None] | None = None,
                progress: Callable[[int], None] | None = None) -> int:
    n = 0
    with open(path, "wb") as f:
        for data in read_file(get_block, cid, byte_range):
            f.write(data)
            n += len(data)
            if progress:
                progress(len(data))
    return n


def _write_tree(get_block: GetBlock, cid: CID, path: str, progress: Callable[[int], None] | None,
                depth: int = 0) -> int:
    if depth > 64:
        raise VerifyError(cid, "directories nested deeper than 64 levels")
    os.mkdir(path)
    total = 0
    for name, child in list_dir(get_block, cid):
        target = os.path.join(path, name)
        if node_type(get_block, child) in (DIRECTORY, HAMT_SHARD):
            total += _write_tree(get_block, child, target, progress, depth + 1)
        else:
            total += _write_file(get_block, child, target, None, progress)
    return total


def extract(get_block: GetBlock, cid: CID | str, out_path: str,
            byte_range: tuple[int, int | None] | None = None,
            progress: Callable[[int], None] | None = None) -> int:
    """Write the file (or byte range, or directory tree) at `cid` to `out_path`; return bytes written."""
    cid = CID.decode(cid)
    tmp = out_path + ".tmp"
    is_dir = node_type(get_block, cid) in (DIRECTORY, HAMT_SHARD)
    if is_dir and byte_range is not None:
        raise VerifyError(cid, "a byte range needs a file, this is a directory")
    try:
        if is_dir:
            n = _write_tree(get_block, cid, tmp, progress)
        else:
            n = _write_file(get_block, cid, tmp, byte_range, progress)
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.isdir(tmp) and not os.path.islink(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        raise
    return n
