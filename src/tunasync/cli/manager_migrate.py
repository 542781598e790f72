"""`tunasync manager migrate --from-bolt manager.db [-c manager.conf]`: import a Go manager's database."""

from __future__ import annotations

import asyncio

import click

from ..errors import TunasyncError


@click.command("migrate")
@click.option("--from-bolt", "from_bolt", default=None, metavar="FILE",
              help="The Go manager's bolt database (stop the Go manager first).")
@click.option("--from-url", "from_url", default=None, metavar="URL",
              help="Or a running Go manager's base URL (exports GET /workers and each worker's jobs).")
@click.option("--config", "-c", "config", default=None, metavar="FILE", help="Manager config naming the target database.")
@click.option("--db-file", default="", help="Override [files] db_file.")
@click.option("--db-type", default="", help="Override [files] db_type.")
@click.option("--dry-run", is_flag=True, help="Read and check the Go database, import nothing.")
def command(from_bolt: str | None, from_url: str | None, config: str | None, db_file: str, db_type: str,
            dry_run: bool) -> None:
    """Import workers and mirror statuses from a Go tunasync manager (all or nothing)."""
    from ..manager.config import CliOverrides, load_config
    from ..manager.migrate import migrate

    if bool(from_bolt) == bool(from_url):
        raise click.UsageError("give exactly one of --from-bolt FILE and --from-url URL")
    try:
        cfg = load_config(config, CliOverrides(db_file=db_file, db_type=db_type))
        report = asyncio.run(migrate(cfg, from_bolt or from_url or "", dry_run=dry_run, progress=click.echo,
                                     from_url=bool(from_url)))
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
