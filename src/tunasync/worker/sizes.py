"""Memory and byte sizes as Go's docker/go-units `RAMInBytes` reads them (spec §4.2).

`"256M"`, `"256MiB"`, `"1.5G"`, `"512"` (bytes), `"1 g"`: every unit is binary (k/m/g/t/p = 1024^n),
case-insensitive, with an optional `i` and `b`, and one optional space. The archive tier uses the same
reader for `bundle_size` and `cache_budget`, so "1GiB" and "1G" mean the same there too.
"""

from __future__ import annotations

import re

_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(text: str | int) -> int:
    """Bytes for a size string (or a plain integer); ValueError naming the text when it is not one."""
    if isinstance(text, bool):
        raise ValueError(f"invalid size: {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"invalid size: {text!r} (negative)")
        return text
    m = _SIZE.match(text)
    if m is None:
        raise ValueError(f"invalid size: {text!r}")
    try:
        number = float(m.group(1))
    except ValueError:  # "1.2.3" passes the pattern, as in go-units, and fails here
        raise ValueError(f"invalid size: {text!r}") from None
    unit = m.group(2)
    return int(number * _UNITS[unit.lower()]) if unit else int(number)
