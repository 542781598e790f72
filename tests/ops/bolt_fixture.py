"""A small bbolt WRITER for tests, following the on-disk format of etcd-io/bbolt (file format 2).

Independent of the reader: it lays pages out the way bbolt's `node.write`, `Bucket.write` and
`Meta.Write` do (elements first, then key/value bytes; branch keys are each child's first key;
small leaf-only buckets are written inline; a value larger than a page makes an overflow page).
Page 0/1: meta (txid-1 and txid, or the reverse), page 2: an empty freelist, data from page 3.
"""

from __future__ import annotations

import json
import struct
from typing import Any

MAGIC, VERSION = 0xED0CDAED, 2
BRANCH, LEAF, META, FREELIST = 0x01, 0x02, 0x04, 0x10
HDR, ELEM = 16, 16


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) % (1 << 64)
    return h


def page_body(flags: int, elems: list[tuple[int, bytes, bytes | int]]) -> bytes:
    """Page bytes without the id (filled in by the caller): header, elements, then data."""
    head = bytearray(struct.pack("<QHHI", 0, flags, len(elems), 0))
    table = bytearray()
    data = bytearray()
    base = HDR + ELEM * len(elems)
    for i, (eflags, key, val) in enumerate(elems):
        pos = base + len(data) - (HDR + ELEM * i)
        if flags == LEAF:
            table += struct.pack("<IIII", eflags, pos, len(key), len(val))
            data += key + val
        else:
            table += struct.pack("<IIQ", pos, len(key), val)
            data += key
    return bytes(head + table + data)


class BoltWriter:
    def __init__(self, page_size: int = 4096, max_per_page: int | None = None, inline: bool = True):
        self.ps = page_size
        self.max = max_per_page
        self.inline = inline
        self.pages: dict[int, bytes] = {}
        self.next = 3

    def _alloc(self, body: bytes) -> int:
        n = max(1, -(-len(body) // self.ps))
        pgid = self.next
        self.next += n
        raw = bytearray(body.ljust(n * self.ps, b"\0"))
        struct.pack_into("<Q", raw, 0, pgid)
        struct.pack_into("<I", raw, 12, n - 1)  # overflow
        self.pages[pgid] = bytes(raw)
        return pgid

    def _chunks(self, elems: list, size) -> list[list]:
        out, cur, used = [], [], HDR
        for e in elems:
            s = size(e)
            if cur and (used + s > self.ps or (self.max and len(cur) >= self.max)):
                out.append(cur)
                cur, used = [], HDR
            cur.append(e)
            used += s
        out.append(cur)
        return out

    def tree(self, elems: list[tuple[int, bytes, bytes]]) -> int:
        """Write a B+tree of leaf elements; returns the root page id."""
        level = []
        for chunk in self._chunks(elems, lambda e: ELEM + len(e[1]) + len(e[2])):
            level.append((chunk[0][1] if chunk else b"", self._alloc(page_body(LEAF, chunk))))
        while len(level) > 1:
            nxt = []
            for chunk in self._chunks(level, lambda e: ELEM + len(e[0])):
                nxt.append((chunk[0][0], self._alloc(page_body(BRANCH, [(0, k, p) for k, p in chunk]))))
            level = nxt
        return level[0][1]

    def bucket(self, content: dict[bytes, Any]) -> bytes:
        """The value stored for a bucket: header (root, sequence) and, if inline, its leaf page."""
        elems = []
        for key in sorted(content):
            v = content[key]
            if isinstance(v, dict):
                elems.append((1, key, self.bucket(v)))
            else:
                elems.append((0, key, v))
        body = page_body(LEAF, elems)
        has_sub = any(f for f, _, _ in elems)
        if self.inline and not has_sub and len(body) <= self.ps // 4:
            return struct.pack("<QQ", 0, 0) + body
        return struct.pack("<QQ", self.tree(elems), 0)

    def _meta(self, txid: int, root: int) -> bytes:
        m = struct.pack("<IIII QQ QQQ", MAGIC, VERSION, self.ps, 0, root, 0, 2, self.next, txid)
        m += struct.pack("<Q", fnv1a64(m))
        raw = bytearray(self.ps)
        raw[:HDR] = struct.pack("<QHHI", txid % 2, META, 0, 0)
        raw[HDR:HDR + len(m)] = m
        return bytes(raw)

    def build(self, buckets: dict[bytes, dict], older: dict[bytes, dict] | None = None, txid: int = 7) -> bytes:
        """The file: the current tree at `txid`, the `older` tree (or the same) at txid-1."""
        old_root = None
        if older is not None:
            old_root = self.tree([(1, k, self.bucket(older[k])) for k in sorted(older)])
        root = self.tree([(1, k, self.bucket(buckets[k])) for k in sorted(buckets)])
        metas = {txid % 2: self._meta(txid, root), (txid - 1) % 2: self._meta(txid - 1, old_root or root)}
        out = bytearray(metas[0] + metas[1])
        out += struct.pack("<QHHI", 2, FREELIST, 0, 0).ljust(self.ps, b"\0")
        for pgid in sorted(self.pages):
            assert len(out) == pgid * self.ps
            out += self.pages[pgid]
        return bytes(out)


# --- Go tunasync's data, as the Go manager stores it -------------------------------------------------


def go_worker(wid: str, url: str = "", token: str = "") -> bytes:
    return json.dumps({"id": wid, "url": url or f"http://{wid}.example:6000/", "token": token,
                       "last_online": "2024-05-01T12:00:00.123456789+08:00",
                       "last_register": "2024-05-01T11:00:00+08:00"}, separators=(",", ":")).encode()


def go_status(name: str, worker: str, status: str = "success", size: str = "1.2G") -> bytes:
    return json.dumps({
        "name": name, "worker": worker, "is_master": True, "status": status,
        "last_update": "2024-05-01T12:34:56.789012345+08:00", "last_started": "2024-05-01T12:30:00+08:00",
        "last_ended": "2024-05-01T12:34:56.789012345+08:00", "next_schedule": "0001-01-01T00:00:00Z",
        "upstream": f"rsync://upstream.example/{name}/", "size": size, "error_msg": "",
    }, separators=(",", ":")).encode()


def go_database(workers: dict[str, list[str]], **status_kw: Any) -> dict[bytes, dict]:
    """Buckets `workers` and `mirror_status` for {worker id: [mirror names]}."""
    return {
        b"workers": {w.encode(): go_worker(w) for w in workers},
        b"mirror_status": {f"{m}/{w}".encode(): go_status(m, w, **status_kw) for w, ms in workers.items() for m in ms},
    }
