"""Go `time.Time` as it appears on the wire (docs/compat.md §1.2, §1.4).

Full JSON uses RFC 3339 with up to 9 fractional digits (trailing zeros dropped, `Z` for offset 0);
`GET /jobs` uses `2006-01-02 15:04:05 -0700` text plus integer `*_ts`. Go's zero time is year 1 UTC.
Python keeps microseconds: nanosecond fractions are truncated on read.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone

ZERO_TIME = datetime(1, 1, 1, tzinfo=timezone.utc)
ZERO_TS = -62135596800
ZERO_WEB = "0001-01-01 00:00:00 +0000"

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)
_WEB = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$")


def now() -> datetime:
    """Aware local time, as Go's time.Now() on the manager."""
    return datetime.now().astimezone()


def is_zero(t: datetime) -> bool:
    return t.year == 1 and t.month == 1 and t.day == 1 and t.utcoffset() == timedelta(0) and t.hour == 0 and t.minute == 0 and t.second == 0 and t.microsecond == 0


def _tz(sign: str, hh: str, mm: str) -> timezone:
    off = timedelta(hours=int(hh), minutes=int(mm))
    return timezone(-off if sign == "-" else off) if off else timezone.utc


def parse_rfc3339(text: str) -> datetime:
    """Parse Go's JSON time text; raises ValueError naming the text."""
    m = _RFC3339.match(text)
    if not m:
        raise ValueError(f"cannot parse {text!r} as RFC 3339 time")
    y, mo, d, h, mi, s, frac, z, sign, oh, om = m.groups()
    us = int((frac or "0")[:6].ljust(6, "0"))
    tz = timezone.utc if z or sign is None else _tz(sign, oh, om)
    if int(oh or 0) > 23 or int(om or 0) > 59:
        raise ValueError(f"time zone offset out of range in {text!r}")
    return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), us, tzinfo=tz)


def format_rfc3339(t: datetime) -> str:
    """Go's MarshalJSON layout: RFC 3339, fraction without trailing zeros, `Z` for UTC."""
    if t.tzinfo is None:
        t = t.astimezone()
    base = f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    if t.microsecond:
        base += "." + f"{t.microsecond:06d}".rstrip("0")
    return base + _offset(t, colon=True, z=True)


def _offset(t: datetime, colon: bool, z: bool) -> str:
    off = t.utcoffset() or timedelta(0)
    if z and off == timedelta(0):
        return "Z"
    secs = int(off.total_seconds())
    sign = "-" if secs < 0 else "+"
    secs = abs(secs)
    hh, mm = secs // 3600, (secs % 3600) // 60
    return f"{sign}{hh:02d}:{mm:02d}" if colon else f"{sign}{hh:02d}{mm:02d}"


def format_web(t: datetime) -> str:
    """`2006-01-02 15:04:05 -0700`, no fraction, in the offset the time carries."""
    if t.tzinfo is None:
        t = t.astimezone()
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}:{t.second:02d} " + _offset(
        t, colon=False, z=False
    )


def parse_web(text: str) -> datetime:
    m = _WEB.match(text)
    if not m:
        raise ValueError(f"cannot parse {text!r} as time (layout 2006-01-02 15:04:05 -0700)")
    y, mo, d, h, mi, s, sign, oh, om = m.groups()
    return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=_tz(sign, oh, om))


def unix(t: datetime) -> int:
    """Integer Unix seconds, floor (Go's Time.Unix)."""
    if is_zero(t):
        return ZERO_TS
    return math.floor(t.timestamp())


def from_unix(ts: int, tz: timezone | None = None) -> datetime:
    if ts == ZERO_TS:
        return ZERO_TIME
    return datetime.fromtimestamp(ts, tz or timezone.utc)


def format_go_string(t: datetime) -> str:
    """Go's Time.String(): `2006-01-02 15:04:05.999999999 -0700 MST` (used by tunasynctl --format)."""
    if t.tzinfo is None:
        t = t.astimezone()
    base = f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    if t.microsecond:
        base += "." + f"{t.microsecond:06d}".rstrip("0")
    off = _offset(t, colon=False, z=False)
    name = t.tzname() or off
    if name.startswith("UTC") and name not in ("UTC",):
        name = off
    return f"{base} {off} {name}"
