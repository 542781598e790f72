"""`tunasync serve`: mirror trees over HTTP; evicted files retrieved from Filecoin on demand.

    tunasync serve --root DIR [--listen 127.0.0.1:14301]            one plain tree at /
    tunasync serve -c worker.conf [--listen 127.0.0.1:14301]        every mirror at /<mirror>/, with retrieval

Policy flags (docs/serve.md): --retrieve-timeout, --range-fill/--no-range-fill, --range-fill-max,
--max-range-fills, --max-retrievals, --on-disconnect; connection limits: --max-connections,
--header-timeout, --keepalive-timeout.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..archive.runtime import ArchiveRuntime
    from ..archive.settings import ArchiveSetup
    from ..serve.app import Server
    from ..serve.policy import ServePolicy

log = logging.getLogger("tunasync.serve")

DEFAULT_LISTEN = "127.0.0.1:14301"


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT`, `[v6]:PORT` or `:PORT` (all interfaces) → (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r}: want HOST:PORT, e.g. {DEFAULT_LISTEN}")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return host or "0.0.0.0", int(port)


@click.command(name="serve", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", "root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Serve this one directory tree at / (no archive).")
@click.option("-c", "--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Serve every mirror of this worker config at /<mirror>/, retrieving evicted files.")
@click.option("--listen", default=DEFAULT_LISTEN, show_default=True, help="HOST:PORT to listen on (PORT 0: any).")
@click.option("--retrieve-timeout", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="Seconds a retrieval may go without a verified byte before it fails (504).")
@click.option("--range-fill/--no-range-fill", default=True, show_default=True,
              help="On a Range request for an evicted file, also retrieve the whole file into the cache.")
@click.option("--on-disconnect", type=click.Choice(["continue", "cancel"]), default="continue", show_default=True,
              help="When the last client of a retrieval disconnects: finish filling the cache, or stop.")
@click.option("--range-fill-max", "range_fill_max", default="64MiB", show_default=True, metavar="SIZE",
              help="No background fill (and no whole-file retrieval for a Range) of files bigger than this.")
@click.option("--max-range-fills", type=click.IntRange(min=0), default=4, show_default=True,
              help="Background fills running at once; past it a Range is answered without one.")
@click.option("--max-retrievals", type=click.IntRange(min=1), default=16, show_default=True,
              help="Network retrievals running at once; past it a request needing a new one gets 503.")
@click.option("--max-connections", type=click.IntRange(min=1), default=4096, show_default=True,
              help="Open connections at once (lowered to fit the open-file limit); at the cap the oldest "
                   "idle one is closed, or the new one refused.")
@click.option("--header-timeout", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="Seconds a new connection has to send its whole first request head.")
@click.option("--keepalive-timeout", type=click.FloatRange(min=0, min_open=True), default=75.0,
              show_default=True, help="Seconds an idle keep-alive connection stays open.")
@click.option("--ready-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write {\"url\": ...} here once listening.")
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO (each retrieval).")
@click.option("--debug", is_flag=True, help="Log at DEBUG.")
@click.option("--with-systemd", is_flag=True, help="Log lines without timestamps.")
def command(root: Path | None, config_file: Path | None, listen: str, retrieve_timeout: float, range_fill: bool,
            on_disconnect: str, range_fill_max: str, max_range_fills: int, max_retrievals: int,
            max_connections: int, header_timeout: float, keepalive_timeout: float, ready_file: Path | None,
            verbose: bool, debug: bool, with_systemd: bool) -> None:
    """Serve mirror trees over HTTP, retrieving evicted files on demand."""
    from ..httpguard import Limits, raise_open_files_limit
    from ..log import notice, setup_logging
    from ..serve.app import start
    from ..serve.policy import ServePolicy
    from ..sizes import parse_size

    if (root is None) == (config_file is None):
        raise click.UsageError("give exactly one of --root DIR or -c worker.conf")
    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    try:
        fill_max = parse_size(range_fill_max)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--range-fill-max") from None
    setup_logging(verbose=verbose, debug=debug, systemd=with_systemd)
    raise_open_files_limit()  # each client streaming a retrieval holds a socket and a file
    policy = ServePolicy(retrieve_timeout=retrieve_timeout, range_fill=range_fill, on_disconnect=on_disconnect,
                         range_fill_max=fill_max, max_range_fills=max_range_fills, max_retrievals=max_retrievals)
    limits = Limits(max_connections=max_connections, header_timeout=header_timeout,
                    keepalive_timeout=keepalive_timeout)
    roots: list[tuple[str, str]] = []
    setup: ArchiveSetup | None = None
    if root is not None:
        if not root.is_dir():
            raise click.BadParameter(f"{root} is not a directory", param_hint="--root")
    else:
        roots, setup = _config_mirrors(config_file)

    async def main() -> None:
        from ..archive.runtime import open_archive

        if setup is None:
            assert root is not None
            await serve(_server_for_root(root, policy))
            return
        # archive = true mirrors: the archive runtime (network, indexes) of the config, as the worker opens it
        async with open_archive(setup, http_settings=policy.http_settings()) as rt:
            await serve(_server_for_config(roots, rt if setup.mirrors else None, policy))

    async def serve(server: Server) -> None:
        trees = ", ".join(f"/{t}/" if t else "/" for t in server.trees)
        try:
            runner, bound = await start(server, host, port, limits)
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {listen}: {exc.strerror or exc}") from None
        url = f"http://{host if ':' not in host else f'[{host}]'}:{bound}"
        notice(log, "tunasync serve: %s at %s", trees, url)
        if ready_file is not None:
            tmp = ready_file.with_name(ready_file.name + ".tmp")
            tmp.write_text(json.dumps({"url": url, "port": bound, "trees": list(server.trees)}))
            tmp.replace(ready_file)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(main())


def _server_for_root(root: Path, policy: ServePolicy) -> Server:
    from ..serve.app import Server
    from ..serve.trees import tree_from_root

    return Server([tree_from_root(str(root))], mirrors=False, policy=policy)


def _config_mirrors(config_file: Path | None) -> tuple[list[tuple[str, str]], ArchiveSetup]:
    """Every mirror's (name, working dir) and the archive setup of the worker config."""
    from ..worker.archive_setup import archive_setup, mirror_roots
    from ..worker.config import load_worker_config

    assert config_file is not None
    try:
        cfg = load_worker_config(config_file)
        roots, setup = mirror_roots(cfg), archive_setup(cfg)
    except ConfigError as exc:
        raise click.ClickException(f"config: {exc}") from None
    if not roots:
        raise click.ClickException(f"{config_file}: no mirrors to serve")
    return roots, setup


def _server_for_config(roots: list[tuple[str, str]], rt: ArchiveRuntime | None, policy: ServePolicy) -> Server:
    from ..serve.app import Server
    from ..serve.retrieval import NetworkHandle
    from ..serve.trees import trees_from_mirrors

    trees = trees_from_mirrors(roots, rt)
    network = NetworkHandle.from_runtime(rt) if rt is not None else None
    return Server(trees, mirrors=True, policy=policy, network=network)
