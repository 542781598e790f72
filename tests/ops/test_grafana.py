"""contrib/grafana/tunasync.json: valid dashboard JSON whose queries use metric names we export."""

from __future__ import annotations

import json
import re
import types
from pathlib import Path

from tunasync.manager.metrics import ManagerMetrics, Snapshot
from tunasync.metrics import RetrievalMetrics, new_registry, render
from tunasync.models import MirrorStatus, SyncStatus, WorkerStatus, timefmt
from tunasync.worker.metrics import WorkerMetrics

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "contrib" / "grafana" / "tunasync.json"


def exported_names() -> set[str]:
    """Every sample name our manager and worker registries expose when they have data."""
    mm = ManagerMetrics()
    now = timefmt.now()
    s = MirrorStatus(name="m", worker="w", status=SyncStatus.SUCCESS, size="1G", last_update=now,
                     last_started=now, last_ended=now, next_schedule=now)
    mm.collector.snapshot = Snapshot([("w", "m", s)], [WorkerStatus(id="w", last_online=now)],
                                     [("w", "m", {"states": {"stored": {"files": 1, "bytes": 1}}, "copies": {"3": 1}})])
    from tunasync.manager.state import StatusChange
    mm.on_change(StatusChange("w", "m", s))
    fake_worker = types.SimpleNamespace(name="w", jobs={})
    wm = WorkerMetrics(fake_worker)  # type: ignore[arg-type]
    wm.runs.labels("w", "m", "success").inc()
    wm.attempts.labels("w", "m").inc()
    wm.durations.labels("w", "m", "success").observe(1)
    wm.transferred.labels("w", "m").inc(1)
    serve = new_registry()
    RetrievalMetrics(serve).observe("ok", 0.3, 1000)  # what `tunasync serve` records
    text = (render(mm.registry) + render(wm.registry) + render(serve)).decode()
    return set(re.findall(r"^(tunasync_\w+?)(?:\{| )", text, re.MULTILINE))


def test_dashboard_queries_use_exported_metrics():
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] == "tunasync" and dash["panels"]
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 15
    names = exported_names()
    used = set(re.findall(r"\b(tunasync_\w+)", " ".join(exprs)))
    for name in used:
        assert name in names, f"dashboard uses {name}, which nothing exports"


def test_panels_are_laid_out_and_unique():
    dash = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for p in dash["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0
    assert {v["name"] for v in dash["templating"]["list"]} == {"datasource", "worker", "mirror"}
