"""`tunasync archive {status,scan,store,evict,repair,ls} -c worker.conf [MIRROR]`: the archive tier of a
worker's mirrors, by hand. The worker runs the same steps after each successful sync; a command that
changes the archive refuses while the worker (or another command) is working on that mirror.

Exit status: 0 done; 1 when a step reported problems (hash errors, unrecoverable pieces) or failed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..errors import TunasyncError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from ..archive.context import ArchiveCtx
    from ..archive.settings import ArchiveSetup

T = TypeVar("T")


def _config_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-c", "--config", "config", required=True, type=click.Path(dir_okay=False, path_type=Path),
                        help="Worker TOML config (its [archive] section and archived mirrors).")(f)


def _run(fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(fn())
    except TunasyncError as exc:
        raise click.ClickException(str(exc)) from None


def _setup(config: Path, name: str | None) -> ArchiveSetup:
    """The config's archive setup, narrowed to mirror `name` when given (an error when it is not archived)."""
    import logging

    from ..archive.settings import ArchiveSetup
    from ..worker.archive_setup import archive_setup, find_mirror
    from ..worker.config import load_worker_config

    # warnings about running the worker (no manager URL, port 0, ...) are `tunasync worker --check`'s
    logging.getLogger("tunasync.worker.config").setLevel(logging.ERROR)
    try:
        cfg = load_worker_config(config)
        setup = ArchiveSetup(cfg.archive, (find_mirror(cfg, name),), cfg.path) if name else archive_setup(cfg)
    except TunasyncError as exc:
        raise click.ClickException(str(exc)) from None
    if not setup.mirrors:
        raise click.ClickException(f"{config}: no mirror has archive = true")
    return setup


@asynccontextmanager
async def _ctx(setup: ArchiveSetup, network: bool, bars: Any) -> AsyncIterator[ArchiveCtx]:
    """One run of the setup's mirror on the archive runtime (network and, without [archive] piece_url,
    the loopback piece server, as the worker has them)."""
    from ..archive.context import no_progress
    from ..archive.crash import from_env
    from ..archive.runtime import open_archive

    (ms,) = setup.mirrors
    try:
        # TUNASYNC_ARCHIVE_CRASH=point[:n] makes the command SIGKILL itself there (the kill -9 tests)
        async with open_archive(setup, crash=from_env()) as rt, \
                rt.run(ms.name, network=network, progress=bars or no_progress) as ctx:
            yield ctx
    finally:
        if bars is not None:
            bars.stop()


def _bars() -> Any:
    from .archive_view import StepBars

    return StepBars(sys.stderr.isatty())


def _emit(as_json: bool, data: Any, lines: list[str]) -> None:
    if as_json:
        # written as it is encoded: an eviction's report lists every file, and one string of it all
        # would be the command's largest allocation
        out = sys.stdout
        buf: list[str] = []
        for chunk in json.JSONEncoder(indent=1, default=str).iterencode(data):
            buf.append(chunk)
            if len(buf) >= 8192:
                out.write("".join(buf))
                buf.clear()
        buf.append("\n")
        out.write("".join(buf))
        out.flush()
    else:
        for line in lines:
            click.echo(line)


@click.group(name="archive")
def command() -> None:
    """Inspect and drive the Filecoin archive tier of a worker's mirrors."""


@command.command("status")
@_config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the figures the manager's /archive shows).")
@click.argument("mirror", required=False)
def status_cmd(config: Path, as_json: bool, mirror: str | None) -> None:
    """Files and bytes per state, copies per piece, bundles and the next evictions of each mirror."""
    # a read of counters: no network, store or rich (unless printing tables) on this path
    from ..archive.index import ArchiveIndex
    from ..archive.status import PROBLEM_KEY, figures, next_evictions

    out = {}
    for ms in _setup(config, mirror).mirrors:
        index = ArchiveIndex(ms.index_path)
        try:
            out[ms.name] = {**figures(index, ms.policy), "next": next_evictions(index, ms.policy),
                            "store_problem": index.get_meta(PROBLEM_KEY) or None}
        finally:
            index.close()
    if as_json:
        click.echo(json.dumps(out if mirror is None else out[mirror], indent=1))
        return
    from .archive_view import console, status_tables

    con = console()
    for name, figs in out.items():
        for table in status_tables(name, figs, figs["next"]):
            con.print(table)
        if figs.get("store_problem"):
            con.print(f"[red]the last store gave up:[/] {figs['store_problem']}", highlight=False)


