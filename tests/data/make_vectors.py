#!/usr/bin/env python3
"""Regenerate the CID test vectors in tests/data/vectors/ by running the npm reference encoders.

    python tests/data/make_vectors.py [--oracle DIR] [--check]

The references are @ipld/unixfs (the UnixFS encoder inside ipfs-car, https://github.com/storacha/ipfs-car)
and @web3-storage/data-segment (an implementation of FRC-0069 piece CIDs,
https://github.com/storacha/data-segment). `./dev setup` installs them into .cache/oracle (the directory is
also taken from $TUNASYNC_ORACLE_DIR or --oracle). Our small drivers for them are unixfs.mjs and piece.mjs
next to the vectors. Inputs are made here, so nothing outside the repository is read:

    pattern N   N bytes, byte i is i % 251 (a period that no power-of-two chunk size divides)
    zeros N     N zero bytes
    hello       the 12 bytes "hello world\\n"
    hello-car   the CAR `ipfs-car pack --no-wrap hello --output hello.car` writes (piece rows only:
                what a deal carries is a CAR)

Outputs: vectors/unixfs.tsv (profile, input, size, cid), vectors/piece.tsv (input, size, v1, v2, padded
size) and vectors/versions.json (the reference packages' versions that made them). With --check, nothing is
written: the exit status says whether the committed files equal what the references say now.
The largest input is 100 MB; a full run takes a few minutes.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VECTORS = HERE / "vectors"
PROFILES = ("ipfs-car", "kubo-v1", "kubo")
PERIOD = 251
HELLO = b"hello world\n"

# Sizes around the edges that matter: empty, one byte, a 127/128-byte fr32 quad, the 256 KiB and 1 MiB
# chunk sizes +-1, 174 x 256 KiB (kubo's full first level, 45613056) +-1, and a 100 MB three-level file.
UNIXFS_SIZES = (0, 1, 127, 128, 1000, 65536, 262143, 262144, 262145, 1048575, 1048576, 1048577, 10485760,
                45613056, 45613057, 100000000)
# Piece sizes: the 65-byte minimum, 127/128 and 254 (one and two fr32 quads), 1016/1017 (the 1024-byte
# padded piece and one byte over), a 2^20 payload that needs the next power, and 1040384 = 1 MiB x 127/128.
PIECE_SIZES = (65, 127, 128, 254, 1000, 1016, 1017, 65536, 1048576, 1040384, 5242880, 10485760, 314572800)
ZERO_SIZES = (1048576,)
PACKAGES = ("@ipld/unixfs", "@web3-storage/data-segment", "multiformats", "ipfs-car")


def write_pattern(path: Path, n: int) -> Path:
    block = bytes(i % PERIOD for i in range(PERIOD * 4096))
    with open(path, "wb") as f:
        while n > 0:
            f.write(block[: min(n, len(block))])
            n -= min(n, len(block))
    return path


def oracle_dir(arg: str | None) -> Path:
    d = Path(arg or os.environ.get("TUNASYNC_ORACLE_DIR") or REPO / ".cache" / "oracle")
    missing = [p for p in PACKAGES if not (d / "node_modules" / p / "package.json").is_file()]
    if missing:
        sys.exit(f"{d}: npm packages missing: {', '.join(missing)} (run ./dev setup, or pass --oracle DIR)")
    return d


def versions(oracle: Path) -> dict[str, str]:
    out = {}
    for p in PACKAGES:
        out[p] = json.loads((oracle / "node_modules" / p / "package.json").read_text())["version"]
    return out


def node(work: Path, *args: str) -> str:
    proc = subprocess.run(["node", *args], cwd=work, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        sys.exit(f"node {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def tsv(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t", lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def generate(oracle: Path) -> dict[str, str]:
    with tempfile.TemporaryDirectory(prefix="tunasync-vectors-") as tmp:
        work = Path(tmp)
        # ES modules resolve bare imports next to the script: copy the drivers beside a node_modules link.
        (work / "node_modules").symlink_to(oracle / "node_modules")
        (work / "package.json").write_text('{"type": "module", "private": true}\n')
        for script in ("unixfs.mjs", "piece.mjs"):
            (work / script).write_text((VECTORS / script).read_text())
        inputs: list[tuple[str, int, Path]] = []
        for n in sorted(set(UNIXFS_SIZES) | set(PIECE_SIZES)):
            inputs.append(("pattern", n, write_pattern(work / f"pattern-{n}", n)))
        for n in ZERO_SIZES:
            path = work / f"zeros-{n}"
            with open(path, "wb") as f:
                f.truncate(n)
            inputs.append(("zeros", n, path))
        hello = work / "hello"
        hello.write_bytes(HELLO)
        inputs.append(("hello", len(HELLO), hello))
        car = work / "hello.car"
        ipfs_car = oracle / "node_modules" / ".bin" / "ipfs-car"
        proc = subprocess.run([str(ipfs_car), "pack", "--no-wrap", str(hello), "--output", str(car)],
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            sys.exit(f"ipfs-car pack failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        inputs.append(("hello-car", car.stat().st_size, car))

        unixfs_rows = []
        for name, n, path in inputs:
            if name in ("zeros", "hello-car") or (name == "pattern" and n not in UNIXFS_SIZES):
                continue
            for profile in PROFILES:
                cid = node(work, "unixfs.mjs", profile, str(path)).strip()
                unixfs_rows.append([profile, name, str(n), cid])
                print(f"unixfs {profile:8} {name} {n}: {cid}", file=sys.stderr)

        wanted = [(name, n, path) for name, n, path in inputs if name != "pattern" or n in PIECE_SIZES]
        by_file = {}
        for line in node(work, "piece.mjs", *(str(p) for _, _, p in wanted)).splitlines():
            rec = json.loads(line)
            by_file[rec["file"]] = rec
        piece_rows = []
        for name, n, path in wanted:
            rec = by_file[str(path)]
            piece_rows.append([name, str(n), rec["v1"], rec["v2"], str(rec["padded_size"])])
            print(f"piece {name} {n}: {rec['v2']}", file=sys.stderr)

    return {
        "unixfs.tsv": tsv(["profile", "input", "size", "cid"], unixfs_rows),
        "piece.tsv": tsv(["input", "size", "piece_cid_v1", "piece_cid_v2", "padded_piece_size"], piece_rows),
        "versions.json": json.dumps(versions(oracle), indent=2, sort_keys=True) + "\n",
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--oracle", help="directory whose node_modules holds the npm references")
    ap.add_argument("--check", action="store_true", help="compare with the committed vectors, write nothing")
    args = ap.parse_args()
    files = generate(oracle_dir(args.oracle))
    differ = [name for name, text in files.items()
              if not (VECTORS / name).is_file() or (VECTORS / name).read_text() != text]
    if args.check:
        for name in differ:
            print(f"{VECTORS / name}: differs from what the references make now", file=sys.stderr)
        return 1 if differ else 0
    for name, text in files.items():
        (VECTORS / name).write_text(text)
    print(f"wrote {', '.join(files)} into {VECTORS} ({len(differ)} changed)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
