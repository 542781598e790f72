"""Every error the project raises on purpose, as one tree.

    TunasyncError
    ├── ConfigError(file, key, reason)      a config file is wrong: names the file and the key
    ├── ApiError(status, reason)            an HTTP peer answered with an error, or a request is bad
    ├── ContentError                        content addressing
    │   ├── CarError(reason, offset)        a CAR stream is malformed
    │   │   ├── ReorderLimitError           an unordered CAR needs more buffering than allowed
    │   │   └── TruncatedCar(root)          the CAR ended early: a section cut short, blocks never sent
    │   ├── VerifyError(cid, reason)        bytes do not match their CID
    │   │   └── BadBlock                    a block's bytes do not hash to its CID
    │   └── UnixFSError, PathError          UnixFS data or a path in a DAG is wrong (content/unixfs.py)
    ├── CodecError (also ValueError)        bytes or text that should be one encoded item cannot be read:
    │                                       DAG-CBOR, dag-pb, a multiaddr, an IPNI record, a Go JSON body
    ├── NetworkError(endpoint, reason)      a Filecoin service failed or answered nonsense
    │   ├── UnsupportedMethod               the service does not offer that method (public Lotus nodes)
    │   ├── PeerUnreachable                 no connection to the peer (refused, no route, DNS)
    │   ├── PeerTimeout                     the peer did not connect or answer in time
    │   ├── PeerRefused(status)             the peer answered with an HTTP error status
    │   ├── NoCandidates                    nobody announces the CID and no gateway is configured
    │   └── CandidatesFailed(failures)      every candidate failed; each one's error is kept
    ├── ArchiveError                        the archive tier refused an unsafe step
    ├── ServeError                          serve: a request answered with an error page
    ├── WorkerError                         a mirror job, hook or provider failed
    └── TemplateError, NotFound, ...        the manager, tunasynctl and the Go template engine add
                                            direct children where a Go text must stay as it is

Messages name what went wrong and where: file and key for config, path for files, CID for content,
HTTP status and reason for the API. Code that must tell failures apart branches on these types, never
on message text. Every exception class under `src/` derives from `TunasyncError` (a test walks them);
the few that are control flow rather than errors (a template's `break`, a crash injected by a test)
are listed there by name.
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


class TruncatedCar(CarError):
    """The CAR ended before all the content asked for: a section cut short, or blocks never sent.
    `root`: the content whose blocks are missing (the message then starts with it)."""

    def __init__(self, reason: str, offset: int | None = None, root: object = None):
        super().__init__(reason, offset)
        self.root = root
        if root is not None:
            self.args = (f"{root}: {reason}",)


class BadBlock(VerifyError):
    """A block's bytes do not hash to the CID that names it (a corrupt or lying provider)."""


class CodecError(TunasyncError, ValueError):
    """Bytes or text that should be one encoded item (DAG-CBOR, dag-pb, a multiaddr, an IPNI record, a
    JSON body in Go's shape) cannot be read. Also a ValueError: decoders are pure functions of bytes."""


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


class PeerUnreachable(NetworkError):
    """No connection to the peer: refused, no route, name not resolved."""


class PeerTimeout(NetworkError):
    """The peer did not connect, or stopped sending, within the configured time."""


class PeerRefused(NetworkError):
    """The peer answered with an HTTP error status (`status`); `reason` has the status line and body."""

    def __init__(self, endpoint: str, reason: str, status: int):
        self.status = status
        super().__init__(endpoint, reason)


class NoCandidates(NetworkError):
    """Nobody can be asked for a CID: no gateway configured and nobody announces it."""


class CandidatesFailed(NetworkError):
    """Every candidate of a retrieval failed; `failures` holds (candidate name, its error), in order."""

    def __init__(self, endpoint: str, failures: list[tuple[str, TunasyncError]]):
        self.failures = list(failures)
        text = "; ".join(f"{name}: {exc}" for name, exc in self.failures)
        super().__init__(endpoint, f"no candidate delivered verified bytes: {text}")

    def any_of(self, kind: type[TunasyncError]) -> bool:
        return any(isinstance(exc, kind) for _, exc in self.failures)

    def all_of(self, kind: type[TunasyncError]) -> bool:
        return bool(self.failures) and all(isinstance(exc, kind) for _, exc in self.failures)


class ArchiveError(TunasyncError):
    """The archive tier refused or failed a step (never loses data when raised)."""


class ServeError(TunasyncError):
    """`tunasync serve` answers a request with an error."""


class WorkerError(TunasyncError):
    """A mirror job, one of its hooks or its provider failed."""
