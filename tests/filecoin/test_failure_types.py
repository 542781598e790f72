"""Each way a provider fails reaches the caller as its own error type (errors.py), over real HTTP from the
devnet's providers: a corrupt block, a CAR cut short, a refusal, no connection, no answer in time, and
nobody to ask. Callers (serve's answer, the archive's logs) branch on these types, never on wording."""

from __future__ import annotations

import pytest

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
from tunasync.filecoin.http import Http
from tunasync.filecoin.interfaces import Candidate
from tunasync.filecoin.retriever import VerifiedRetriever
from tunasync.serve.retrieval import classify

from .conftest import make_file

FAULTS: list[tuple[str, type[TunasyncError], tuple[int, str]]] = [
    # devnet fault, the error type, serve's (status, metrics result) when every provider fails that way
    ("corrupt", BadBlock, (502, "verify_failed")),
    ("truncate", TruncatedCar, (502, "verify_failed")),
    ("no_ipfs", PeerRefused, (502, "error")),
    ("offline", PeerUnreachable, (502, "error")),
    ("hang", PeerTimeout, (504, "timeout")),
]


async def test_each_provider_fault_is_its_own_type(devnet, tmp_path, fast_http):
    f = make_file(tmp_path, "t.bin", 2 * 1048576 + 5)
    devnet.seed(f.car, [devnet.actor(0)])
    only = [Candidate(url=devnet.providers[0]["url"], name=devnet.actor(0))]  # no piece CID: no fallback
    r = VerifiedRetriever(http=Http(fast_http))
    try:
        assert b"".join([c async for c in r.stream(f.root, candidates=only)]) == f.data
        with pytest.raises(NoCandidates):
            _ = [c async for c in r.stream(f.root, candidates=[])]
    finally:
        await r.close()
    for fault, kind, answer in FAULTS:
        devnet.fault(devnet.actor(0), fault)
        r = VerifiedRetriever(http=Http(fast_http))  # a fresh connection pool: no socket from before the fault
        try:
            with pytest.raises(CandidatesFailed) as info:
                _ = [c async for c in r.stream(f.root, candidates=only)]
        finally:
            devnet.fault(devnet.actor(0), fault, on=False)
            await r.close()
        [(name, exc)] = info.value.failures
        assert name == devnet.actor(0) and type(exc) is kind, (fault, exc)
        assert classify(info.value) == answer, fault
        if isinstance(exc, PeerRefused):
            assert exc.status == 404  # no_ipfs: the provider has no CID index
