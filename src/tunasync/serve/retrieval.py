"""The network side of serving an evicted file: who may have it, and verified bytes with a deadline.

Candidates, best first: the providers our last chain check found holding the file's piece (with the
piece CID, so the retriever can fall back to `/piece/`), then what the network index and configured
gateways name. Bytes come from `Retriever.stream`, verified block by block (docs/filecoin.md §6.3), failing over
from a bad or corrupt provider to the next. `pump` moves them to a sink under `retrieve_timeout`: no
verified byte for that long is a 504, never a hang.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing

from ..archive.index import ArchiveIndex, FileRecord
from ..archive.runtime import ArchiveRuntime
from ..content.cid import CID
from ..errors import CandidatesFailed, ConfigError, ContentError, NetworkError, NoCandidates, PeerTimeout
from ..filecoin.interfaces import Candidate, FilecoinNetwork
from ..filecoin.retriever import provider_candidates
from .policy import RetrievalFailed

log = logging.getLogger(__name__)

Opener = Callable[[], Awaitable[FilecoinNetwork]]


class NetworkHandle:
    """The one FilecoinNetwork of the process, opened on first use (serve starts while the network is
    down, and answers 502 for evicted files until it is back)."""

    RETRY_SECONDS = 5.0  # after a failed open, requests fail fast for this long before the next try

    def __init__(self, opener: Opener | None = None, net: FilecoinNetwork | None = None, *, owned: bool = True):
        self._opener = opener
        self._owned = owned and opener is not None  # a network handed in, or the runtime's, is not ours to close
        self._net = net
        self._lock = asyncio.Lock()
        self._failed: tuple[float, str] | None = None

    @classmethod
    def from_runtime(cls, rt: ArchiveRuntime) -> NetworkHandle:
        """The archive runtime's network (opened, and closed, by the runtime; reopened by a reload)."""
        return cls(rt.network, owned=False)

    async def get(self) -> FilecoinNetwork:
        if self._net is not None:
            return self._net
        if self._opener is None:
            raise RetrievalFailed(502, "error", "no Filecoin network configured for this tree")
        async with self._lock:
            opened = self._opened()  # another request may have opened it while this one waited
            if opened is not None:
                return opened
            now = time.monotonic()
            if self._failed is not None and now - self._failed[0] < self.RETRY_SECONDS:
                raise RetrievalFailed(502, "error", self._failed[1])
            try:
                net = await self._opener()
            except (NetworkError, ConfigError, OSError) as exc:
                self._failed = (now, f"Filecoin network unavailable: {exc}")
                raise RetrievalFailed(502, "error", self._failed[1]) from None
            self._failed = None
            if self._owned:
                self._net = net  # the runtime's is asked each time: it keeps it, and a reload swaps it
            return net

    def _opened(self) -> FilecoinNetwork | None:
        return self._net

    async def close(self) -> None:
        if self._net is not None and self._owned:
            await self._net.close()
        self._net = None


def _merge(cands: list[Candidate]) -> list[Candidate]:
    """One candidate per URL, keeping the first place but the piece CID whichever entry knew it."""
    out: dict[str, Candidate] = {}
    for c in cands:
        prev = out.get(c.url)
        if prev is None:
            out[c.url] = c
        elif prev.piece_cid is None and c.piece_cid is not None:
            out[c.url] = Candidate(url=prev.url, piece_cid=c.piece_cid, name=prev.name or c.name)
    return list(out.values())


async def candidates(net: FilecoinNetwork, index: ArchiveIndex, rec: FileRecord) -> list[Candidate]:
    assert rec.cid is not None
    ours: list[Candidate] = []
    bundle = await index.call(index.bundle, rec.bundle_id) if rec.bundle_id is not None else None
    if bundle is not None and bundle.piece_cid:
        actors = await index.call(index.copy_providers, bundle.piece_cid)
        ours = await provider_candidates(net.chain, actors, CID.decode(bundle.piece_cid))
    lookup = getattr(net.retriever, "candidates", None)
    found: list[Candidate] = []
    if lookup is not None:
        try:
            found = await lookup(CID.decode(rec.cid))
        except NetworkError as exc:
            if not ours:
                raise RetrievalFailed(502, "not_found", f"no provider found for {rec.cid}: {exc}") from None
            log.info("serve: network index unavailable for %s (%s); trying our providers", rec.cid, exc)
    cands = _merge(ours + found)
    if not cands:
        raise RetrievalFailed(502, "not_found", f"no provider has {rec.cid}: no live copy on record and "
                              "nobody announces it")
    return cands


async def verified(handle: NetworkHandle, index: ArchiveIndex, rec: FileRecord,
                   byte_range: tuple[int, int] | None = None) -> AsyncGenerator[bytes, None]:
    """Verified bytes of the file (or inclusive range); candidate lookup happens on first iteration."""
    assert rec.cid is not None
    net = await handle.get()
    cands = await candidates(net, index, rec)
    stream = net.retriever.stream(CID.decode(rec.cid), byte_range, cands)
    try:
        async for chunk in stream:
            yield chunk
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()


def classify(exc: NetworkError | ContentError) -> tuple[int, str]:
    """The HTTP status and metrics result word of a failed retrieval, from the error's type alone.

    Bytes that did not verify (a bad block, a CAR cut short, a malformed CAR) from any candidate make it
    `verify_failed`: someone served wrong data, which an operator wants to see apart from outages. Nobody
    to ask is `not_found`; every candidate timing out is a 504 `timeout`; anything else is `error`.
    """
    if isinstance(exc, ContentError):
        return 502, "verify_failed"
    if isinstance(exc, NoCandidates):
        return 502, "not_found"
    if isinstance(exc, PeerTimeout):
        return 504, "timeout"
    if isinstance(exc, CandidatesFailed):
        if exc.any_of(ContentError):
            return 502, "verify_failed"
        if exc.all_of(PeerTimeout):
            return 504, "timeout"
    return 502, "error"


async def pump(source: AsyncGenerator[bytes, None], sink: Callable[[bytes], Awaitable[None]], idle: float,
               what: str) -> int:
    """Move every chunk of `source` into `sink`; RetrievalFailed on a stall, a network or a content error."""
    loop = asyncio.get_running_loop()
    n = 0
    try:
        async with aclosing(source) as it, asyncio.timeout(idle) as deadline:
            async for chunk in it:
                await sink(chunk)
                n += len(chunk)
                deadline.reschedule(loop.time() + idle)
    except TimeoutError:
        raise RetrievalFailed(504, "timeout", f"{what}: no verified bytes for {idle:g} s "
                              f"({n} bytes delivered)") from None
    except (NetworkError, ContentError) as exc:
        status, result = classify(exc)
        raise RetrievalFailed(status, result, f"{what}: {exc}") from None
    return n
