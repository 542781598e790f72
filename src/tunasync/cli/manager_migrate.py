"""`tunasync manager migrate --from-bolt manager.db [-c manager.conf]`: import a Go manager's database."""

from __future__ import annotations

import asyncio

import click

from ..errors import TunasyncError


@click.command("migrate")
@click.option("--from-bolt", "from_bolt", required=True, metavar="FILE",
              help="The Go manager's bolt database (stop the Go manager first).")
@click.option("--config", "-c", "config", default=None, metavar="FILE", help="Manager config naming the target database.")
@click.option("--db-file", default="", help="Override [files] db_file.")
@click.option("--db-type", default="", help="Override [files] db_type.")
@click.option("--dry-run", is_flag=True, help="Read and check the Go database, import nothing.")
def command(from_bolt: str, config: str | None, db_file: str, db_type: str, dry_run: bool) -> None:
    """Import workers and mirror statuses from a Go tunasync bolt database (all or nothing)."""
    from ..manager.config import CliOverrides, load_config
    from ..manager.migrate import migrate

    try:
        cfg = load_config(config, CliOverrides(db_file=db_file, db_type=db_type))
        report = asyncio.run(migrate(cfg, from_bolt, dry_run=dry_run, progress=click.echo))
    except (TunasyncError, OSError) as exc:
        raise click.ClickException(f"migration failed, nothing imported: {exc}") from exc
    for line in report.notes:
        click.echo(f"note: {line}")
    for line in report.skipped:
        click.echo(f"skipped: {line}")
    verb = "Would import" if dry_run else "Imported"
    click.echo(f"{verb} {report.workers} workers and {report.statuses} mirror statuses into {report.target}"
               + (f" ({len(report.skipped)} records skipped)" if report.skipped else ""))
    if report.backup:
        click.echo(f"The Go database was kept as {report.backup}")
