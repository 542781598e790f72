"""The Singularity storage backend against the devnet: offer a piece, providers fetch our CAR from our
own `/piece/` server, deals go proposed → published → active, and the chain (not the backend) counts."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiohttp import web

from tunasync.filecoin.http import Http
from tunasync.filecoin.interfaces import PieceRef
from tunasync.filecoin.lotus import LotusChainObserver, LotusClient
from tunasync.filecoin.piece_server import add_piece_routes
from tunasync.filecoin.singularity import SingularityBackend

from .conftest import StoredFile, make_file


@pytest.fixture
async def car_server(tmp_path):
    """Our side of the deal: CARs served at /piece/{pieceCid} (what `tunasync serve` does in production)."""
    cars: dict[str, Path] = {}

    async def lookup(piece):
        return cars.get(str(piece))

    app = web.Application()
    add_piece_routes(app, lookup)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield cars, f"http://127.0.0.1:{port}"
    await runner.cleanup()


def piece_ref(f: StoredFile, base: str) -> PieceRef:
    return PieceRef(f.piece, f.padded_size, f.car_size, f.root, f"{base}/piece/{f.piece}")


async def wait_for(pred, limit: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + limit
    while True:
        value = await pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def clients(devnet, **kw):
    http = Http()
    backend = SingularityBackend(f"{devnet.url}/api", [p["actor"] for p in devnet.providers], http=http,
                                 start_delay="1h", **kw)
    chain = LotusChainObserver(LotusClient(f"{devnet.url}/rpc/v1", http=http))
    return http, backend, chain


async def copies(backend, chain, f):
    ids = [d.deal_id for d in await backend.deals(f.piece) if d.deal_id is not None]
    return await chain.verified_copies(f.piece, f.padded_size, deal_ids=ids)


async def test_offer_until_n_active_copies(devnet, tmp_path, car_server):
    cars, base = car_server
    f = make_file(tmp_path, "a.bin", 300_000)
    cars[str(f.piece)] = f.car
    http, backend, chain = clients(devnet)
    try:
        made = await backend.offer(piece_ref(f, base), 2)
        # fresh deals: proposed, or already published when the devnet's chain ticked meanwhile (under load)
        assert len(made) == 2 and all(d.state in ("proposed", "published") for d in made), made
        assert len({d.provider for d in made}) == 2
        report = await wait_for(lambda: _count(backend, chain, f, 2), what="2 active copies")
        assert report.providers == sorted(d.provider for d in made)
        # offering again asks only the provider that has nothing yet
        more = await backend.offer(piece_ref(f, base), 1)
        assert [d.provider for d in more] == [devnet.actor(2)]
        await wait_for(lambda: _count(backend, chain, f, 3), what="3 active copies")
        states = {d.state for d in await backend.deals(f.piece)}
        assert states == {"active"}
    finally:
        await http.close()


async def _count(backend, chain, f, n):
    r = await copies(backend, chain, f)
    return r if r.count >= n else None


async def test_unsealed_and_slashed_deals_never_count(devnet, tmp_path, car_server):
    cars, base = car_server
    f = make_file(tmp_path, "b.bin", 70_000)
    cars[str(f.piece)] = f.car
    devnet.fault(devnet.actor(0), "never_seal")
    devnet.fault(devnet.actor(1), "slash")
    http, backend, chain = clients(devnet)
    try:
        await backend.offer(piece_ref(f, base), 3)

        async def settled():
            ds = {d.provider: d for d in await backend.deals(f.piece)}
            ok = (ds[devnet.actor(0)].state == "published" and ds[devnet.actor(1)].state == "slashed"
                  and ds[devnet.actor(2)].state == "active")
            return ds if ok else None

        await wait_for(settled, what="published / slashed / active")
        await asyncio.sleep(0.5)  # several more epochs: the unsealed deal must still not count
        report = await copies(backend, chain, f)
        assert report.providers == [devnet.actor(2)]
        why = {d.provider: d.reason for d in report.details}
        assert "not sealed" in why[devnet.actor(0)]
        assert "slashed" in why[devnet.actor(1)]
    finally:
        await http.close()


async def test_commp_mismatch_is_rejected_by_the_provider(devnet, tmp_path, car_server):
    cars, base = car_server
    f = make_file(tmp_path, "c.bin", 5000)
    other = make_file(tmp_path, "d.bin", 5000, seed=7)
    cars[str(f.piece)] = other.car  # we serve the wrong bytes for this piece
    http, backend, chain = clients(devnet)
    try:
        await backend.offer(piece_ref(f, base), 1)

        async def failed():
            ds = await backend.deals(f.piece)
            return ds if ds and ds[0].state == "error" else None

        await wait_for(failed, what="deal error")
        assert (await copies(backend, chain, f)).count == 0
    finally:
        await http.close()


async def test_expired_deal_stops_counting(devnet, tmp_path, car_server):
    cars, base = car_server
    f = make_file(tmp_path, "e.bin", 1000)
    cars[str(f.piece)] = f.car
    http = Http()
    backend = SingularityBackend(f"{devnet.url}/api", [devnet.actor(0)], http=http, start_delay="10m", duration="3m")
    chain = LotusChainObserver(LotusClient(f"{devnet.url}/rpc/v1", http=http))
    try:
        await backend.offer(piece_ref(f, base), 1)
        await wait_for(lambda: _count(backend, chain, f, 1), what="active")

        async def gone():
            r = await copies(backend, chain, f)
            return r if r.count == 0 else None

        report = await wait_for(gone, what="expiry")
        assert "expired" in report.details[0].reason
    finally:
        await http.close()


async def test_ddo_deal_becomes_a_claim(devnet, tmp_path, car_server):
    from tunasync.filecoin.interfaces import ClaimRef

    cars, base = car_server
    f = make_file(tmp_path, "ddo.bin", 4000)
    cars[str(f.piece)] = f.car
    http, backend, chain = clients(devnet, deal_type="ddo", verified=True)
    try:
        await backend.offer(piece_ref(f, base), 1)

        async def claimed():
            ds = await backend.deals(f.piece)
            return ds if ds and ds[0].claim_id is not None else None

        deal = (await wait_for(claimed, what="claim"))[0]
        assert deal.deal_id is None  # DDO: no market deal, a verified-registry claim instead
        report = await chain.verified_copies(f.piece, f.padded_size, claims=[ClaimRef(deal.provider, deal.claim_id)])
        assert report.providers == [deal.provider] and report.details[0].kind == "claim"
    finally:
        await http.close()


async def test_piece_server_ranges_and_v2(car_server, tmp_path):
    import aiohttp

    from tunasync.content.piece import v1_to_v2

    cars, base = car_server
    f = make_file(tmp_path, "srv.bin", 10_000)
    cars[str(f.piece)] = f.car
    car = f.car.read_bytes()
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{base}/piece/{v1_to_v2(f.piece, f.car_size)}", headers={"Range": "bytes=10-19"}) as r:
            assert r.status == 206 and await r.read() == car[10:20]
        async with s.head(f"{base}/piece/{f.piece}") as r:
            assert r.status == 200 and r.headers["Content-Length"] == str(len(car))
        async with s.get(f"{base}/piece/not-a-cid") as r:
            assert r.status == 400
