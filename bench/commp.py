#!/usr/bin/env python3
"""CommP throughput: the C core on 1 and 2 threads, the pure-Python fallback, the npm reference
(@web3-storage/data-segment) and the per-node SHA-256 compression ceiling, on this machine.

usage: .venv/bin/python bench/commp.py [--mib 256] [--slice-mib 16] [--oracle DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tunasync.content import commp_py, piece

REPO = Path(__file__).resolve().parent.parent
NODE_SCRIPT = """
import { readFileSync } from 'node:fs'
import { Piece } from '@web3-storage/data-segment'
const bytes = readFileSync(process.argv[2])
let piece, best = Infinity
for (let i = 0; i < Number(process.argv[3]); i++) {  // best of N, as for ours: the JIT warms up
  const t0 = performance.now()
  piece = Piece.fromPayload(bytes)
  best = Math.min(best, (performance.now() - t0) / 1000)
}
console.log(JSON.stringify({ seconds: best, root: Buffer.from(piece.root).toString('hex') }))
"""


REPEAT = 3


def timed(fn, *args):
    """Result and best wall time of REPEAT runs (this VM's neighbours make single runs noisy)."""
    best = float("inf")
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return out, best


def mbps(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / 1e6


def node_reference(oracle: Path, path: Path) -> tuple[float, str] | None:
    if shutil.which("node") is None or not (oracle / "node_modules" / "@web3-storage" / "data-segment").is_dir():
        return None
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "node_modules").symlink_to((oracle / "node_modules").resolve())  # absolute: d is elsewhere
        (Path(d) / "bench.mjs").write_text(NODE_SCRIPT)
        out = subprocess.run(["node", str(Path(d) / "bench.mjs"), str(path), str(REPEAT)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"the npm reference failed ({out.returncode}): {out.stderr[-2000:]}")
    res = json.loads(out.stdout)
    return res["seconds"], res["root"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=256, help="random payload for the C core (MiB)")
    ap.add_argument("--slice-mib", type=int, default=16, help="slice for the fallback and the npm reference (MiB)")
    ap.add_argument("--oracle", type=Path, default=REPO / ".cache" / "oracle")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is reported")
    args = ap.parse_args()
    global REPEAT
    REPEAT = max(1, args.repeat)

    data = os.urandom(args.mib << 20)
    part = data[: args.slice_mib << 20]
    rows: list[tuple[str, float]] = []
    print(f"payload {args.mib} MiB random; slice {args.slice_mib} MiB; {os.cpu_count()} cores")

    if piece.NATIVE:
        from tunasync.content import _commp

        impl = _commp.impl()
        n = 2_000_000
        _, dt = timed(_commp.compress_bench, n)
        ceiling = mbps(n * 127 // 4, dt)  # 4 nodes (8 compressions) per 127 payload bytes
        print(f"SHA-256 ({impl}) single stream: {2 * n / dt / 1e6:.1f} M compressions/s "
              f"-> ceiling for one node at a time {ceiling:.0f} MB/s of payload")
        info1, dt1 = timed(piece.piece_of_bytes, data, 1)
        rows.append((f"C core ({impl}), 1 thread", mbps(len(data), dt1)))
        info2, dt2 = timed(piece.piece_of_bytes, data, 2)
        assert info2 == info1, "1 and 2 threads disagree"
        rows.append((f"C core ({impl}), 2 threads", mbps(len(data), dt2)))
        with tempfile.NamedTemporaryFile(dir=REPO / ".cache" if (REPO / ".cache").is_dir() else None) as f:
            f.write(data)
            f.flush()
            info3, dt3 = timed(piece.piece_of_file, f.name, 2)
            assert info3 == info1, "piece_of_file disagrees"
            rows.append((f"C core ({impl}), file, 2 threads", mbps(len(data), dt3)))
        rows.append(("ceiling: 1 node at a time, 1 core", ceiling))
        for other in _commp.impls()[1:]:  # what CPUs without SHA-NI get (on the slice)
            _commp.use(other)
            other_info, dto = timed(piece.piece_of_bytes, part, 1)
            _commp.use(impl)
            rows.append((f"C core ({other}), 1 thread", mbps(len(part), dto)))
        print(f"v1 {info1.v1}  v2 {info1.v2}")
    else:
        print("native core not built: C rows skipped (python setup.py build_ext --inplace)")

    root_py, dtpy = timed(commp_py.root, part, piece.level_for(len(part)))
    rows.append(("pure-Python fallback, 1 thread", mbps(len(part), dtpy)))

    with tempfile.NamedTemporaryFile() as f:
        f.write(part)
        f.flush()
        ref = node_reference(args.oracle, Path(f.name))
    if ref is None:
        print("npm reference skipped: node or @web3-storage/data-segment missing")
        npm = None
    else:
        assert ref[1] == root_py.hex(), "npm reference disagrees with the fallback"
        npm = mbps(len(part), ref[0])
        rows.append(("npm @web3-storage/data-segment", npm))

    print(f"{'implementation':44} {'MB/s':>8} {'× npm':>8}")
    for name, rate in rows:
        ratio = f"{rate / npm:8.1f}" if npm else "       -"
        print(f"{name:44} {rate:8.1f} {ratio}")
    if piece.NATIVE:
        one, two = rows[0][1], rows[1][1]
        print(f"2 threads / 1 thread: {two / one:.2f}; 1 thread / one-node-at-a-time ceiling: {one / ceiling:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
