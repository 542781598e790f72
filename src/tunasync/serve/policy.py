"""The serve policy: what the issue leaves to the operator (CLI flags of `tunasync serve`, documented
in docs/serve.md), and the errors a retrieval answers with."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ServeError
from ..filecoin.http import HttpSettings

DISCONNECT_POLICIES = ("continue", "cancel")


@dataclass(frozen=True)
class ServePolicy:
    # A retrieval that delivers no verified bytes for this long fails (504); candidate lookup included.
    retrieve_timeout: float = 60.0
    # A Range request on an evicted file is answered from a range retrieval at once; with range_fill
    # the whole file is also retrieved into the cache in the background.
    range_fill: bool = True
    # When the last client streaming a retrieval goes away: "continue" fills the cache anyway,
    # "cancel" stops it (nothing is cached). Background fills (range_fill) always run to the end.
    on_disconnect: str = "continue"
    # A Range that starts at most this far past what a running retrieval has verified waits for it
    # instead of starting a second, ranged retrieval.
    join_ahead: int = 4 << 20
    # Network retrievals running at once (whole-file, ranged and background fills together): past it a
    # request that needs a new one is answered 503 with Retry-After (joining a running one is free).
    max_retrievals: int = 16
    # Background fills (range_fill) running at once; past it a Range is answered without one.
    max_range_fills: int = 4
    # No background fill, and no whole-file retrieval for a Range, for files bigger than this.
    range_fill_max: int = 64 << 20

    def __post_init__(self) -> None:
        if self.on_disconnect not in DISCONNECT_POLICIES:
            raise ValueError(f"on_disconnect must be one of {', '.join(DISCONNECT_POLICIES)}, "
                             f"not {self.on_disconnect!r}")
        if not self.retrieve_timeout > 0:
            raise ValueError("retrieve_timeout must be > 0")
        if self.max_retrievals < 1 or self.max_range_fills < 0 or self.range_fill_max < 0:
            raise ValueError("max_retrievals must be >= 1, max_range_fills and range_fill_max >= 0")

    def http_settings(self) -> HttpSettings:
        """Per-provider timeouts that leave room to fail over within one retrieve_timeout."""
        t = self.retrieve_timeout
        return HttpSettings(connect_timeout=min(5.0, max(0.5, t / 4)), read_timeout=min(30.0, max(0.5, t / 2)),
                            retries=1, backoff=0.1, user_agent="tunasync-serve/0.1")


BUSY_RETRY_AFTER = 5  # seconds a client is told to wait when every retrieval slot is taken


class RetrievalFailed(ServeError):
    """A retrieval for a client failed: the HTTP status to answer, the metrics result word, why."""

    def __init__(self, status: int, result: str, reason: str):
        self.status = status
        self.result = result
        self.reason = reason
        super().__init__(f"HTTP {status} ({result}): {reason}")
