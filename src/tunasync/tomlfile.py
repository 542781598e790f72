r"""Reading a TOML config file: every way it can be wrong becomes a ConfigError naming the file.

One reader for the manager, worker (and its include files), archive and tunasynctl configs, and the one
`Problem` (level, file, key, reason) that their `--check` reports are made of:

- TOML 1.1, as Go tunasync reads it (BurntSushi/toml 1.6 defaults to 1.1): inline tables over several
  lines with a trailing comma, `\e` and `\xHH` escapes, times without seconds. Python's `tomllib`
  reads only 1.0, so the parser is `tomli` (2.4.0 was its first release that reads 1.1);

- a UTF-8 byte-order mark is skipped (editors on Windows write one; BurntSushi/toml, which Go
  tunasync uses, skips it too); UTF-16 / UTF-32 text (a BOM or NUL bytes) is refused with a reason
  that says so, and bytes that are not UTF-8 name the offset;
- nesting deeper than MAX_DEPTH (arrays in arrays, tables in tables) is refused with the key where
  it goes too deep, before anything recurses over it (Python's parser would otherwise hit its
  recursion limit with a traceback);
- a syntax error keeps the parser's line and column.

Bounds on the numbers belong to the config models (pydantic `Field(ge=..., le=...)`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import tomli

from .errors import ConfigError

MAX_DEPTH = 16  # no config of ours nests deeper than ~6 ([[mirrors.mirrors]] groups included)
MAX_BYTES = 64 << 20  # a config bigger than this is a mistake (a log or an image given as -c)


def read_toml(path: str, syntax: str = "invalid TOML") -> dict[str, Any]:
    """The TOML document at `path`; ConfigError(path, key, reason) when it cannot be used.

    `syntax` starts the reason of a syntax error (the manager and tunasynctl say "malformed TOML")."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(path, None, f"cannot read: {exc.strerror or exc}") from None
    return parse_toml(data, path, syntax)


def parse_toml(data: bytes, path: str, syntax: str = "invalid TOML") -> dict[str, Any]:
    if len(data) > MAX_BYTES:
        raise ConfigError(path, None, f"larger than {MAX_BYTES >> 20} MiB: not a config file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or data.startswith((b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")):
        raise ConfigError(path, None, "UTF-16/UTF-32 text (byte-order mark): TOML files must be UTF-8; "
                          "save it as UTF-8")
    data = data.removeprefix(b"\xef\xbb\xbf")
    if b"\x00" in data[:4096]:
        raise ConfigError(path, None, "contains NUL bytes (UTF-16 text?): TOML files must be UTF-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, None, f"not UTF-8 text (bad byte at offset {exc.start})") from None
    _check_depth(text, path)
    try:
        doc = tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        raise ConfigError(path, None, f"{syntax}: {exc}") from None
    except RecursionError:  # _check_depth should have caught it; never a traceback
        raise ConfigError(path, None, f"nested deeper than {MAX_DEPTH} levels") from None
    _check_tree(doc, path, "", 0)
    return doc


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config: `error` stops loading, `warning` does not."""

    level: Literal["error", "warning"]
    file: str | None
    key: str | None
    reason: str

    def __str__(self) -> str:
        where = ": ".join(p for p in (self.file, self.key) if p)
        return f"{self.level}: {where}: {self.reason}" if where else f"{self.level}: {self.reason}"

    def as_error(self) -> ConfigError:
        return ConfigError(self.file or None, self.key or None, self.reason)

    @classmethod
    def of(cls, exc: ConfigError, level: Literal["error", "warning"] = "error") -> Problem:
        return cls(level, exc.file, exc.key, exc.reason)


class Problems(list[Problem]):
    """The problems of one load, in the order they were found."""

    def error(self, file: str | None, key: str | None, reason: str) -> None:
        self.append(Problem("error", file, key, reason))

    def warning(self, file: str | None, key: str | None, reason: str) -> None:
        self.append(Problem("warning", file, key, reason))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self if p.level == "error"]

    def read(self, path: str, syntax: str = "invalid TOML") -> dict[str, Any] | None:
        """read_toml(path), or None with the reason added as an error."""
        try:
            return read_toml(path, syntax)
        except ConfigError as exc:
            self.append(Problem.of(exc))
        return None


_BOUNDS = {"less_than_equal": ("le", "at most"), "less_than": ("lt", "below"),
           "greater_than_equal": ("ge", "at least"), "greater_than": ("gt", "above")}


def bound_reason(err: Mapping[str, Any]) -> str | None:
    """A pydantic range error as `must be at most N, got V`; None for any other error."""
    bound = _BOUNDS.get(err.get("type", ""))
    if bound is None:
        return None
    value = err.get("input")
    if isinstance(value, float) and math.isnan(value):
        return "must be a number, got nan"
    return f"must be {bound[1]} {err.get('ctx', {}).get(bound[0])}, got {value!r}"


def _check_depth(text: str, path: str) -> None:
    """Refuse bracket nesting beyond MAX_DEPTH before the recursive parser sees it.

    Counts `[`/`{` outside strings and comments (an over-count on odd input only makes the limit
    stricter, never lets a deeper document through)."""
    depth = 0
    i, n = 0, len(text)
    line = 1
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        elif c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif c in "\"'":
            quote = text[i:i + 3] if text[i:i + 3] in ('"""', "'''") else c
            j = i + len(quote)
            while j < n:
                if quote[0] == '"' and text[j] == "\\":
                    j += 2
                    continue
                if text.startswith(quote, j):
                    break
                j += 1
            line += text.count("\n", i, j)
            i = j + len(quote)
            continue
        elif c in "[{":
            depth += 1
            if depth > MAX_DEPTH + 1:  # +1: a `[table]` header's own bracket
                raise ConfigError(path, None, f"line {line}: nested deeper than {MAX_DEPTH} levels")
        elif c in "]}":
            depth = max(0, depth - 1)
        i += 1


def _check_tree(value: Any, path: str, key: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ConfigError(path, key or None, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_tree(v, path, f"{key}.{k}" if key else k, depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_tree(v, path, f"{key}[{i}]", depth + 1)
