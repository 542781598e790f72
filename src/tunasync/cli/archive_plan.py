"""`tunasync archive plan -c worker.conf MIRROR [--keep-years N] [--copies n] [--price-tib-year X] [--scan]
[--json]`: what eviction would free now and over the years, the storing ahead, and its cost."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from ..errors import TunasyncError

BAR = 40  # width of the bytes-by-age chart


def _size(n: int) -> str:
    x = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if x < 1024 or unit == "PiB":
            return f"{x:.0f} {unit}" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1024
    return str(x)


def _money(x: float) -> str:
    return f"{x:,.2f}" if x >= 0.01 or x == 0 else "less than 0.01"


def chart(by_age: dict[str, dict[str, int]], due_before: int) -> list[str]:
    """Bytes on disk by year of mtime, one bar per year; `*` marks years already past keep_years."""
    if not by_age:
        return []
    top = max(v["bytes"] for v in by_age.values()) or 1
    lines = []
    for year, v in by_age.items():
        n = max(1, round(BAR * v["bytes"] / top)) if v["bytes"] else 0
        mark = "*" if int(year) < due_before else " "
        lines.append(f"{year}{mark} {'█' * n}{' ' * (BAR - n)} {_size(v['bytes'])} ({v['files']:,} files)")
    return lines


def add_to(group: click.Group) -> None:
    @group.command("plan")
    @click.option("-c", "--config", "config", required=True, type=click.Path(dir_okay=False, path_type=Path),
                  help="Worker TOML config (its [archive] section and archived mirrors).")
    @click.option("--keep-years", type=float, help="What if files stayed on disk N years (default: the config's).")
    @click.option("--copies", type=int, help="What if n copies were wanted (default: the config's).")
    @click.option("--price-tib-year", type=float,
                  help="Storage price per TiB per year (default: [archive] price_per_tib_year; none: no cost).")
    @click.option("--scan", "rescan", is_flag=True, help="Scan the mirror first (updates the index like a sync would).")
    @click.option("--json", "as_json", is_flag=True)
    @click.argument("mirror")
    def plan_cmd(config: Path, keep_years: float | None, copies: int | None, price_tib_year: float | None,
                 rescan: bool, as_json: bool, mirror: str) -> None:
        """What eviction would free now and over the next years, the storing it needs, and its cost."""
        from ..archive.index import ArchiveIndex
        from ..archive.plan import make_plan
        from .archive import _setup

        setup = _setup(config, mirror)
        (ms,) = setup.mirrors
        try:
            policy = ms.policy
            if keep_years is not None:
                policy = replace(policy, keep_years=keep_years)
            if copies is not None:
                policy = replace(policy, copies=copies)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        price = price_tib_year if price_tib_year is not None else setup.section.price_per_tib_year
        if price is not None and price < 0:
            raise click.BadParameter("must not be negative", param_hint="--price-tib-year")
        if rescan:
            _scan(config, mirror)
        ms.ensure_dirs()
        index = ArchiveIndex(ms.index_path)
        try:
            plan = make_plan(index, ms.name, policy, ms.bundle_size, price_per_tib_year=price)
        except TunasyncError as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            index.close()
        data = plan.to_json()
        if as_json:
            click.echo(json.dumps(data, indent=1))
            return
        _show(data, sys.stdout.isatty())


def _scan(config: Path, mirror: str) -> None:
    from ..archive import pipeline
    from .archive import _bars, _ctx, _setup

    setup = _setup(config, mirror)

    async def main() -> None:
        async with _ctx(setup, False, _bars()) as ctx:
            with pipeline.MirrorLock(ctx):
                report = pipeline.RunReport()
                await pipeline.scan_and_hash(ctx, report)

    try:
        asyncio.run(main())
    except TunasyncError as exc:
        raise click.ClickException(str(exc)) from None


def _show(d: dict[str, Any], tty: bool) -> None:
    def fb(t: dict[str, int]) -> str:
        return f"{t['files']:,} files, {_size(t['bytes'])}"

    rows = [
        ("policy", f"keep {d['keep_years']:g} year(s) on disk, {d['copies']} verified copies"),
        ("mirror now", f"{fb(d['total'])}: {fb(d['on_disk'])} on disk, {fb(d['evicted'])} evicted"),
        ("evict frees now", fb(d["evict_now"])),
        ("due, not stored yet", fb(d["due_not_stored"])),
        ("held n times by others", fb(d["held_by_network"]) + " (never stored by us)"),
        ("stored (n copies)", fb(d["stored"])),
        ("packed, short of n copies", fb(d["storing"])),
        ("still to store", f"{fb(d['to_store'])}: {d['bundles']} new bundle(s) of {_size(d['bundle_size'])}, "
                           f"{d['deals']} deal(s)"),
        ("on Filecoin when done", f"{d['tib_on_filecoin']:.4f} TiB (padded pieces × {d['copies']} copies)"),
        ("cost", f"{_money(d['cost_per_year'])} per year at {d['price_per_tib_year']:g} per TiB-year"
         if d["cost_per_year"] is not None else "no price given (--price-tib-year or [archive] price_per_tib_year)"),
    ]
    rows += [(f"becomes due in {y}", fb(t)) for y, t in d["by_due_year"].items()]
    due_before = int(d["now"][:4]) - int(d["keep_years"])
    lines = chart(d["by_age"], due_before)
    if tty:
        from rich.table import Table

        from .archive_view import console

        t = Table(title=f"archive plan of {d['mirror']}", show_header=False)
        t.add_column(style="bold")
        t.add_column()
        for k, v in rows:
            t.add_row(k, v)
        con = console()
        con.print(t)
        if lines:
            con.print("bytes on disk by year of mtime (* = older than keep_years)", style="bold")
            for ln in lines:
                con.print(ln, highlight=False)
    else:
        for k, v in rows:
            click.echo(f"{k}: {v}")
        if lines:
            click.echo("bytes on disk by year of mtime (* = older than keep_years):")
            for ln in lines:
                click.echo(ln)
