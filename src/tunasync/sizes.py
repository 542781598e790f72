"""Memory and byte sizes as Go's docker/go-units v0.5.0 `RAMInBytes` reads them (docs/compat.md §4.2).

The number is everything up to the last digit, `.` or space, read as a Go float (strconv.ParseFloat:
`.5G`, `5.`, `1e3`, `+5M`, `1e3M`, `1_000` are all numbers); a space may stand between number and
unit. The unit is `b`, or k/m/g/t/p (binary: 1024^n), optionally followed by `b` or `ib`, any case.
`"256M"`, `"256MiB"`, `"1.5G"`, `"512"` (bytes), `"1 g"` all read. Bytes are the float truncated to an
integer, as Go's int64() does. The archive tier uses the same reader for `bundle_size` and
`cache_budget`, so "1GiB" and "1G" mean the same there too.

Refused where Go returns a number anyway: NaN and infinities (Go's int64() of those is undefined).
Upper bounds belong to the config models. It lives below the worker and the archive tier, so both read
sizes one way without importing each other.
"""

from __future__ import annotations

import math
import re

_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_SEP = re.compile(r"[0-9. ][^0-9. ]*$")
# strconv.ParseFloat's decimal syntax (hex floats below); underscores only between digits
_DEC = re.compile(r"[+-]?(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?")
_HEX = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F_]*\.?[0-9a-fA-F_]*)[pP][+-]?\d+")
_SPECIAL = re.compile(r"[+-]?(?:inf|infinity|nan)", re.IGNORECASE)


def _go_float(num: str, text: str) -> float:
    if _DEC.fullmatch(num):
        return float(num)
    if _HEX.fullmatch(num) and "__" not in num:
        try:
            return float.fromhex(num.replace("_", ""))
        except ValueError:
            pass
    if _SPECIAL.fullmatch(num):
        raise ValueError(f"invalid size: {text!r} (not a finite number)")
    raise ValueError(f"invalid size: {text!r} (strconv.ParseFloat: parsing {num!r}: invalid syntax)")


def parse_size(text: str | int) -> int:
    """Bytes for a size string (or a plain integer); ValueError naming the text when it is not one."""
    if isinstance(text, bool):
        raise ValueError(f"invalid size: {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"invalid size: {text!r} (negative)")
        return text
    m = _SEP.search(text)
    if m is None:
        raise ValueError(f"invalid size: {text!r}")
    sep = m.start()
    num, sfx = (text[:sep], text[sep + 1:]) if text[sep] == " " else (text[:sep + 1], text[sep + 1:])
    size = _go_float(num, text)
    if math.isnan(size) or math.isinf(size):
        raise ValueError(f"invalid size: {text!r} (not a finite number)")
    if size < 0:
        raise ValueError(f"invalid size: {text!r} (negative)")
    low = sfx.lower()
    if low:
        bad = ValueError(f"invalid size: {text!r} (invalid suffix: {low!r})")
        if len(low) > 3:
            raise bad
        if low[0] == "b":
            if len(low) > 1:
                raise bad
        elif low[0] in _UNITS and (len(low) == 1 or low[1:] in ("b", "ib")):
            size *= _UNITS[low[0]]
        else:
            raise bad
    return int(size)  # the config models bound it (Go's int64() of a huge float is undefined)
