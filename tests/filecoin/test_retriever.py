"""Verified retrieval from the devnet's providers: whole files, ranges, and every provider fault."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tunasync.errors import CandidatesFailed, NetworkError, NoCandidates, TruncatedCar
from tunasync.filecoin.http import Http
from tunasync.filecoin.interfaces import Candidate
from tunasync.filecoin.ipni import IpniClient
from tunasync.filecoin.retriever import VerifiedRetriever, _Appender

from .conftest import make_file
from .test_gateway import MIB, CarServer, car_blocks, car_bytes


def retriever(devnet, settings) -> VerifiedRetriever:
    http = Http(settings)
    return VerifiedRetriever(http=http, router=IpniClient(devnet.url, http=http))


def _no_partials(d: Path) -> None:
    assert not [p.name for p in d.iterdir() if p.name.endswith(".partial")]


async def test_fetch_whole_file_and_range(devnet, tmp_path, fast_http):
    f = make_file(tmp_path, "five.bin", 5 * 1048576 + 17)
    devnet.seed(f.car, [devnet.actor(0), devnet.actor(1)])
    r = retriever(devnet, fast_http)
    try:
        out = tmp_path / "out" / "five.bin"
        out.parent.mkdir()
        res = await r.fetch(f.root, out)
        assert out.read_bytes() == f.data
        assert res.size == len(f.data) and res.failures == []
        part = tmp_path / "out" / "part.bin"
        await r.fetch(f.root, part, (1048570, 2097160))
        assert part.read_bytes() == f.data[1048570:2097161]
        chunks = [c async for c in r.stream(f.root, (len(f.data) - 5, len(f.data) - 1))]
        assert b"".join(chunks) == f.data[-5:]
        chunks = [c async for c in r.stream(f.root)]
        assert b"".join(chunks) == f.data and all(type(c) is bytes for c in chunks)
        _no_partials(out.parent)
    finally:
        await r.close()


async def test_corrupt_provider_is_skipped(devnet, tmp_path, fast_http):
    f = make_file(tmp_path, "c.bin", 3 * 1048576)
    devnet.seed(f.car, [devnet.actor(0), devnet.actor(1)])
    devnet.fault(devnet.actor(0), "corrupt")
    r = retriever(devnet, fast_http)
    try:
        out = tmp_path / "c.out"
        res = await r.fetch(f.root, out)
        assert out.read_bytes() == f.data
        assert res.source == devnet.providers[1]["url"]
        assert any(devnet.providers[0]["ipniPeerId"] in x for x in res.failures)
    finally:
        await r.close()


async def test_a_bad_block_mid_stream_fails_over_from_the_first_byte_not_delivered(tmp_path):
    root, data, blocks = car_blocks(tmp_path, 6 * MIB)
    cid, leaf = blocks[4]  # file bytes [3 MiB, 4 MiB)
    bad = car_bytes(root, blocks[:4] + [(cid, leaf[:-1] + bytes([leaf[-1] ^ 1]))] + blocks[5:])
    good = CarServer(blocks=dict(blocks))
    r = VerifiedRetriever(http=Http())
    try:
        async with CarServer(bad) as bad_url, good as good_url:
            out = tmp_path / "out"
            res = await r.fetch(root, out, candidates=[Candidate(bad_url), Candidate(good_url)])
        assert out.read_bytes() == data and res.source == good_url
        assert "do not match the CID" in res.failures[0]
        assert good.queries == [f"format=car&dag-scope=entity&car-order=dfs&car-dups=y&entity-bytes={3 * MIB}:*"]
    finally:
        await r.close()


async def test_appender_batches_chunks_and_reports_a_failed_write(tmp_path):
    chunks = [bytes([i % 256]) * (i * 977 + 1) for i in range(300)]
    fd = os.open(tmp_path / "a", os.O_WRONLY | os.O_CREAT, 0o644)
    out = _Appender(fd)
    for c in chunks:
        await out.write(memoryview(c) if len(c) % 2 else c)
    await out.flush()
    os.close(fd)
    assert (tmp_path / "a").read_bytes() == b"".join(chunks) and out.size == sum(map(len, chunks))
    fd = os.open(tmp_path / "a", os.O_RDONLY)  # every write fails
    out = _Appender(fd)
    try:
        with pytest.raises(OSError):
            for c in chunks:
                await out.write(c)
            await out.flush()
    finally:
        await out.settle()
        os.close(fd)


async def test_truncated_car_is_an_error_never_a_short_file(devnet, tmp_path, fast_http):
    f = make_file(tmp_path, "t.bin", 4 * 1048576 + 3)
    devnet.seed(f.car, [devnet.actor(2)])
    devnet.fault(devnet.actor(2), "truncate")
    r = retriever(devnet, fast_http)
    out = tmp_path / "t.out"
    try:
        with pytest.raises(CandidatesFailed) as exc:
            await r.fetch(f.root, out)
        assert exc.value.any_of(TruncatedCar) and "incomplete" in str(exc.value)
    finally:
        await r.close()
    assert not out.exists()
    _no_partials(tmp_path)


async def test_truncating_provider_then_good_one_resumes(devnet, tmp_path, fast_http):
    f = make_file(tmp_path, "r.bin", 4 * 1048576 + 3)
    devnet.seed(f.car, [devnet.actor(0), devnet.actor(1)])
    devnet.fault(devnet.actor(0), "truncate")
    r = retriever(devnet, fast_http)
    try:
        chunks = [c async for c in r.stream(f.root)]
        assert b"".join(chunks) == f.data
    finally:
        await r.close()


async def test_offline_and_hanging_providers_cost_a_timeout_not_a_hang(devnet, tmp_path, fast_http):
    f = make_file(tmp_path, "o.bin", 2 * 1048576)
    devnet.seed(f.car, [devnet.actor(0), devnet.actor(1), devnet.actor(2)])
    devnet.fault(devnet.actor(0), "offline")
    devnet.fault(devnet.actor(1), "hang")
    r = retriever(devnet, fast_http)
    try:
        started = time.monotonic()
        res = await r.fetch(f.root, tmp_path / "o.out")
        elapsed = time.monotonic() - started
        assert (tmp_path / "o.out").read_bytes() == f.data
        assert res.source == devnet.providers[2]["url"]
        assert len(res.failures) == 2
        assert elapsed < 20  # read timeout 1.5 s, one per bad provider; generous under load
    finally:
        await r.close()


async def test_piece_fallback_checks_commp(devnet, tmp_path, fast_http):
    f = make_file(tmp_path, "p.bin", 3 * 1048576 + 5)
    devnet.seed(f.car, [devnet.actor(0)])
    devnet.fault(devnet.actor(0), "no_ipfs")
    r = retriever(devnet, fast_http)
    try:
        res = await r.fetch(f.root, tmp_path / "p.out", (100, 2 * 1048576))
        assert (tmp_path / "p.out").read_bytes() == f.data[100:2 * 1048576 + 1]
        assert res.source.endswith(f"/piece/{f.piece}")
        devnet.fault(devnet.actor(0), "corrupt")
        with pytest.raises(NetworkError) as exc:
            await r.fetch(f.root, tmp_path / "p2.out")
        assert "CommP" in str(exc.value)
        assert not (tmp_path / "p2.out").exists()
    finally:
        await r.close()


async def test_explicit_gateway_candidate_first(devnet, tmp_path, fast_http):
    f = make_file(tmp_path, "g.bin", 1000)
    devnet.seed(f.car, [devnet.actor(1)])
    r = retriever(devnet, fast_http)
    try:
        res = await r.fetch(f.root, tmp_path / "g.out", candidates=[Candidate(devnet.providers[1]["url"])])
        assert (tmp_path / "g.out").read_bytes() == f.data
        assert res.source == devnet.providers[1]["url"]
    finally:
        await r.close()


async def test_nobody_has_it(devnet, tmp_path, fast_http):
    f = make_file(tmp_path, "n.bin", 10)
    r = retriever(devnet, fast_http)
    try:
        with pytest.raises(NoCandidates, match="no retrieval candidates"):
            await r.fetch(f.root, tmp_path / "n.out")
    finally:
        await r.close()


async def test_slow_provider(devnet, tmp_path, fast_http):
    f = make_file(tmp_path, "s.bin", 1_000_000)
    devnet.seed(f.car, [devnet.actor(0), devnet.actor(1)])
    devnet.fault(devnet.actor(0), "slow", 0.3)  # slower than usual, within the read timeout: still used
    r = retriever(devnet, fast_http)
    try:
        res = await r.fetch(f.root, tmp_path / "s1.out")
        assert res.source == devnet.providers[0]["url"] and res.failures == []
        devnet.fault(devnet.actor(0), "slow", 30)  # far slower than the read timeout: skipped
        res = await r.fetch(f.root, tmp_path / "s2.out")
        assert res.source == devnet.providers[1]["url"] and "timed out" in res.failures[0]
        assert (tmp_path / "s2.out").read_bytes() == f.data
    finally:
        await r.close()


async def test_candidates_from_our_deal_list(devnet, tmp_path, fast_http):
    from tunasync.filecoin.lotus import LotusChainObserver, LotusClient
    from tunasync.filecoin.retriever import provider_candidates

    f = make_file(tmp_path, "d.bin", 3 * 1048576)
    devnet.seed(f.car, [devnet.actor(2)])
    devnet.fault(devnet.actor(2), "no_ipfs")
    http = Http(fast_http)
    chain = LotusChainObserver(LotusClient(f"{devnet.url}/rpc/v1", http=http))
    r = VerifiedRetriever(http=http)  # no router: candidates come only from the chain
    try:
        cands = await provider_candidates(chain, [devnet.actor(2), "f09999"], f.piece)
        assert [c.url for c in cands] == [devnet.providers[2]["url"]]
        res = await r.fetch(f.root, tmp_path / "d.out", candidates=cands)
        assert (tmp_path / "d.out").read_bytes() == f.data and "/piece/" in res.source
    finally:
        await http.close()


async def test_a_bitswap_only_provider_is_skipped_cleanly(devnet_factory, tmp_path, fast_http):
    devnet = devnet_factory("--provider-kind", "bitswap-only,curio")
    f = make_file(tmp_path, "bs.bin", 700_000)
    devnet.seed(f.car, [devnet.actor(0), devnet.actor(1)])
    r = retriever(devnet, fast_http)
    try:
        assert [c.url for c in await r.candidates(f.root)] == [devnet.providers[1]["url"]]  # no HTTP URL for it
        res = await r.fetch(f.root, tmp_path / "bs.out")
        assert (tmp_path / "bs.out").read_bytes() == f.data
        assert res.source == devnet.providers[1]["url"] == f"http://localhost:{devnet.providers[1]['port']}"
        assert res.failures == []
        g = make_file(tmp_path, "only.bin", 5000, seed=3)
        devnet.seed(g.car, [devnet.actor(0)])  # announced over bitswap alone
        with pytest.raises(NoCandidates, match="no retrieval candidates"):
            await r.fetch(g.root, tmp_path / "only.out")
        assert not (tmp_path / "only.out").exists()
    finally:
        await r.close()


async def test_a_curio_piece_comes_zero_padded_and_still_verifies(devnet, tmp_path, fast_http):
    import aiohttp

    f = make_file(tmp_path, "zp.bin", 1_500_000)
    devnet.seed(f.car, [devnet.actor(0)])
    base = devnet.providers[0]["url"]
    unpadded = f.padded_size // 128 * 127  # curio lib/cachedreader: a v1 piece is served at its unpadded size
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{base}/piece/{f.piece}") as resp:
            body = await resp.read()
            assert resp.status == 200 and resp.headers["ETag"] == f'"{f.piece}"'
        assert len(body) == unpadded and body[: f.car_size] == f.car.read_bytes()
        assert body[f.car_size :] == bytes(unpadded - f.car_size)
        async with s.get(f"{base}/piece/{f.piece}", headers={"Range": "bytes=-10"}) as resp:
            assert resp.status == 206 and await resp.read() == bytes(10)
            assert resp.headers["Content-Range"] == f"bytes {unpadded - 10}-{unpadded - 1}/{unpadded}"
        async with s.head(f"{base}/piece/{f.piece}") as resp:
            assert resp.headers["Content-Length"] == str(unpadded)
    devnet.fault(devnet.actor(0), "no_ipfs")  # only /piece/ is left: the zeros after the CAR are its end
    r = retriever(devnet, fast_http)
    try:
        res = await r.fetch(f.root, tmp_path / "zp.out")
        assert (tmp_path / "zp.out").read_bytes() == f.data and res.source.endswith(f"/piece/{f.piece}")
    finally:
        await r.close()
