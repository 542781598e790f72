"""The Retriever: verified bytes of a CID (or a byte range) from whoever can serve them (docs/filecoin.md §6, §8.6).

Candidates: configured trustless gateways first, then providers the ContentRouter (IPNI) names with
an HTTP address. Each candidate's `/ipfs/` CAR is verified block by block; when one fails (bad block,
truncated CAR, timeout, refused) the next one continues from the first byte not yet delivered. When
no gateway works, a candidate that knows the piece serves `/piece/{pieceCid}`: the whole piece is
checked against its CommP, then the file is read out of it with every block re-hashed.

`fetch` writes `.<name>.partial` in the target's directory, fsyncs and renames only after the last
byte verified: nothing unverified ever appears under the final path. It writes the network's own
buffers (`pwritev` from a thread, what verifies meanwhile joins the next write); `stream` hands out
`bytes`, one copy.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from pathlib import Path
from typing import Any

from ..content.carread import CarIndex
from ..content.cid import CID
from ..content.extract import read_file
from ..content.reorder import DEFAULT_LIMIT
from ..errors import CandidatesFailed, ContentError, NetworkError, NoCandidates, TunasyncError, VerifyError
from ..fsutil import pwritev_all
from .gateway import TrustlessGateway
from .http import Http
from .interfaces import Candidate, ChainObserver, ContentRouter, FetchResult, Retriever
from .piece_gateway import PieceGateway

RETRYABLE = (NetworkError, ContentError)  # what makes the next candidate worth asking
MAX_BACKLOG = 8 << 20  # verified bytes that may wait for the disk before the stream waits (16 MiB: no faster)


async def provider_candidates(chain: ChainObserver, providers: Sequence[str], piece_cid: CID | None = None,
                              ) -> list[Candidate]:
    """Candidates from our own deal list: each provider's HTTP address from `StateMinerInfo`."""
    out = []
    for actor in providers:
        try:
            info = await chain.miner_info(actor)
        except NetworkError:
            continue  # an unknown or broken miner is simply not a candidate
        out += [Candidate(url=u, piece_cid=piece_cid, name=info.actor) for u in info.http_urls()]
    return out


