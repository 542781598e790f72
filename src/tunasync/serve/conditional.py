"""What to answer for a file, from the request headers and the file's validators (pure; RFC 9110 §13, §14).

Evaluated in the RFC's order: If-Match, If-Unmodified-Since (412), If-None-Match, If-Modified-Since
(304), then If-Range and Range (206 / 416 / 200). One byte range is served; several ranges answer 200
with the whole file, as the issue allows. A Range header we cannot parse is ignored (200), as the RFC
says; a well-formed range that misses the file is 416 with `Content-Range: bytes */size`.

Validators use nginx's format (`"<mtime hex>-<size hex>"`, Last-Modified to the second), so a file
keeps its ETag whether nginx serves it from disk or we serve it evicted, from the index.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime

_RANGE = re.compile(r"^[ \t]*([0-9]*)[ \t]*-[ \t]*([0-9]*)[ \t]*$")
_DIGITS = 18  # a byte position with more digits is past any file (and never converted: int() of a
#               few thousand digits raises, and is slow before that)
_HUGE = 10**_DIGITS


def _pos(digits: str) -> int:
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= _DIGITS else _HUGE


@dataclass(frozen=True)
class Validators:
    size: int
    mtime_ns: int

    @property
    def mtime(self) -> int:
        return self.mtime_ns // 1_000_000_000

    @property
    def etag(self) -> str:
        return f'"{self.mtime:x}-{self.size:x}"'

    @property
    def last_modified(self) -> str:
        return format_datetime(datetime.fromtimestamp(self.mtime, timezone.utc), usegmt=True)


@dataclass(frozen=True)
class Plan:
    status: int  # 200, 206, 304, 412 or 416
    start: int = 0  # first byte to send
    length: int = 0  # bytes to send (the body of a GET)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def end(self) -> int:
        """One past the last byte to send."""
        return self.start + self.length

    @property
    def has_body(self) -> bool:
        return self.status in (200, 206) and self.length > 0


def parse_range(value: str, size: int) -> tuple[int, int] | str | None:
    """`Range` → (start, end exclusive); "unsatisfiable"; or None (absent, malformed, several ranges)."""
    unit, sep, spec = value.partition("=")
    if not sep or unit.strip().lower() != "bytes" or "," in spec:
        return None
    m = _RANGE.match(spec)
    if m is None or (not m[1] and not m[2]):
        return None
    if not m[1]:  # suffix: the last N bytes
        n = _pos(m[2])
        if n == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - n), size
    first = _pos(m[1])
    last = _pos(m[2]) if m[2] else None
    if last is not None and last < first:
        return None  # invalid: ignored, as the RFC says
    if first >= size:
        return "unsatisfiable"
    return first, size if last is None else min(last + 1, size)


def _date(value: str | None) -> int | None:
    if not value:
        return None
    try:
        d = parsedate_to_datetime(value)
        if d.tzinfo is None:
            d = d.replace(tzinfo=timezone.utc)
        return int(d.timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _tags(value: str) -> list[str]:
    return [t.strip() for t in value.split(",") if t.strip()]


def _strong_match(value: str, etag: str) -> bool:
    return any(t == "*" or t == etag for t in _tags(value))


def _weak_match(value: str, etag: str) -> bool:
    return any(t == "*" or t.removeprefix("W/") == etag for t in _tags(value))


def plan(method: str, headers: Mapping[str, str], v: Validators) -> Plan:
    """The status, byte range and entity headers of the answer (Content-Type is the caller's)."""
    base = {"ETag": v.etag, "Last-Modified": v.last_modified, "Accept-Ranges": "bytes"}
    if_match = headers.get("If-Match")
    if if_match is not None:
        if not _strong_match(if_match, v.etag):
            return Plan(412, headers=base)
    else:
        since = _date(headers.get("If-Unmodified-Since"))
        if since is not None and v.mtime > since:
            return Plan(412, headers=base)
    if_none = headers.get("If-None-Match")
    if if_none is not None:
        if _weak_match(if_none, v.etag):
            return Plan(304 if method in ("GET", "HEAD") else 412, headers=base)
    elif method in ("GET", "HEAD"):
        since = _date(headers.get("If-Modified-Since"))
        if since is not None and v.mtime <= since:
            return Plan(304, headers=base)
    rng = headers.get("Range")
    if rng is not None and method in ("GET", "HEAD") and _if_range_holds(headers.get("If-Range"), v):
        r = parse_range(rng, v.size)
        if r == "unsatisfiable":
            return Plan(416, headers={**base, "Content-Range": f"bytes */{v.size}"})
        if isinstance(r, tuple):
            start, end = r
            return Plan(206, start, end - start,
                        {**base, "Content-Range": f"bytes {start}-{end - 1}/{v.size}"})
    return Plan(200, 0, v.size, base)


def _if_range_holds(value: str | None, v: Validators) -> bool:
    """No If-Range, or one that names exactly this version (a strong ETag or the exact date)."""
    if value is None:
        return True
    value = value.strip()
    if value.startswith('"') or value.startswith("W/"):
        return value == v.etag  # weak tags never match If-Range
    return _date(value) == v.mtime
