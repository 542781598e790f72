"""The test retrieval before eviction is one verified retrieval of each bundle's whole piece (its CommP
must be the piece CID we computed from the CAR), which tests every file in the bundle at once. Where
no provider serves the piece, each file is retrieved and verified against its CID instead."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from tests.archive.archkit import archive_ctx, assert_nothing_lost, make_tree, rand, write_conf
from tunasync.archive import pipeline
from tunasync.archive.states import FileState
from tunasync.content.cid import CID
from tunasync.filecoin.interfaces import Candidate, FetchResult, Retriever

OLD = {f"pool/{i % 2}/old{i}.deb": rand(30_000 + 7 * i, 500 + i) for i in range(8)}


class Counting(Retriever):
    """The real retriever, counting what it is asked; with `pieces=False` it serves no whole piece
    (as a retriever with only trustless gateways), so the per-file path is taken."""

    def __init__(self, inner: Retriever, pieces: bool):
        self.inner = inner
        self.pieces = pieces
        self.files: list[str] = []
        self.piece_calls: list[str] = []

    async def fetch(self, cid: CID, out_path: Path, byte_range: tuple[int, int] | None = None,
                    candidates: Sequence[Candidate] | None = None) -> FetchResult:
        self.files.append(str(cid))
        return await self.inner.fetch(cid, out_path, byte_range, candidates)

    def stream(self, cid: CID, byte_range: tuple[int, int] | None = None,
               candidates: Sequence[Candidate] | None = None) -> AsyncIterator[bytes]:
        return self.inner.stream(cid, byte_range, candidates)

    async def fetch_piece(self, piece_cid: CID, out_path: Path, candidates: Sequence[Candidate],
                          padded_size: int | None = None) -> str:
        self.piece_calls.append(str(piece_cid))
        if not self.pieces:
            return await super().fetch_piece(piece_cid, out_path, candidates, padded_size)
        return await self.inner.fetch_piece(piece_cid, out_path, candidates, padded_size)


async def run_with(tmp_path: Path, devnet, pieces: bool) -> tuple[Counting, dict[str, bytes]]:
    mirror = tmp_path / "mirror"
    files = make_tree(mirror, dict(OLD), old=set(OLD))
    conf = write_conf(tmp_path, devnet.url, mirror, copies=2, bundle_size="128KiB", extra="count_foreign_copies = false")
    async with archive_ctx(conf) as ctx:
        await pipeline.run(ctx, wait=30, evict_now=False)
        assert ctx.net is not None
        counting = Counting(ctx.net.retriever, pieces)
        ctx.net.retriever = counting
        r = await pipeline.run(ctx)
        assert r.evict is not None and sorted(r.evict.evicted) == sorted(OLD)
        bundles = ctx.index.bundles()
        assert len(bundles) >= 2  # several pieces: one test each
        for p in OLD:
            rec = ctx.index.get(p)
            assert rec.state is FileState.EVICTED and rec.test_retrieval_at is not None
        if pieces:
            assert r.evict.tested_bundles == len(bundles)
            assert all(b.test_retrieval_at is not None for b in bundles)
            assert all(rec.test_retrieval_at == ctx.index.bundle(rec.bundle_id).test_retrieval_at
                       for rec in map(ctx.index.get, OLD))
        ctx.net.retriever = counting.inner
        await assert_nothing_lost(ctx, files)
    return counting, files


async def test_one_verified_piece_retrieval_per_bundle_tests_all_its_files(tmp_path, devnet):
    counting, _ = await run_with(tmp_path, devnet, pieces=True)
    assert counting.files == []  # no file was retrieved on its own
    assert len(counting.piece_calls) == len(set(counting.piece_calls)) >= 2  # each bundle once


async def test_without_whole_pieces_each_file_is_retrieved_and_verified_alone(tmp_path, devnet):
    counting, _ = await run_with(tmp_path, devnet, pieces=False)
    assert sorted(counting.files) == sorted(set(counting.files)) and len(counting.files) == len(OLD)
