"""`tunasync worker` (alias `w`): run a worker, or `--check` its config.

SIGHUP reloads the config (§4.13); SIGINT/SIGTERM halt (§4.12: running syncs are killed and reported,
then exit 0). `--pidfile` is accepted and unused, as in Go. `--prof-path DIR` must be an existing
directory (Go exits 1 otherwise); we write a cProfile dump `tunasync-worker.prof` there at exit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import click

from ..errors import ConfigError

log = logging.getLogger("tunasync.worker")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "-c", "config_file", default="", help="Worker TOML config file.")
@click.option("--verbose", "-v", is_flag=True, help="Log at INFO.")
@click.option("--debug", is_flag=True, help="Log at DEBUG with source positions.")
@click.option("--with-systemd", is_flag=True, help="Log lines without timestamps.")
@click.option("--pidfile", default="/run/tunasync/tunasync.worker.pid", help="Accepted for Go compatibility; unused.")
@click.option("--prof-path", default="", help="Existing directory for a profile dump written at exit.")
@click.option("--check", is_flag=True, help="Print every problem of the config (file, key, reason); exit 1 on errors. Warnings (unknown keys, "
              "secrets others can read, a control port beyond loopback without a token) keep exit 0.")
@click.option("--tick", type=float, default=5.0, hidden=True, help="Scheduling tick in seconds (tests).")
def command(config_file: str, verbose: bool, debug: bool, with_systemd: bool, pidfile: str, prof_path: str,
            check: bool, tick: float) -> None:
    """Start a tunasync worker (runs the mirror jobs)."""
    from ..log import setup_logging
    from ..worker.config import check_worker_config, load_worker_config

    if check:
        sys.exit(_check(config_file, check_worker_config))
    setup_logging(verbose=verbose, debug=debug, systemd=with_systemd)
    if prof_path and not os.path.isdir(prof_path):
        click.echo(f"Error: --prof-path {prof_path} is not a directory", err=True)
        sys.exit(1)
    if not config_file or not os.path.exists(config_file):
        click.echo(f"Error loading config: cannot stat config file {config_file!r}", err=True)
        sys.exit(1)
    try:
        cfg = load_worker_config(config_file)
    except ConfigError as exc:
        click.echo(f"Error loading config: {exc}", err=True)
        sys.exit(1)
    profiler = None
    if prof_path:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        code = asyncio.run(_serve(cfg, tick))
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(os.path.join(prof_path, "tunasync-worker.prof"))
    sys.exit(code)


def _check(config_file: str, check_worker_config) -> int:  # type: ignore[no-untyped-def]
    if not config_file:
        click.echo("error: no config file given (-c FILE)")
        return 1
    problems = check_worker_config(config_file)
    for p in problems:
        click.echo(str(p))
    errors = sum(1 for p in problems if p.level == "error")
    warnings = len(problems) - errors
    click.echo(f"{config_file}: {errors} error(s), {warnings} warning(s)")
    return 1 if errors else 0


async def _serve(cfg, tick: float) -> int:  # type: ignore[no-untyped-def]
    from ..worker.worker import Worker

    worker = Worker(cfg, tick=tick)
    try:
        await worker.start()
    except OSError as exc:
        log.error("Error intializing TUNA sync worker. %s", exc)
        await worker.client.close()
        return 1
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, lambda: worker.spawn(worker.reload()))
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: worker.spawn(worker.halt()))
    log.info("worker %s started with %d mirror(s)", worker.name, len(worker.jobs))
    await worker.done.wait()
    return 0
