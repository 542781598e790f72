"""Layered key/value context of a provider (Go `internal.Context`).

Hooks push a layer for one attempt (the log limiter sets `log_file`, docker sets `volumes`) and pop
it afterwards; lookups see the newest layer first. Popping the bottom layer is an error.
"""

from __future__ import annotations

from typing import Any


class JobContext:
    def __init__(self, base: dict[str, Any] | None = None):
        self._layers: list[dict[str, Any]] = [dict(base or {})]

    def get(self, key: str, default: Any = None) -> Any:
        for layer in reversed(self._layers):
            if key in layer:
                return layer[key]
        return default

    def set(self, key: str, value: Any) -> None:
        self._layers[-1][key] = value

    def enter(self) -> JobContext:
        self._layers.append({})
        return self

    def exit(self) -> JobContext:
        if len(self._layers) == 1:
            raise RuntimeError("cannot exit the bottom layer of a job context")
        self._layers.pop()
        return self

    @property
    def depth(self) -> int:
        return len(self._layers)
