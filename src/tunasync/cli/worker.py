"""`tunasync worker` (alias `w`): run a worker, or `--check` its config.

SIGHUP reloads the config (docs/compat.md §4.13); SIGINT/SIGTERM halt (docs/compat.md §4.12: running syncs are killed and reported,
then exit 0). `--pidfile` is accepted and unused, as in Go. `--prof-path DIR` must be an existing
directory (Go exits 1 otherwise); we write a cProfile dump `tunasync-worker.prof` there at exit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..tomlfile import Problem
    from ..worker.config_models import WorkerConfig
    from ..worker.worker import Worker

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


def _check(config_file: str, check_worker_config: Callable[[str], list[Problem]]) -> int:
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


async def _serve(cfg: WorkerConfig, tick: float) -> int:
    """Run the worker until a halt. SIGINT/SIGTERM are taken from the first moment: during start-up
    (waiting up to ~10 s for a manager that does not answer) they stop the start and exit 0 too."""
    from ..worker.worker import Worker

    worker = Worker(cfg, tick=tick)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # the task runs only from the first await below, so the handlers are in place before any start-up work
    started: asyncio.Task[None] = asyncio.create_task(worker.start(), name="worker start")
    loop.add_signal_handler(signal.SIGHUP, lambda: worker.spawn(worker.reload()) if started.done() else None)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({started, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not started.done():  # a signal while starting: no job has run yet
        log.info("stopped while starting")
        started.cancel()
        await asyncio.gather(started, return_exceptions=True)
        await worker.halt()
        return 0
    stopping.cancel()
    exc = started.exception()
    if isinstance(exc, OSError):
        log.error("Error intializing TUNA sync worker. %s", exc)
        await worker.client.close()
        return 1
    if exc is not None:
        raise exc
    log.info("worker %s started with %d mirror(s)", worker.name, len(worker.jobs))
    halt_on_signal = asyncio.create_task(_halt_on(stop, worker))
    await worker.done.wait()
    halt_on_signal.cancel()
    return 0


async def _halt_on(stop: asyncio.Event, worker: Worker) -> None:
    await stop.wait()
    await worker.halt()