class VerifiedRetriever(Retriever):
    def __init__(self, http: Http | None = None, router: ContentRouter | None = None,
                 gateways: Sequence[str] = (), scratch_dir: Path | None = None, max_candidates: int = 8,
                 reorder_limit: int = DEFAULT_LIMIT):
        self.http = http or Http()
        self.router = router
        self.gateways = list(gateways)
        self.scratch_dir = scratch_dir
        self.max_candidates = max_candidates
        self.gateway = TrustlessGateway(self.http, reorder_limit)
        self.pieces = PieceGateway(self.http)

    async def candidates(self, cid: CID) -> list[Candidate]:
        out = [Candidate(url=g.rstrip("/"), name=g) for g in self.gateways]
        if self.router is not None:
            try:
                records = await self.router.providers(cid)
            except NetworkError:
                if not out:
                    raise
                records = []  # the indexer is down: the configured gateways may still have it
            for rec in records:
                if not ({"http-gateway", "piece-http"} & set(rec.protocols)):
                    continue
                for url in rec.http_urls():
                    out.append(Candidate(url=url, piece_cid=rec.piece_cid, name=rec.peer_id))
        seen, uniq = set(), []
        for c in out:
            if c.url not in seen:
                seen.add(c.url)
                uniq.append(c)
        return uniq[: self.max_candidates]

    async def stream(self, cid: CID, byte_range: tuple[int, int] | None = None,
                     candidates: Sequence[Candidate] | None = None) -> AsyncIterator[bytes]:
        async with aclosing(self._stream(cid, byte_range, candidates, {"failures": [], "errors": []})) as it:
            async for chunk in it:
                yield chunk if type(chunk) is bytes else bytes(chunk)

    async def _stream(self, cid: CID, byte_range: tuple[int, int] | None, candidates: Sequence[Candidate] | None,
                      report: dict[str, Any]) -> AsyncGenerator[bytes | memoryview, None]:
        cands = list(candidates) if candidates is not None else await self.candidates(cid)
        failures: list[str] = report["failures"]
        errors: list[tuple[str, TunasyncError]] = report["errors"]
        if not cands:
            raise NoCandidates(str(cid), "no retrieval candidates (no gateway configured, nobody announces it)")
        first = byte_range[0] if byte_range else 0
        last = byte_range[1] if byte_range else None
        next_off: int | None = None  # first byte not yet delivered (None: nothing delivered)
        progress: dict[str, Any] = {}
        for cand in cands:
            rng = byte_range if next_off is None else (next_off, last)
            try:
                async for off, data in self.gateway.verified(cand.url, cid, rng, progress):
                    start = off if next_off is None else max(off, next_off)
                    if off + len(data) <= start:
                        continue
                    view = data if start == off else data[start - off :]
                    yield view
                    next_off = start + len(view)
                report["source"] = cand.url
                return
            except RETRYABLE as exc:
                failures.append(f"{cand.name or cand.url}: {exc}")
                errors.append((cand.name or cand.url, exc))
            size = progress.get("size")
            end = size if last is None or size is None else min(last + 1, size)
            if next_off is not None and end is not None and next_off >= end:
                report["source"] = cand.url
                return
        for cand in cands:  # the piece fallback: only candidates that told us the piece
            if cand.piece_cid is None:
                continue
            try:
                async for chunk in self._from_piece(cand, cid, (next_off if next_off is not None else first, last)
                                                    if (byte_range or next_off is not None) else None):
                    yield chunk
                report["source"] = f"{cand.url}/piece/{cand.piece_cid}"
                return
            except RETRYABLE as exc:
                failures.append(f"{cand.name or cand.url} /piece/: {exc}")
                errors.append((f"{cand.name or cand.url} /piece/", exc))
        raise CandidatesFailed(str(cid), errors)

    async def _from_piece(self, cand: Candidate, cid: CID, rng: tuple[int, int | None] | None) -> AsyncIterator[bytes]:
        assert cand.piece_cid is not None
        scratch = self.scratch_dir or Path(tempfile.gettempdir())
        path = scratch / f".piece-{cand.piece_cid}-{uuid.uuid4().hex[:8]}.car"
        await self.pieces.fetch(cand.url, cand.piece_cid, path)
        try:
            index = await asyncio.to_thread(CarIndex.open, str(path), True)
            try:
                it = read_file(index.get, cid, rng)
                while True:
                    chunk = await asyncio.to_thread(next, it, None)
                    if chunk is None:
                        break
                    yield chunk
            except KeyError as exc:
                raise VerifyError(cid, f"piece {cand.piece_cid} lacks block {exc}") from None
            finally:
                index.close()
        finally:
            await asyncio.to_thread(path.unlink, True)

    async def fetch_piece(self, piece_cid: CID, out_path: Path, candidates: Sequence[Candidate],
                          padded_size: int | None = None) -> str:
        """The whole piece from the first candidate whose bytes have its CommP (the next one on failure)."""
        failures = []
        for cand in candidates:
            try:
                await self.pieces.fetch(cand.url, piece_cid, out_path, padded_size)
                return cand.url
            except RETRYABLE as exc:
                failures.append(f"{cand.name or cand.url}: {exc}")
        raise NetworkError(str(piece_cid), "no candidate delivered the verified piece: "
                           + ("; ".join(failures) or "no candidates"))

    async def fetch(self, cid: CID, out_path: Path, byte_range: tuple[int, int] | None = None,
                    candidates: Sequence[Candidate] | None = None) -> FetchResult:
        out_path = Path(out_path)
        partial = out_path.with_name(f".{out_path.name}.{uuid.uuid4().hex[:8]}.partial")
        report: dict[str, Any] = {"failures": [], "errors": []}
        fd = await asyncio.to_thread(os.open, partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        out = _Appender(fd)
        try:
            async for chunk in self._stream(cid, byte_range, candidates, report):
                await out.write(chunk)
            await out.flush()
            await asyncio.to_thread(os.fsync, fd)
        except BaseException:
            await out.settle()
            await asyncio.to_thread(os.close, fd)
            await asyncio.to_thread(partial.unlink, True)
            raise
        await asyncio.to_thread(os.close, fd)
        await asyncio.to_thread(os.replace, partial, out_path)
        return FetchResult(cid=cid, path=out_path, size=out.size, source=report.get("source", ""),
                           failures=list(report["failures"]))

    async def close(self) -> None:
        await self.http.close()


class _Appender:
    """Appends chunks to a file from a thread, one `pwritev` at a time: chunks that arrive during a write
    go out together in the next one, so the stream waits for the disk only past MAX_BACKLOG bytes."""

    def __init__(self, fd: int):
        self.fd = fd
        self.size = 0  # bytes handed to write()
        self._batch: list[bytes | memoryview] = []
        self._batched = 0
        self._pending: asyncio.Future[None] | None = None

    async def write(self, chunk: bytes | memoryview) -> None:
        self._batch.append(chunk)
        self._batched += len(chunk)
        self.size += len(chunk)
        if self._pending is not None and (self._pending.done() or self._batched >= MAX_BACKLOG):
            pending, self._pending = self._pending, None
            await pending  # raises the write's error
        if self._pending is None:
            self._start()

    def _start(self) -> None:
        batch, at = self._batch, self.size - self._batched
        self._batch, self._batched = [], 0
        self._pending = asyncio.get_running_loop().run_in_executor(None, pwritev_all, self.fd, batch, at)

    async def flush(self) -> None:
        """Until every chunk is written (raises the OSError of a failed write)."""
        while self._pending is not None or self._batch:
            if self._pending is not None:
                pending, self._pending = self._pending, None
                await pending
            if self._batch:
                self._start()

    async def settle(self) -> None:
        """After a failure: wait for a write still in its thread (the descriptor must outlive it)."""
        self._batch = []
        if self._pending is not None:
            await asyncio.wait([self._pending])
            if not self._pending.cancelled():
                self._pending.exception()  # the error that brought us here is already on its way
