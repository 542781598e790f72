"""`tunasync devnet`: the local Filecoin network (chain RPC, IPNI, Singularity REST, storage providers)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click


@click.command(name="devnet")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("devnet-data"),
              show_default=True, help="State directory (SQLite chain + provider storage); a restart continues it.")
@click.option("--listen", "host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=int, default=14300, show_default=True, help="Main port (0 = any free port).")
@click.option("--provider-port", type=int, default=None,
              help="First provider port (default: PORT+10, i.e. 14310; 0 = any free ports).")
@click.option("--providers", type=click.IntRange(1, 100), default=3, show_default=True, help="Storage providers.")
@click.option("--provider-kind", "provider_kind", default="curio", show_default=True, metavar="KIND[,KIND...]",
              help="Whose habits each provider has: curio, boost or bitswap-only; a list applies in provider "
                   "order, the last one repeating (e.g. curio,boost,bitswap-only).")
@click.option("--epoch-seconds", type=click.FloatRange(0.01), default=0.2, show_default=True,
              help="Wall-clock seconds per epoch (mainnet: 30).")
@click.option("--seal-delay", type=click.IntRange(0), default=2, show_default=True,
              help="Epochs from deal publication to sector start.")
@click.option("--fault", "faults", multiple=True, metavar="PROVIDER:KIND[=VALUE]",
              help="Start with a fault, e.g. f01001:corrupt, f01002:slow=0.5, rpc:malformed (repeatable).")
@click.option("--scale", "scale", type=click.Choice(["devnet", "mainnet"]), default="devnet", show_default=True,
              help="mainnet: 5,000 miners on chain (only the --providers first listen), 1,000,000 deals, "
                   "100,000 claims per listening provider, StateMarketDeals refused as by a Lotus gateway.")
@click.option("--token", default=None, help="Require this bearer token on /rpc/v1.")
@click.option("--ready-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the endpoints as JSON here once listening.")
@click.option("-v", "--verbose", is_flag=True, help="Log deal state changes.")
def command(data_dir: Path, host: str, port: int, provider_port: int | None, providers: int, provider_kind: str,
            epoch_seconds: float, seal_delay: int, faults: tuple[str, ...], scale: str, token: str | None,
            ready_file: Path | None, verbose: bool) -> None:
    """Run the local Filecoin devnet until interrupted."""
    from ..filecoin.devnet.context import PROVIDER_KINDS
    from ..filecoin.devnet.faults import parse_flag
    from ..filecoin.devnet.market import MarketParams
    from ..filecoin.devnet.scale import parse_scale
    from ..filecoin.devnet.server import DevnetOptions, DevnetServer, endpoints_text
    from ..log import setup_logging

    setup_logging(verbose, False, False)
    try:
        parsed = [parse_flag(f) for f in faults]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--fault") from None
    kinds = [k.strip() for k in provider_kind.split(",")]
    for k in kinds:
        if k not in PROVIDER_KINDS:
            raise click.BadParameter(f"{k!r} is not one of {', '.join(PROVIDER_KINDS)}", param_hint="--provider-kind")
    opts = DevnetOptions(data_dir=data_dir, host=host, port=port, provider_base_port=provider_port,
                         providers=providers, epoch_seconds=epoch_seconds, faults=parsed,
                         params=MarketParams(seal_delay=seal_delay), token=token, scale=parse_scale(scale),
                         provider_kinds=kinds)

    async def main() -> None:
        server = DevnetServer(opts)
        try:
            await server.start()
        except OSError as exc:
            await server.stop()
            raise click.ClickException(f"cannot listen: {exc}") from None
        click.echo(endpoints_text(server.info()), nl=True)
        if ready_file is not None:
            server.write_ready_file(ready_file)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await server.stop()

    asyncio.run(main())
