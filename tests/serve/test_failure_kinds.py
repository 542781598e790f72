"""Each way a retrieval fails reaches the client, the log and /metrics as its own kind, decided by the
error's type (errors.py), never by its message: every provider of a real devnet is made to fail one way,
and serve must answer with the status, log line and metrics label of that way."""

from __future__ import annotations

import logging

import pytest

from tests.serve.servekit import build_mirror, client, rand, serving, write_conf
from tunasync.errors import (
    BadBlock,
    CandidatesFailed,
    NoCandidates,
    PeerRefused,
    PeerTimeout,
    PeerUnreachable,
    TruncatedCar,
    TunasyncError,
)
from tunasync.serve.policy import ServePolicy
from tunasync.serve.retrieval import classify

CASES = [
    # fault on both providers, HTTP status, metrics result
    ("corrupt", 502, "verify_failed"),  # one flipped byte: a block does not hash to its CID
    ("truncate", 502, "verify_failed"),  # the CAR stops halfway: blocks never sent
    ("offline", 502, "error"),  # nobody listens: no connection
]


@pytest.mark.parametrize(("fault", "status", "result"), CASES)
async def test_each_failure_kind_has_its_status_log_and_label(tmp_path, devnet, caplog, fault, status, result):
    conf = write_conf(tmp_path, devnet.url, {"deb": True})
    m = build_mirror(devnet, conf, "deb", {"pool/a.deb": rand(300_000, 61)}, ["pool/a.deb"])
    for i in (0, 1):
        devnet.fault(devnet.actor(i), fault)
    caplog.set_level(logging.INFO, logger="tunasync.serve")
    async with serving(conf) as s, client() as c:
        async with c.get(s.url + "/deb/pool/a.deb") as r:
            assert r.status == status and r.content_type == "text/html"
        async with c.get(s.url + "/metrics") as r:
            text = await r.text()
    assert f'tunasync_serve_retrievals_total{{result="{result}"}} 1.0' in text
    assert [ln for ln in text.splitlines() if ln.startswith("tunasync_serve_retrievals_total{")] == [
        f'tunasync_serve_retrievals_total{{result="{result}"}} 1.0']
    assert any(f"retrieval failed ({result})" in rec.getMessage() for rec in caplog.records)
    assert m.state("pool/a.deb") == "evicted" and m.partials() == []


async def test_every_provider_timing_out_is_a_504_timeout(tmp_path, devnet, caplog):
    """Providers that accept and never answer: each one's read timeout (a PeerTimeout) or the retrieval's
    own deadline, whichever comes first; either way the client gets 504 and the label `timeout`."""
    conf = write_conf(tmp_path, devnet.url, {"deb": True})
    build_mirror(devnet, conf, "deb", {"pool/a.deb": rand(300_000, 62)}, ["pool/a.deb"])
    for i in (0, 1):
        devnet.fault(devnet.actor(i), "hang")
    caplog.set_level(logging.INFO, logger="tunasync.serve")
    async with serving(conf, ServePolicy(retrieve_timeout=2)) as s, client() as c:
        async with c.get(s.url + "/deb/pool/a.deb") as r:
            assert r.status == 504
        async with c.get(s.url + "/metrics") as r:
            assert 'tunasync_serve_retrievals_total{result="timeout"} 1.0' in await r.text()
    assert any("retrieval failed (timeout)" in rec.getMessage() for rec in caplog.records)


async def test_nobody_to_ask_is_a_502_not_found(tmp_path, devnet, caplog):
    """No live copy on record and the network index answers garbage: nobody can be asked."""
    conf = write_conf(tmp_path, devnet.url, {"deb": True})
    m = build_mirror(devnet, conf, "deb", {"pool/a.deb": rand(300_000, 63)}, ["pool/a.deb"])
    m.index.record_copies(m.piece, devnet.epoch(), [])  # the last chain check found no copy left
    devnet.fault("ipni", "malformed")
    caplog.set_level(logging.INFO, logger="tunasync.serve")
    async with serving(conf) as s, client() as c:
        async with c.get(s.url + "/deb/pool/a.deb") as r:
            assert r.status == 502 and "no provider found" in await r.text()
        async with c.get(s.url + "/metrics") as r:
            assert 'tunasync_serve_retrievals_total{result="not_found"} 1.0' in await r.text()
    assert any("retrieval failed (not_found)" in rec.getMessage() for rec in caplog.records)


def _failed(*errors: TunasyncError) -> CandidatesFailed:
    return CandidatesFailed("bafy", [(f"p{i}", e) for i, e in enumerate(errors)])


def test_the_answer_depends_on_types_not_on_words():
    """Messages that used to decide the answer say nothing now; the types alone do."""
    lying = PeerRefused("http://p", "block bytes do not match the CID; incomplete CAR", 500)
    assert classify(lying) == (502, "error")
    assert classify(PeerUnreachable("http://p", "no retrieval candidates")) == (502, "error")
    assert classify(BadBlock("bafy", "x")) == (502, "verify_failed")
    assert classify(TruncatedCar("x", root="bafy")) == (502, "verify_failed")
    assert classify(NoCandidates("bafy", "x")) == (502, "not_found")
    assert classify(PeerTimeout("http://p", "x")) == (504, "timeout")
    assert classify(_failed(PeerTimeout("a", "x"), BadBlock("bafy", "x"))) == (502, "verify_failed")
    assert classify(_failed(PeerTimeout("a", "x"), PeerTimeout("b", "x"))) == (504, "timeout")
    assert classify(_failed(PeerTimeout("a", "x"), PeerUnreachable("b", "x"))) == (502, "error")
