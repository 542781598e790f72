"""`tunasync filecoin {copies,fetch}`: ask the network (a devnet URL, or the endpoints of a worker's
`[archive]` section) how many verified copies a CID has, or fetch it with full verification."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..errors import TunasyncError

if TYPE_CHECKING:
    from ..archive.config import ArchiveConfig
    from ..filecoin.interfaces import FetchResult, FilecoinNetwork

T = TypeVar("T")


def _network_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("-c", "--config", "config", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Worker config: use the endpoints of its [archive] section.")(f)
    f = click.option("--network", "network", default=None, metavar="URL",
                     help="URL of a tunasync devnet (default http://127.0.0.1:14300 when no -c).")(f)
    f = click.option("--timeout", type=float, default=10.0, show_default=True,
                     help="Seconds a silent peer may cost before the next one is tried.")(f)
    return f


async def _open(network: str | None, config: Path | None, peer_timeout: float) -> FilecoinNetwork:
    from ..archive.runtime import open_network
    from ..filecoin.http import HttpSettings
    from ..filecoin.network import DEFAULT_DEVNET_URL, open_devnet

    settings = HttpSettings(connect_timeout=min(5.0, peer_timeout), read_timeout=peer_timeout, retries=2)
    if network and config:
        raise click.UsageError("give --network or -c, not both")
    if config is not None:
        return await open_network(_archive_section(config), file=str(config), settings=settings)
    return await open_devnet(network or DEFAULT_DEVNET_URL, settings)


def _archive_section(config: Path) -> ArchiveConfig:
    """The validated `[archive]` section of a worker config (the worker's loader: errors name file and key)."""
    import logging

    from ..worker.config import load_worker_config

    logging.getLogger("tunasync.worker.config").setLevel(logging.ERROR)  # worker-only warnings
    return load_worker_config(config).archive


def _configured_providers(config: Path | None) -> list[str]:
    """`[archive] providers` of a worker config (their DDO claims are checked), [] without -c."""
    if config is None:
        return []
    try:
        return list(_archive_section(config).providers)
    except TunasyncError as exc:
        raise click.ClickException(str(exc)) from None


def _run(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(coro_fn())
    except TunasyncError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(name="filecoin")
def command() -> None:
    """Ask the Filecoin network (or the devnet) about copies; fetch content by CID."""


@command.command("copies")
@_network_options
@click.option("--size", "padded_size", type=int, default=None, help="Padded piece size, for a v1 piece CID.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.argument("cid")
def copies_cmd(network: str | None, config: Path | None, timeout: float, padded_size: int | None, as_json: bool,
               cid: str) -> None:
    """Print the number of verified copies of CID (a file CID or a piece CID) and the providers.

    With -c, the DDO claims of the config's `[archive] providers` are checked too (each provider's claim
    list is fetched once; its size is reported)."""
    from ..content.cid import CID
    from ..filecoin import census

    try:
        target = CID.decode(cid)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="CID") from None
    configured = _configured_providers(config)
    claim_lists: dict[str, dict[str, float]] = {}

    async def main() -> list[census.PieceCopies]:
        net = await _open(network, config, timeout)
        try:
            if census.is_piece_cid(target):
                return await census.piece_copies(net, target, padded_size, providers=configured)
            return await census.file_copies(net, target, providers=configured or None)
        finally:
            claim_lists.update(net.chain.claim_lists)
            await net.close()

    results = _run(main)
    providers = census.total_providers(results)
    notes = sorted({n for r in results for n in r.notes})
    if as_json:
        click.echo(json.dumps({"cid": str(target), "copies": len(providers), "providers": providers, "pieces": [
            {"pieceCid": str(r.piece_cid), "paddedSize": r.padded_size, "epoch": r.report.epoch,
             "providers": r.report.providers, "ipniPeers": r.peers, "unmappedPeers": r.unmapped,
             "details": [{"provider": d.provider, "kind": d.kind, "id": d.ident, "counted": d.counted,
                          "reason": d.reason} for d in r.report.details]} for r in results],
            "claimLists": claim_lists, "notes": notes}, indent=1))
        return
    for n in notes:
        click.echo(f"note: {n}", err=True)
    for prov, st in sorted(claim_lists.items()):
        click.echo(f"claim list of {prov}: {int(st['claims'])} claims, {int(st['bytes'])} bytes, "
                   f"{st['seconds']:.2f} s", err=True)
    click.echo(f"{len(providers)} verified copies of {target}" + (f": {' '.join(providers)}" if providers else ""))
    for r in results:
        click.echo(f"  piece {r.piece_cid} ({r.padded_size} B) at epoch {r.report.epoch}: "
                   f"{r.report.count} provider(s)")
        for d in r.report.details:
            click.echo(f"    {'+' if d.counted else '-'} {d.provider} {d.kind} {d.ident}: {d.reason}")
        for peer, actor in sorted(r.peers.items()):
            click.echo(f"    = IPNI peer {peer} is {actor}")
        for peer in r.unmapped:
            click.echo(f"    ? IPNI peer {peer} announces it but is tied to no miner (not counted)")


def _parse_range(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    a, sep, b = text.partition("-")
    try:
        first = int(a)
        last = int(b) if b else -1
    except ValueError:
        raise click.BadParameter(f"{text!r}: want A-B (inclusive byte offsets) or A-", param_hint="--range") from None
    if not sep or first < 0 or (b and last < first):
        raise click.BadParameter(f"{text!r}: want A-B with 0 <= A <= B", param_hint="--range")
    return first, (last if b else 1 << 62)


@command.command("fetch")
@_network_options
@click.option("--range", "byte_range", default=None, metavar="A-B", help="Only bytes A..B (inclusive).")
@click.option("--gateway", "gateways", multiple=True, metavar="URL", help="Try this trustless gateway first.")
@click.argument("cid")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def fetch_cmd(network: str | None, config: Path | None, timeout: float, byte_range: str | None,
              gateways: tuple[str, ...], cid: str, out: Path) -> None:
    """Fetch CID into OUT, verifying every block; OUT appears only when everything verified."""
    from ..content.cid import CID

    try:
        target = CID.decode(cid)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="CID") from None
    rng = _parse_range(byte_range)

    async def main() -> FetchResult:
        net = await _open(network, config, timeout)
        try:
            cands = None
            if gateways:
                from ..filecoin.interfaces import Candidate
                from ..filecoin.retriever import VerifiedRetriever

                found = await net.retriever.candidates(target) if isinstance(net.retriever, VerifiedRetriever) else []
                cands = [Candidate(url=g) for g in gateways] + found
            return await net.retriever.fetch(target, out, rng, cands)
        finally:
            await net.close()

    res = _run(main)
    for f in res.failures:
        click.echo(f"skipped {f}", err=True)
    click.echo(f"{res.size} bytes of {res.cid} verified from {res.source} -> {res.path}")
    sys.stdout.flush()
