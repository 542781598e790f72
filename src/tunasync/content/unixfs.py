"""UnixFS: the `Data` message inside DAG-PB nodes, the three import profiles, file CIDs (docs/cid.md §1.3–§1.6).

    file_cid(path, profile)   -> FileNode(cid, size)          streaming, leaves hashed on a thread pool
    bytes_cid(data, profile)  -> CID
    FileBuilder(profile)      .update(chunk) ... .finish() -> FileDag (root, size, interior blocks)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ContentError
from .cid import CID, decode_varint, encode_varint

RAW, DIRECTORY, FILE, METADATA, SYMLINK, HAMT_SHARD = 0, 1, 2, 3, 4, 5
MURMUR3_X64_64 = 0x22


@dataclass(frozen=True, slots=True)
class Profile:
    """How an importer cuts and links a file (and when it shards a directory)."""

    name: str
    cid_version: int
    chunk_size: int
    width: int
    raw_leaves: bool
    # "entries": shard a directory with more than 1000 entries (ipfs-car / Storacha);
    # "links-bytes": shard when Σ(len(name) + len(cid)) > 256 KiB (kubo unixfs-v0-2015 rule);
    # "block-bytes": shard when the plain directory block would exceed 256 KiB (kubo unixfs-v1-2025);
    # "never": always a plain directory.
    shard_rule: str


PROFILES: dict[str, Profile] = {
    "ipfs-car": Profile("ipfs-car", 1, 1 << 20, 1024, True, "entries"),
    "kubo-v1": Profile("kubo-v1", 1, 1 << 18, 174, True, "links-bytes"),
    "kubo": Profile("kubo", 0, 1 << 18, 174, False, "links-bytes"),
}


def get_profile(profile: str | Profile) -> Profile:
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise ValueError(f"unknown profile {profile!r} (choose from {', '.join(PROFILES)})") from None


class UnixFSError(ContentError):
    """A UnixFS Data message is malformed or not what the walker expected."""


class PathError(ContentError):
    """A file cannot be addressed (not a regular file, ...): names the path."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class FileChangedError(PathError):
    """A file changed (size or mtime) while it was being read: no CID is recorded for it."""


@dataclass(slots=True)
class UnixFSData:
    type: int
    data: bytes | None = None
    filesize: int | None = None
    blocksizes: list[int] = field(default_factory=list)
    hash_type: int | None = None
    fanout: int | None = None
    mode: int | None = None
    mtime: bytes | None = None  # kept opaque: we never write it


def encode_data(d: UnixFSData) -> bytes:
    """Fields in number order, blocksizes unpacked (one `20 <varint>` each)."""
    out = bytearray(b"\x08" + encode_varint(d.type))
    if d.data is not None:
        out += b"\x12" + encode_varint(len(d.data)) + d.data
    if d.filesize is not None:
        out += b"\x18" + encode_varint(d.filesize)
    for size in d.blocksizes:
        out += b"\x20" + encode_varint(size)
    if d.hash_type is not None:
        out += b"\x28" + encode_varint(d.hash_type)
    if d.fanout is not None:
        out += b"\x30" + encode_varint(d.fanout)
    if d.mode is not None:
        out += b"\x38" + encode_varint(d.mode)
    if d.mtime is not None:
        out += b"\x42" + encode_varint(len(d.mtime)) + d.mtime
    return bytes(out)


def file_data(filesize: int, blocksizes: list[int]) -> bytes:
    """Data of an interior file node (fast path of encode_data)."""
    parts = [b"\x08\x02\x18", encode_varint(filesize)]
    for size in blocksizes:
        parts.append(b"\x20")
        parts.append(encode_varint(size))
    return b"".join(parts)


def leaf_data(chunk: bytes | bytearray | memoryview) -> bytes:
    """Data of a dag-pb leaf: Type=File, the chunk inline (absent when empty), filesize."""
    n = len(chunk)
    if n == 0:
        return b"\x08\x02\x18\x00"
    return b"".join((b"\x08\x02\x12", encode_varint(n), chunk, b"\x18", encode_varint(n)))


def _uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    try:
        return decode_varint(buf, pos)
    except ValueError as exc:
        raise UnixFSError(f"UnixFS Data: {exc}") from None


def decode_data(buf: bytes) -> UnixFSData:
    """Parse a UnixFS Data message; accepts packed blocksizes too (some old writers)."""
    d = UnixFSData(type=-1)
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _uvarint(buf, pos)
        fnum, wire = key >> 3, key & 7
        if wire == 0 and fnum in (1, 3, 4, 5, 6, 7):
            value, pos = _uvarint(buf, pos)
            if fnum == 1:
                d.type = value
            elif fnum == 3:
                d.filesize = value
            elif fnum == 4:
                d.blocksizes.append(value)
            elif fnum == 5:
                d.hash_type = value
            elif fnum == 6:
                d.fanout = value
            else:
                d.mode = value
        elif wire == 2 and fnum in (2, 4, 8):
            n, pos = _uvarint(buf, pos)
            if pos + n > end:
                raise UnixFSError("UnixFS Data: field runs past the end")
            chunk = buf[pos : pos + n]
            pos += n
            if fnum == 2:
                d.data = bytes(chunk)
            elif fnum == 8:
                d.mtime = bytes(chunk)
            else:
                p = 0
                while p < len(chunk):
                    v, p = _uvarint(chunk, p)
                    d.blocksizes.append(v)
        else:
            raise UnixFSError(f"UnixFS Data: unexpected field {fnum} (wire type {wire})")
    if d.type < 0:
        raise UnixFSError("UnixFS Data: no Type")
    if d.type not in (RAW, DIRECTORY, FILE, METADATA, SYMLINK, HAMT_SHARD):
        raise UnixFSError(f"UnixFS Data: unknown Type {d.type}")
    return d


@dataclass(frozen=True, slots=True)
class FileNode:
    cid: CID
    size: int


def file_cid(path: str, profile: str | Profile = "ipfs-car") -> FileNode:
    """CID and size of a file, streaming (memory flat); FileChangedError if it changes meanwhile."""
    from .chunker import hash_file

    dag = hash_file(path, profile, keep_blocks=False)
    return FileNode(dag.root, dag.size)


def bytes_cid(data: bytes, profile: str | Profile = "ipfs-car") -> CID:
    """CID of a byte string as a UnixFS file."""
    from .filedag import FileBuilder

    b = FileBuilder(profile, keep_blocks=False)
    b.update(data)
    return b.finish().root


def __getattr__(name: str) -> object:
    # FileBuilder/FileDag live in filedag.py (which imports this module); re-exported lazily.
    if name in ("FileBuilder", "FileDag"):
        from . import filedag

        return getattr(filedag, name)
    raise AttributeError(name)
