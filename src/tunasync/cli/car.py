"""`tunasync car verify FILE.car` and `tunasync car extract FILE.car CID OUT [--range A-B]`.

Both index the CAR first, so any block order is accepted (ipfs-car writes leaves first, gateways
send DFS order). Every block is checked against its CID; extraction writes `OUT.tmp` and renames it
only when everything verified.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ..content.carread import CarIndex
    from ..content.cid import CID


def _fail(msg: str) -> None:
    click.echo(f"tunasync car: {msg}", err=True)
    sys.exit(1)


def parse_range(text: str) -> tuple[int, int | None]:
    """`A-B` (inclusive, as HTTP Range) or `A-` (to the end)."""
    first, sep, last = text.partition("-")
    try:
        a = int(first)
        b = int(last) if last else None
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected A-B or A- (byte offsets)") from None
    if not sep or a < 0 or (b is not None and b < a):
        raise click.BadParameter(f"{text!r}: expected A-B with 0 <= A <= B, or A-")
    return a, b


def missing_blocks(index: CarIndex, roots: Iterable[CID]) -> tuple[int, CID | None]:
    """Walk every dag-pb link from the roots; (number of missing blocks, the first one)."""
    from ..content.cid import DAG_PB, IDENTITY
    from ..content.dagpb import decode_node

    seen = set()
    missing = 0
    first = None
    stack = list(roots)
    while stack:
        cid = stack.pop()
        if cid.mh_code == IDENTITY:
            continue
        key = cid.to_v1()
        if key in seen:
            continue
        seen.add(key)
        if cid not in index:
            missing += 1
            first = first or cid
            continue
        if cid.codec == DAG_PB:
            stack.extend(link.cid for link in decode_node(index.get(cid, verify=False)).links)
    return missing, first


@click.group(name="car")
def command() -> None:
    """Verify CAR files and extract content from them."""


@command.command(name="verify")
@click.argument("car_file", metavar="FILE.car", type=click.Path(dir_okay=False))
def verify_cmd(car_file: str) -> None:
    """Check every block against its CID and that the DAG under each root is complete."""
    import os

    from ..content.carread import CarIndex
    from ..content.dagpb import DagPbError
    from ..errors import ContentError

    try:
        with CarIndex.open(car_file) as index:
            missing, first = missing_blocks(index, index.roots)
            roots = ", ".join(str(r) for r in index.roots) or "(none)"
            size = os.path.getsize(car_file)
            summary = f"{car_file}: {len(index.roots)} root(s) {roots}; {index.sections} blocks, {size} bytes"
    except OSError as exc:
        _fail(f"{car_file}: {exc.strerror or exc}")
    except (ContentError, DagPbError) as exc:
        _fail(f"{car_file}: {exc}")
    if missing:
        _fail(f"{summary}; all blocks match their CIDs but the DAG is incomplete: "
              f"{missing} block(s) missing, e.g. {first}")
    click.echo(f"{summary}; OK: every block matches its CID, DAG complete")


@command.command(name="extract")
@click.argument("car_file", metavar="FILE.car", type=click.Path(dir_okay=False))
@click.argument("cid")
@click.argument("out", type=click.Path())
@click.option("--range", "byte_range", metavar="A-B", help="Only bytes A..B (inclusive) of the file; A- = to the end.")
def extract_cmd(car_file: str, cid: str, out: str, byte_range: str | None) -> None:
    """Write the file (or directory tree) CID from FILE.car to OUT, verified."""
    from ..content.carread import CarIndex
    from ..content.cid import CID
    from ..content.dagpb import DagPbError
    from ..content.extract import extract
    from ..errors import ContentError

    rng = parse_range(byte_range) if byte_range else None
    try:
        root = CID.decode(cid)
    except ValueError as exc:
        raise click.BadParameter(f"{cid!r}: {exc}", param_hint="CID") from None
    try:
        with CarIndex.open(car_file) as index:
            n = extract(lambda c: index.get(c, verify=False), root, out, rng)
    except KeyError as exc:
        _fail(f"{car_file}: block {exc.args[0]} needed for {root} is not in the CAR")
    except OSError as exc:
        _fail(f"{exc.filename or out}: {exc.strerror or exc}")
    except (ContentError, DagPbError) as exc:
        _fail(f"{car_file}: {exc}")
    click.echo(f"{out}: {n} bytes of {root}", err=True)
