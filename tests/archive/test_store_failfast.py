"""`archive store` fails fast with the reason: providers that cannot fetch our CAR are reported as they
fail, counted per reason, and once every provider has failed a bundle the command stops waiting and
exits non-zero naming the URL, the providers' answer and what to do (not a silent 600 s --wait)."""

from __future__ import annotations

import json
import time

from prometheus_client import generate_latest

from tests.archive.archkit import archive_ctx, default_files, make_tree, write_conf
from tests.archive.test_archive_cli import tunasync
from tests.serve.test_cli import ServeProc
from tunasync.archive import dealfail, pipeline, store
from tunasync.filecoin.interfaces import DealRef, DealState


def conf_with_piece_url(tmp_path, devnet, suffix: str):
    mirror = tmp_path / "mirror"
    files = default_files(6)
    make_tree(mirror, files, old=set(list(files)[:4]))
    conf = write_conf(tmp_path, devnet.url, mirror, copies=2)
    serve = ServeProc(tmp_path, "-c", str(conf))
    conf.write_text(conf.read_text().replace("[archive]\n", f'[archive]\npiece_url = "{serve.url}{suffix}"\n'))
    return conf, serve


def test_a_wrong_piece_url_fails_within_a_minute_with_the_reason(tmp_path, devnet):
    conf, serve = conf_with_piece_url(tmp_path, devnet, "/piece")  # the classic mistake: CARs at /piece/piece/…
    try:
        t0 = time.monotonic()
        p = tunasync("archive", "store", "-c", str(conf), "demo", "--wait", "600", "--poll", "0.2", check=False)
        took = time.monotonic() - t0
    finally:
        serve.stop()
    assert p.returncode == 1, p.stdout + p.stderr
    assert took < 60, f"store waited {took:.0f} s although every provider had failed"
    wrong = f"{serve.url}/piece/piece/baga"
    # as they happen: one line per failed deal, naming provider, deal, reason and the URL offered
    seen = [ln for ln in p.stderr.splitlines() if ln.startswith("archive demo: bundle 1: provider ")]
    assert len({ln.split("provider ")[1].split()[0] for ln in seen}) == 3, p.stderr
    assert all("(piece_fetch_failed)" in ln and "HTTP 404" in ln and wrong in ln for ln in seen)
    # the verdict: the common reason and the fix
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: storing demo gave up on 1 bundle(s): ")
    assert "piece_fetch_failed" in last and "HTTP 404" in last and "check [archive] piece_url" in last
    st = json.loads(tunasync("archive", "status", "-c", str(conf), "demo", "--json").stdout)
    assert "piece_fetch_failed" in st["store_problem"]
    assert "the last store gave up:" in tunasync("archive", "status", "-c", str(conf)).stdout


def test_the_right_piece_url_stores_and_clears_the_problem(tmp_path, devnet):
    conf, serve = conf_with_piece_url(tmp_path, devnet, "")
    try:
        out = json.loads(tunasync("archive", "store", "-c", str(conf), "demo", "--wait", "60", "--poll", "0.2",
                                  "--json").stdout)
    finally:
        serve.stop()
    assert out["stored_bundles"] == out["packed"] >= 1 and out["failures"] == [] and out["gave_up"] == {}
    st = json.loads(tunasync("archive", "status", "-c", str(conf), "demo", "--json").stdout)
    assert st["store_problem"] is None


async def test_failures_are_counted_per_reason_for_the_worker_metrics(tmp_path, devnet):
    # In process: the deal-failure counter the worker's /metrics exposes, and the run summary it posts.
    mirror = tmp_path / "mirror"
    files = default_files(4)
    make_tree(mirror, files, old=set(files))
    conf = write_conf(tmp_path, devnet.url, mirror, copies=2)
    before = dealfail.DEAL_FAILURES.labels("demo", "piece_fetch_failed")._value.get()
    async with archive_ctx(conf) as ctx:
        ctx.piece_base += "/piece"  # the providers get 404s
        report = pipeline.RunReport()
        await pipeline.scan_and_hash(ctx, report)
        report.store = await store.store(ctx, wait=120, poll=0.2)
    assert report.store.gave_up and len(report.store.failures) >= 3
    after = dealfail.DEAL_FAILURES.labels("demo", "piece_fetch_failed")._value.get()
    assert after - before == len(report.store.failures)
    summary = report.summary()
    assert summary["deal_failures"] == len(report.store.failures) and "piece_fetch_failed" in summary["store_problem"]
    text = generate_latest(dealfail.DEAL_FAILURES).decode()
    assert 'tunasync_archive_deal_failures_total{mirror="demo",reason="piece_fetch_failed"}' in text


def test_reasons_from_the_providers_words():
    def r(state: str, error: str = "") -> str:
        return dealfail.reason_of(DealRef(deal_id=1, provider="f01000", state=DealState(state), error=error))

    assert r("error", "GET http://x/piece/piece/baga…: HTTP 404") == "piece_fetch_failed"
    assert r("error", "CommP mismatch: fetched 10 bytes with piece baga…") == "commp_mismatch"
    assert r("proposal_expired") == "not_sealed_in_time"
    assert r("slashed") == "slashed"
    assert r("rejected", "deal price below the provider's ask") == "provider_rejected"


def test_the_worker_metrics_export_deal_failures():
    import types

    from tunasync.metrics import render
    from tunasync.worker.metrics import WorkerMetrics

    dealfail.DEAL_FAILURES.labels("m1", "commp_mismatch").inc()
    text = render(WorkerMetrics(types.SimpleNamespace(name="w", jobs={})).registry).decode()  # type: ignore[arg-type]
    assert 'tunasync_archive_deal_failures_total{mirror="m1",reason="commp_mismatch"}' in text
