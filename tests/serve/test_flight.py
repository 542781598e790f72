"""Single flight: many clients, one retrieval; bytes reach every client as they verify; late joiners
read what is already written, then follow; a failure mid-stream breaks every transfer and caches
nothing."""

from __future__ import annotations

import asyncio
import hashlib
import os

import aiohttp
import pytest

from tests.serve.servekit import build_mirror, client, rand, serving, wait_until, write_conf

MIB = 1 << 20
KEY = ("deb", "pool/big.deb")


def metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


async def test_fifty_concurrent_clients_one_retrieval(tmp_path, devnet):
    conf = write_conf(tmp_path, devnet.url, {"deb": True})
    data = rand(8 * MIB, 21)
    m = build_mirror(devnet, conf, "deb", {"pool/big.deb": data}, ["pool/big.deb"])
    want = hashlib.sha256(data).hexdigest()
    async with serving(conf, pace=0.002) as s, client() as c:
        async def one(i: int) -> tuple[int, str]:
            headers = {"Range": f"bytes={i * 1000}-"} if i % 10 == 9 else {}  # some resume mid-file
            async with c.get(s.url + "/deb/pool/big.deb", headers=headers) as r:
                body = await r.read()
                assert body == data[i * 1000:] if headers else body == data
                return r.status, hashlib.sha256(body).hexdigest()

        results = await asyncio.gather(*(one(i) for i in range(50)))
        await wait_until(lambda: s.server.flights.get(KEY) is None, what="retrieval finished")
        assert sorted({st for st, _ in results}) == [200, 206]
        assert {h for st, h in results if st == 200} == {want}
        assert s.counter.streams == [(m.index.get("pool/big.deb").cid, None)]  # exactly one retrieval
        async with c.get(s.url + "/metrics") as r:
            text = await r.text()
        assert metric(text, 'tunasync_serve_retrievals_total{result="ok"}') == 1
        assert metric(text, "tunasync_serve_retrieval_joins_total") >= 40  # the rest came from disk
    assert m.state("pool/big.deb") == "cached" and m.partials() == []


async def test_bytes_flow_before_the_end_and_late_joiners_catch_up(tmp_path, devnet):
    conf = write_conf(tmp_path, devnet.url, {"deb": True})
    data = rand(12 * MIB, 22)
    build_mirror(devnet, conf, "deb", {"pool/big.deb": data}, ["pool/big.deb"])
    async with serving(conf, pace=0.01) as s, client() as c:
        async with c.get(s.url + "/deb/pool/big.deb") as first:
            head = await first.content.readexactly(256 << 10)
            flight = s.server.flights.get(KEY)
            assert flight is not None and flight.running and flight.written < len(data)  # streamed as verified
            await wait_until(lambda: flight.written >= 4 * MIB, what="4 MiB verified")
            async with c.get(s.url + "/deb/pool/big.deb") as late:
                assert flight.running  # joined mid-way: starts from the partial file, then follows
                assert await late.read() == data
            assert head + await first.content.read() == data
        assert s.counter.full() == 1


async def test_failure_mid_stream_breaks_every_transfer_and_caches_nothing(tmp_path, devnet):
    conf = write_conf(tmp_path, devnet.url, {"deb": True})
    data = rand(12 * MIB, 23)
    m = build_mirror(devnet, conf, "deb", {"pool/big.deb": data}, ["pool/big.deb"], providers=(0, 1))
    for i in (0, 1):
        devnet.fault(devnet.actor(i), "corrupt")  # each serves its first blocks right, then a bad one
    async with serving(conf) as s, client() as c:
        async def one() -> tuple[int, int]:
            got = 0
            with pytest.raises((aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError)):
                async with c.get(s.url + "/deb/pool/big.deb") as r:
                    assert r.status == 200  # headers left with the first verified bytes
                    async for chunk in r.content.iter_any():
                        got += len(chunk)
            return got, len(data)

        for got, size in await asyncio.gather(*(one() for _ in range(5))):
            assert 0 < got < size  # some verified bytes, then a broken connection: never a clean short 200
    assert m.state("pool/big.deb") == "evicted" and not (m.root / "pool/big.deb").exists()
    assert m.partials() == []


# -- the registry itself, driven by a retrieval we control (real partial files, no network) -----------
async def _flight(tmp_path, flights, run, size=300, detached=False):
    from tunasync.serve.flight import Flight
    from tunasync.serve.partial import open_partial

    p = open_partial(str(tmp_path / "f.bin"))
    return flights.start(Flight(("t", "f.bin"), size, p, detached=detached), run)


async def test_followers_see_bytes_as_written_and_errors_after_them(tmp_path):
    from tunasync.serve.flight import Flights
    from tunasync.serve.policy import RetrievalFailed

    step = asyncio.Event()

    async def run(f):
        await f.write(b"a" * 100)
        await f.flush()
        await step.wait()
        raise RetrievalFailed(502, "verify_failed", "bad block")

    flights = Flights()
    f = await _flight(tmp_path, flights, run)
    reader = flights.attach(f)
    got = []
    with pytest.raises(RetrievalFailed, match="bad block"):
        async for off, n in f.follow(0, 300):
            got.append(os.pread(reader.fileno(), n, off))
            step.set()
    reader.close()
    flights.detach(f)
    assert got == [b"a" * 100]
    await asyncio.sleep(0.05)
    assert flights.get(("t", "f.bin")) is None and os.listdir(tmp_path) == []  # partial removed


@pytest.mark.parametrize("policy,complete,cancelled", [("cancel", False, True), ("cancel", True, False),
                                                        ("continue", False, False)])
async def test_disconnect_policy(tmp_path, policy, complete, cancelled):
    from tunasync.serve.flight import Flights

    gate = asyncio.Event()

    async def run(f):
        await f.write(b"x" * (300 if complete else 100))
        await f.flush()
        await gate.wait()
        f.succeed()

    flights = Flights(on_disconnect=policy)
    f = await _flight(tmp_path, flights, run)
    reader = flights.attach(f)
    await f.wait_for(0)
    reader.close()
    flights.detach(f)  # the only client leaves
    await asyncio.sleep(0.05)
    gate.set()
    await f.task
    assert (f.error is not None and f.error.result == "cancelled") is cancelled
    assert f.done is not cancelled
    assert os.listdir(tmp_path) == []  # nothing placed by this stand-in; the partial is gone either way
