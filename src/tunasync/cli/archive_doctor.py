"""`tunasync archive doctor -c worker.conf [--json]`: live checks of every archive endpoint, in words.

Exit status 0 only when no check failed (a skipped check is not a failure); `--json` prints
`{"ok": bool, "checks": [{"name", "ok", "detail", "fix"}]}` for monitoring.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click

from ..errors import TunasyncError

MARK = {True: "[green]ok[/]", False: "[red]FAIL[/]", None: "[yellow]skip[/]"}
PLAIN = {True: "ok", False: "FAIL", None: "skip"}


def add_to(group: click.Group) -> None:
    @group.command("doctor")
    @click.option("-c", "--config", "config", required=True, type=click.Path(dir_okay=False, path_type=Path),
                  help="Worker TOML config (its [archive] section and archived mirrors).")
    @click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
    def doctor_cmd(config: Path, as_json: bool) -> None:
        """Check Lotus, IPNI, Singularity, gateways, piece_url, providers, disk and indexes live."""
        from ..archive import doctor
        from .archive import _setup

        setup = _setup(config, None)
        try:
            checks = asyncio.run(doctor.run(setup))
        except TunasyncError as exc:
            raise click.ClickException(str(exc)) from None
        bad = doctor.failed(checks)
        if as_json:
            click.echo(json.dumps({"ok": not bad, "checks": [c.to_json() for c in checks]}, indent=1))
        elif sys.stdout.isatty():
            from rich.table import Table

            from .archive_view import console

            t = Table(title=f"archive doctor: {config}", show_lines=False)
            for col in ("check", "", "what we found", "what to do"):
                t.add_column(col, overflow="fold")
            for c in checks:
                t.add_row(c.name, MARK[c.ok], c.detail, c.fix)
            console().print(t)
        else:
            for c in checks:
                click.echo(f"{PLAIN[c.ok]:4}  {c.name}: {c.detail}" + (f"\n      fix: {c.fix}" if c.fix else ""))
        if bad:
            if not as_json:
                click.echo(f"{len(bad)} check(s) failed: {', '.join(c.name for c in bad)}", err=True)
            sys.exit(1)
