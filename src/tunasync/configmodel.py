"""What every TOML config section model shares, below the worker and the archive tier alike.

`Section` is the strict pydantic base: a string where a number belongs is an error, never a conversion
(as BurntSushi/toml decides), unknown keys are errors. Attribute docstrings are the descriptions of the
README's config reference (read from the source by `tunasync.configref`, not at every import).
`size_value` reads a go-units size ("256M", "1GiB" or a plain number of bytes) for the size keys of any
section.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from .sizes import parse_size


class Section(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=True, validate_default=False)


def size_value(value: Any) -> int:
    """A go-units size given as a string or an integer (BurntSushi hands integers to UnmarshalText)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected a size such as \"256M\" or a number of bytes, got {value!r}")
    if value == "":
        return 0
    return parse_size(value)
