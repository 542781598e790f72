"""Every error the project raises on purpose, as one tree.

    TunasyncError
    ├── ConfigError(file, key, reason)      a config file is wrong: names the file and the key
    ├── ApiError(status, reason)            an HTTP peer answered with an error, or a request is bad
    ├── ContentError                        content addressing
    │   ├── CarError(reason, offset)        a CAR stream is malformed
    │   │   └── ReorderLimitError           an unordered CAR needs more buffering than allowed
    │   └── VerifyError(cid, reason)        bytes do not match their CID
    ├── NetworkError(endpoint, reason)      a Filecoin service failed or answered nonsense
    │   └── UnsupportedMethod               the service does not offer that method (public Lotus nodes)
    └── ArchiveError                        the archive tier refused an unsafe step

Messages name what went wrong and where: file and key for config, path for files, CID for content,
HTTP status and reason for the API.
"""

from __future__ import annotations


class TunasyncError(Exception):
    """Base of every error raised on purpose by tunasync."""


class ConfigError(TunasyncError):
    """A configuration problem in `file` at `key` (dotted TOML path)."""

    def __init__(self, file: str | None, key: str | None, reason: str):
        self.file = file
        self.key = key
        self.reason = reason
        where = ": ".join(p for p in (file, key) if p)
        super().__init__(f"{where}: {reason}" if where else reason)


class ApiError(TunasyncError):
    """An HTTP status with a reason, from a peer or for a client."""

    def __init__(self, status: int, reason: str):
        self.status = status
        self.reason = reason
        super().__init__(f"HTTP {status}: {reason}")


class ContentError(TunasyncError):
    """Content addressing failed."""


class CarError(ContentError):
    """A CAR stream is malformed."""

    def __init__(self, reason: str, offset: int | None = None):
        self.reason = reason
        self.offset = offset
        super().__init__(f"malformed CAR at byte {offset}: {reason}" if offset is not None else f"malformed CAR: {reason}")


class ReorderLimitError(CarError):
    """A CAR without DFS order kept more blocks waiting than the reorder buffer allows."""


class VerifyError(ContentError):
    """Bytes do not match the CID they claim to be."""

    def __init__(self, cid: object, reason: str):
        self.cid = cid
        self.reason = reason
        super().__init__(f"{cid}: {reason}")


class NetworkError(TunasyncError):
    """A network service (chain RPC, IPNI, gateway, storage backend) failed or answered nonsense."""

    def __init__(self, endpoint: str, reason: str):
        self.endpoint = endpoint
        self.reason = reason
        super().__init__(f"{endpoint}: {reason}")


class UnsupportedMethod(NetworkError):
    """The service does not offer a method we asked for (e.g. a public Lotus node refusing
    `Filecoin.StateMarketDeals`); names the endpoint and the method."""

    method: str = ""


class ArchiveError(TunasyncError):
    """The archive tier refused or failed a step (never loses data when raised)."""