@command.command("scan")
@_config_option
@click.option("--dry-run", is_flag=True, help="Only report what changed; record and hash nothing.")
@click.option("--json", "as_json", is_flag=True)
@click.argument("mirror")
def scan_cmd(config: Path, dry_run: bool, as_json: bool, mirror: str) -> None:
    """Scan the mirror tree and hash new or changed files (CIDs into the index)."""
    from ..archive import pipeline
    from ..archive.scan import scan

    setup = _setup(config, mirror)
    (ms,) = setup.mirrors

    async def main() -> dict[str, Any]:
        async with _ctx(setup, False, _bars()) as ctx:
            if dry_run:
                r = await ctx.to_thread(scan, ms.root, ctx.index, False)
                return {"files": r.files, "bytes": r.bytes, "changed": len(r.changed), "deleted": len(r.deleted)}
            report = pipeline.RunReport()
            with pipeline.MirrorLock(ctx):
                report.recovered = await ctx.to_thread(pipeline.recover, ctx)
                await pipeline.scan_and_hash(ctx, report)
            s = report.summary()
            s["errors"] = report.hashed.errors if report.hashed else []
            return s

    res = _run(main)
    errors = res.pop("errors", [])
    _emit(as_json, {**res, "errors": errors}, [f"{'would ' if dry_run else ''}" + ", ".join(
        f"{k} {v}" for k, v in res.items() if v or k in ("scanned", "files", "changed"))] + [f"error: {p}: {why}" for p, why in errors])
    if errors:
        sys.exit(1)


@command.command("store")
@_config_option
@click.option("--dry-run", is_flag=True, help="Show what would be packed and offered; change nothing.")
@click.option("--wait", type=float, default=600.0, show_default=True,
              help="Seconds to wait for deals to become verified copies (0: offer and return).")
@click.option("--poll", type=float, default=2.0, hidden=True, help="Seconds between chain checks while waiting.")
@click.option("--json", "as_json", is_flag=True)
@click.argument("mirror")
def store_cmd(config: Path, dry_run: bool, wait: float, poll: float, as_json: bool, mirror: str) -> None:
    """Scan, hash, skip what the network already holds n times, pack the rest and store it until n
    providers hold verified copies."""
    from ..archive import pipeline, store
    from ..archive.bundles import planned_spans

    setup = _setup(config, mirror)
    (ms,) = setup.mirrors

    async def main() -> dict[str, Any]:
        async with _ctx(setup, not dry_run, _bars()) as ctx:
            if dry_run:
                groups = await ctx.to_thread(planned_spans, ctx.index, ms.bundle_size)
                open_ = [b for s in store.OPEN_STATES for b in ctx.index.bundles(s)]
                return {"would_pack": [{"files": g.files, "bytes": g.bytes} for g in groups],
                        "open_bundles": [{"id": b.id, "state": b.state, "piece": b.piece_cid,
                                          "copies": ctx.index.verified_copies(b.piece_cid or "")} for b in open_]}
            report = pipeline.RunReport()
            with pipeline.MirrorLock(ctx):
                report.recovered = await ctx.to_thread(pipeline.recover, ctx)
                await pipeline.scan_and_hash(ctx, report)
                await pipeline.find_foreign(ctx, report)
                report.store = await store.store(ctx, wait=wait, poll=poll)
                await ctx.to_thread(pipeline.write_exclude, ctx)
            return {**report.summary(), "waiting": {str(k): v for k, v in report.store.waiting.items()},
                    "failures": [f.to_json() for f in report.store.failures],
                    "gave_up": {str(k): v for k, v in report.store.gave_up.items()}}

    t0 = time.monotonic()

    res = _run(main)
    if "seconds" in res:
        res["seconds"] = round(time.monotonic() - t0, 3)
    lines = [", ".join(f"{k} {v}" for k, v in res.items()
                       if v and not isinstance(v, dict | list) and k != "store_problem")]
    lines += [f"bundle {k}: {v}" for k, v in res.get("waiting", {}).items()]
    lines += [f"would pack {g['files']} file(s), {g['bytes']} B" for g in res.get("would_pack", [])]
    lines += [f"bundle {b['id']} {b['state']}: {b['copies']} copies" for b in res.get("open_bundles", [])]
    _emit(as_json, res, lines)
    if res.get("gave_up"):
        # every provider failed a bundle: waiting longer cannot help; say why and fail
        raise click.ClickException(f"storing {mirror} gave up on {len(res['gave_up'])} bundle(s): "
                                   f"{res.get('store_problem') or next(iter(res['gave_up'].values()))}")


