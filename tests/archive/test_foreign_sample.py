"""Foreign copies count only after a chain check and a verified sample retrieval, on every path that
counts them: before upload (a file others hold need not be uploaded), in the evictor (a file held only
by others may leave the disk) and in repair (a file whose foreign copies are gone comes back home).

Each path meets the same lie on a real devnet: the chain shows two active deals of someone else for the
file's piece, but both providers serve corrupt bytes, so no sample verifies."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from tests.archive.archkit import archive_ctx, make_tree, rand, write_conf
from tunasync.archive import pipeline
from tunasync.archive.evictor import evict_due
from tunasync.archive.repair import repair
from tunasync.archive.states import FileState
from tunasync.content.car import write_file_car


def seed_elsewhere(devnet, tmp: Path, name: str, data: bytes, holders: list[str]) -> None:
    """Someone else's copies of `data`: its CAR stored at `holders` with active deals on chain."""
    src = tmp / f"{name}.elsewhere"
    src.write_bytes(data)
    write_file_car(str(src), str(tmp / f"{name}.car"))
    devnet.seed(tmp / f"{name}.car", holders)


async def test_a_foreign_copy_whose_sample_does_not_verify_counts_on_no_path(tmp_path, devnet):
    mirror = tmp_path / "mirror"
    held, later = rand(300_000, 51), rand(200_000, 52)
    make_tree(mirror, {"iso/held.iso": held, "iso/rare.iso": rand(5000, 53)}, old=set())
    holders = [devnet.actor(1), devnet.actor(2)]
    seed_elsewhere(devnet, tmp_path, "held", held, holders)
    seed_elsewhere(devnet, tmp_path, "later", later, holders)
    conf = write_conf(tmp_path, devnet.url, mirror, copies=2, extra="verify_before_evict = false")
    async with archive_ctx(conf) as ctx:
        # healthy holders: the foreign copies count, the file is stored without an upload of ours
        r = await pipeline.run(ctx, wait=30)
        assert r.foreign == 1
        rec = ctx.index.get("iso/held.iso")
        assert rec.state is FileState.STORED and rec.bundle_id is None

        for h in holders:
            devnet.fault(h, "corrupt")  # the chain still shows both deals active

        # before upload: a new file the chain says others hold twice is packed and offered by us
        make_tree(mirror, {"iso/later.iso": later}, old=set())
        r = await pipeline.run(ctx, wait=30)
        assert r.foreign == 0
        assert ctx.index.get("iso/later.iso").bundle_id is not None

        # the evictor: the foreign-only file is due, no test retrieval is asked for, yet it stays
        far = datetime(2200, 1, 1, tzinfo=timezone.utc)
        ev = await evict_due(ctx, now=far)
        assert "iso/held.iso" not in ev.evicted and "iso/held.iso" in ev.kept
        assert (mirror / "iso/held.iso").read_bytes() == held

        # repair: its foreign copies no longer count, so it goes back to be packed into a bundle of ours
        rep = await repair(ctx)
        assert rep.foreign_lost == ["iso/held.iso"]
        assert ctx.index.get("iso/held.iso").state is FileState.HASHED
