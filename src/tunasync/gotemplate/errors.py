"""Errors of the Go template engine."""

from __future__ import annotations

from ..errors import TunasyncError


class TemplateError(TunasyncError, ValueError):
    """A template failed to parse or execute; `reason` is Go's message text."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class ExecError(TemplateError):
    """Execution failed; `partial` is the output written before the failure (Go keeps it)."""

    def __init__(self, reason: str, partial: str = ""):
        super().__init__(reason)
        self.partial = partial