@command.command("evict")
@_config_option
@click.option("--dry-run", is_flag=True, help="Check copies and list what would leave the disk; delete nothing.")
@click.option("--json", "as_json", is_flag=True)
@click.argument("mirror")
def evict_cmd(config: Path, dry_run: bool, as_json: bool, mirror: str) -> None:
    """Remove files older than keep_years whose copies are verified (after a verified test retrieval)."""
    from ..archive import pipeline
    from ..archive.evictor import evict_due

    setup = _setup(config, mirror)
    (ms,) = setup.mirrors

    async def main() -> Any:
        async with _ctx(setup, True, _bars()) as ctx:
            if dry_run:
                return await evict_due(ctx, dry_run=True)
            with pipeline.MirrorLock(ctx):
                await ctx.to_thread(pipeline.recover, ctx)
                rep = await evict_due(ctx)
                await ctx.to_thread(pipeline.write_exclude, ctx)
                return rep

    rep = _run(main)
    paths = rep.would_evict if dry_run else rep.evicted
    reasons: dict[str, int] = {}
    for why in rep.kept.values():
        reasons[why.split(" (")[0]] = reasons.get(why.split(" (")[0], 0) + 1
    verb = "would evict" if dry_run else "evicted"
    _emit(as_json, {verb.replace(" ", "_"): paths, "bytes": rep.bytes, "kept": rep.kept, "deferred": rep.deferred},
          [f"{verb} {len(paths)} file(s), {rep.bytes} B"] + [f"  {p}" for p in paths]
          + [f"kept {n}: {why}" for why, n in sorted(reasons.items())])


@command.command("repair")
@_config_option
@click.option("--dry-run", is_flag=True, help="Only check copies on chain; offer nothing.")
@click.option("--wait", type=float, default=600.0, show_default=True,
              help="Seconds to wait for the new deals to become verified copies.")
@click.option("--poll", type=float, default=2.0, hidden=True, help="Seconds between chain checks while waiting.")
@click.option("--json", "as_json", is_flag=True)
@click.argument("mirror")
def repair_cmd(config: Path, dry_run: bool, wait: float, poll: float, as_json: bool, mirror: str) -> None:
    """Check every stored piece on chain; store again those with fewer than n verified copies."""
    from ..archive import pipeline, store
    from ..archive.repair import repair

    setup = _setup(config, mirror)
    (ms,) = setup.mirrors

    async def main() -> Any:
        async with _ctx(setup, True, _bars()) as ctx:
            if dry_run:
                return await repair(ctx, dry_run=True)
            with pipeline.MirrorLock(ctx):
                await ctx.to_thread(pipeline.recover, ctx)
                rep = await repair(ctx)
                if rep.degraded and wait > 0:
                    await store.store(ctx, wait=wait, poll=poll)
                return rep

    rep = _run(main)
    data = {"checked": rep.checked, "degraded": rep.degraded, "rebuilt": rep.rebuilt,
            "unrecoverable": rep.unrecoverable, "foreign_lost": rep.foreign_lost}
    _emit(as_json, data, [f"checked {rep.checked} piece(s); {len(rep.degraded)} below the wanted copies"]
          + [f"  bundle {b}: {n} copies" for b, n in rep.degraded.items()]
          + [f"  bundle {b}: UNRECOVERABLE: {why}" for b, why in rep.unrecoverable.items()])
    if rep.unrecoverable:
        sys.exit(1)


@command.command("ls")
@_config_option
@click.option("--json", "as_json", is_flag=True)
@click.option("--all", "show_deleted", is_flag=True, help="Also list files upstream deleted.")
@click.argument("mirror")
@click.argument("path", required=False, default="")
def ls_cmd(config: Path, as_json: bool, show_deleted: bool, mirror: str, path: str) -> None:
    """State, CID and verified copies of each file under PATH."""
    from ..archive.index import ArchiveIndex

    setup = _setup(config, mirror)
    (ms,) = setup.mirrors
    index = ArchiveIndex(ms.index_path)
    try:
        prefix = path.strip("/")
        rows = []
        bundle_piece = {b.id: b.piece_cid for b in index.bundles()}
        bundle_copies: dict[int, int] = {}  # one count per bundle, not one query per file
        for rec in index.files_under(prefix, include_deleted=show_deleted):
            if rec.bundle_id is not None:
                if rec.bundle_id not in bundle_copies:
                    bundle_copies[rec.bundle_id] = index.verified_copies(bundle_piece.get(rec.bundle_id) or "")
                copies: int | None = bundle_copies[rec.bundle_id]
            else:
                f = index.foreign(rec.cid) if rec.cid else None
                copies = f[0] if f else None
            rows.append({"path": rec.path, "state": rec.state.value, "size": rec.size, "mtime_ns": rec.mtime_ns,
                         "cid": rec.cid, "bundle": rec.bundle_id, "copies": copies, "deleted": rec.deleted})
    finally:
        index.close()
    if as_json:
        click.echo(json.dumps(rows, indent=1))
    elif rows and sys.stdout.isatty():
        from .archive_view import console, files_table

        console().print(files_table(rows))
    elif rows:  # plain columns for pipes and scripts
        for r in rows:
            n = "-" if r["copies"] is None else str(r["copies"])
            state = f"{r['state']}{'(deleted)' if r['deleted'] else ''}"
            click.echo(f"{state}\t{n}\t{r['size']}\t{r['cid'] or '-'}\t{r['path']}")
    else:
        click.echo(f"no indexed file under {path or '/'} in {mirror}")


def _add_extras() -> None:
    from . import archive_doctor, archive_plan

    archive_doctor.add_to(command)
    archive_plan.add_to(command)


_add_extras()
