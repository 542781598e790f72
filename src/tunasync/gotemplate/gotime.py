"""Go time.Time methods usable from templates (`.LastUpdate.Format "2006-01-02"`, `.LastUpdate.Unix`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from ..models import timefmt
from .values import GoStringer

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# Longest first so that "2006" wins over "2", "January" over "Jan", "-07:00:00" over "-07".
_TOKENS = re.compile(
    r"January|Jan|Monday|Mon|MST|2006|15|002|__2|_2|2|01|1|02|06|03|3|04|4|05|5|PM|pm|"
    r"Z07:00:00|Z070000|Z07:00|Z0700|Z07|-07:00:00|-070000|-07:00|-0700|-07|"
    r"[.,](?:0+|9+)(?![0-9])"
)


def _offset(t: datetime, colon: bool, seconds: bool, hours_only: bool, z: bool) -> str:
    off = int((t.utcoffset() or timedelta(0)).total_seconds())
    if z and off == 0:
        return "Z"
    sign = "-" if off < 0 else "+"
    off = abs(off)
    hh, mm, ss = off // 3600, off % 3600 // 60, off % 60
    if hours_only:
        return f"{sign}{hh:02d}"
    sep = ":" if colon else ""
    out = f"{sign}{hh:02d}{sep}{mm:02d}"
    return out + f"{sep}{ss:02d}" if seconds else out


def _zone_name(t: datetime) -> str:
    name = t.tzname() or ""
    if not name or (name.startswith("UTC") and name != "UTC"):
        return _offset(t, colon=False, seconds=False, hours_only=False, z=False)
    return name


def go_format(t: datetime, layout: str) -> str:
    """time.Time.Format with Go's reference-time layout."""
    if t.tzinfo is None:
        t = t.astimezone()
    out: list[str] = []
    pos = 0
    for m in _TOKENS.finditer(layout):
        out.append(layout[pos : m.start()])
        tok = m.group()
        pos = m.end()
        out.append(_one(t, tok))
    out.append(layout[pos:])
    return "".join(out)


def _one(t: datetime, tok: str) -> str:
    h12 = t.hour % 12 or 12
    simple: dict[str, Callable[[], str]] = {
        "January": lambda: MONTHS[t.month - 1],
        "Jan": lambda: MONTHS[t.month - 1][:3],
        "Monday": lambda: DAYS[t.weekday()],
        "Mon": lambda: DAYS[t.weekday()][:3],
        "MST": lambda: _zone_name(t),
        "2006": lambda: f"{t.year:04d}",
        "06": lambda: f"{t.year % 100:02d}",
        "01": lambda: f"{t.month:02d}",
        "1": lambda: str(t.month),
        "02": lambda: f"{t.day:02d}",
        "2": lambda: str(t.day),
        "_2": lambda: f"{t.day:2d}",
        "002": lambda: f"{t.timetuple().tm_yday:03d}",
        "__2": lambda: f"{t.timetuple().tm_yday:3d}",
        "15": lambda: f"{t.hour:02d}",
        "03": lambda: f"{h12:02d}",
        "3": lambda: str(h12),
        "04": lambda: f"{t.minute:02d}",
        "4": lambda: str(t.minute),
        "05": lambda: f"{t.second:02d}",
        "5": lambda: str(t.second),
        "PM": lambda: "PM" if t.hour >= 12 else "AM",
        "pm": lambda: "pm" if t.hour >= 12 else "am",
    }
    if tok in simple:
        return simple[tok]()
    if tok[0] in "Z-":
        z = tok[0] == "Z"
        body = tok.lstrip("Z-")
        return _offset(t, colon=":" in body, seconds=body in ("07:00:00", "070000"), hours_only=body == "07", z=z)
    # fractional seconds: .000 fixed width, .999 trims trailing zeros (and the dot when all are zero)
    width = len(tok) - 1
    frac = f"{t.microsecond:06d}000"[:width]
    if tok[1] == "9":
        frac = frac.rstrip("0")
        return tok[0] + frac if frac else ""
    return tok[0] + frac


def _local(t: datetime) -> datetime:
    try:
        return t.astimezone()
    except (OverflowError, OSError, ValueError):
        return t


def _month(t: datetime) -> GoStringer:
    return GoStringer(t.month, MONTHS[t.month - 1], "time.Month")


def _weekday(t: datetime) -> GoStringer:
    wd = (t.weekday() + 1) % 7  # Go: Sunday = 0
    return GoStringer(wd, DAYS[t.weekday()], "time.Weekday")


# name -> (function, number of extra arguments)
TIME_METHODS: dict[str, tuple[Callable[..., Any], int]] = {
    "Format": (go_format, 1),
    "String": (timefmt.format_go_string, 0),
    "Unix": (timefmt.unix, 0),
    "UnixMilli": (lambda t: timefmt.unix(t) * 1000 + t.microsecond // 1000, 0),
    "UnixNano": (lambda t: timefmt.unix(t) * 1_000_000_000 + t.microsecond * 1000, 0),
    "IsZero": (timefmt.is_zero, 0),
    "UTC": (lambda t: t.astimezone(timezone.utc), 0),
    "Local": (_local, 0),
    "Year": (lambda t: t.year, 0),
    "Month": (_month, 0),
    "Day": (lambda t: t.day, 0),
    "Hour": (lambda t: t.hour, 0),
    "Minute": (lambda t: t.minute, 0),
    "Second": (lambda t: t.second, 0),
    "Nanosecond": (lambda t: t.microsecond * 1000, 0),
    "YearDay": (lambda t: t.timetuple().tm_yday, 0),
    "Weekday": (_weekday, 0),
}
