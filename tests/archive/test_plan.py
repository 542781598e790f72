"""`tunasync archive plan`: what eviction would free, what storing is ahead and its cost, before acting.
The plan of the demo mirror is checked against what `archive evict` then really does."""

from __future__ import annotations

import json

from tests.archive.archkit import default_files, make_tree, write_conf
from tests.archive.test_archive_cli import tunasync


def plan(conf, *args: str) -> dict:
    return json.loads(tunasync("archive", "plan", "-c", str(conf), "demo", "--json", *args).stdout)


def test_plan_matches_what_evict_then_does(tmp_path, devnet):
    mirror = tmp_path / "mirror"
    files = default_files(8)
    old = {p for i, p in enumerate(files) if i < 5}
    make_tree(mirror, files, old=old)
    conf = write_conf(tmp_path, devnet.url, mirror, copies=2, extra="price_per_tib_year = 12.5")
    tunasync("archive", "scan", "-c", str(conf), "demo")
    before = plan(conf)
    nonempty_old = sorted(p for p in old if files[p])
    assert before["evict_now"]["files"] == 0  # nothing is stored yet: nothing may leave the disk
    assert before["due_not_stored"]["files"] == len(nonempty_old)
    want = sum(len(files[p]) for p in files if files[p])
    assert before["to_store"] == {"files": len(files), "bytes": want}
    assert before["bundles"] == -(-want // (4 << 20)) and before["deals"] == 2 * before["bundles"]  # 4MiB, 2 copies
    assert before["cost_per_year"] == before["tib_on_filecoin"] * 12.5 > 0
    stored = json.loads(tunasync("archive", "store", "-c", str(conf), "demo", "--wait", "60", "--poll", "0.2",
                                 "--json").stdout)
    after = plan(conf)
    assert after["to_store"]["files"] == 0 and after["stored"]["files"] == before["to_store"]["files"]
    assert after["evict_now"] == {"files": len(nonempty_old), "bytes": sum(len(files[p]) for p in nonempty_old)}
    # what-ifs: a longer keep frees nothing now; more copies than providers hold frees nothing either
    assert plan(conf, "--keep-years", "100")["evict_now"]["files"] == 0
    three = plan(conf, "--copies", "3")
    assert three["evict_now"]["files"] == 0 and three["deals"] == stored["packed"]  # one more copy per piece
    every = plan(conf, "--keep-years", "0")
    assert every["evict_now"]["files"] == sum(1 for p in files if files[p])
    done = json.loads(tunasync("archive", "evict", "-c", str(conf), "demo", "--json").stdout)
    assert sorted(done["evicted"]) == nonempty_old  # exactly the plan's files
    assert plan(conf)["evicted"] == after["evict_now"]
    text = tunasync("archive", "plan", "-c", str(conf), "demo").stdout
    assert "evict frees now: 0 files" in text and "bytes on disk by year of mtime" in text
    assert "12.5 per TiB-year" in text


def test_plan_refuses_bad_what_ifs(tmp_path, devnet):
    mirror = tmp_path / "mirror"
    make_tree(mirror, default_files(2), old=set())
    conf = write_conf(tmp_path, devnet.url, mirror)
    for args, why in ((["--copies", "0"], "copies must be at least 1"),
                      (["--keep-years", "-1"], "keep_years must not be negative"),
                      (["--price-tib-year", "-3"], "must not be negative")):
        p = tunasync("archive", "plan", "-c", str(conf), "demo", *args, check=False)
        assert p.returncode == 2 and why in p.stderr, (args, p.stderr)
    p = tunasync("archive", "plan", "-c", str(conf), "demo", check=False)
    assert p.returncode == 0 and "no price given" in p.stdout
    assert plan(conf)["total"]["files"] == 0  # nothing indexed yet
    assert plan(conf, "--scan")["to_store"]["files"] == 2  # --scan indexes the mirror first
