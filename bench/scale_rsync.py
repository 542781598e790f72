"""`bench/scale.py rsync`: an rsync sync from a local `rsync --daemon` of the scale tree with half of it
evicted, against the same sync with nothing evicted, and the daemon's CPU time in both.

The upstream is the shared tree (bench/scaletree.py, `--dir/tree-N`), served read-only by an
`rsync --daemon --no-detach` child of this process: each connection is a child of the daemon, so the
daemon's CPU per sync is the growth of its cutime+cstime (/proc/<pid>/stat) once the connection's child
has been reaped. The mirror is a full copy made by a first sync. Measured, each a sync with nothing
changed upstream (the steady state of a mirror), the provider's options (providers/rsync.py):

  none     every file on disk, no archive options
  evicted  the files of every other directory (--evicted 0.5) off disk, the index marked as the evictor
           would, the shadow tree of placeholders brought in line first (what the archive hook does
           before every sync: counted in the time), then rsync with the rules file and --compare-dest
  check    the upstream check after that sync (shadow.py): the first one after an eviction asks about
           every evicted file once; the next asks about the directories whose mtime moved (none)

and, at --old-files (default 40,000) files with half of them evicted, the earlier mechanism (one
anchored --exclude pattern per evicted path) against no eviction and the shadow tree.

Goals (issue 14): evicted <= 1.5x none in wall time; the daemon's CPU within 1.2x of none.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import scaletree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tunasync.archive import pipeline  # noqa: E402
from tunasync.archive.context import ArchiveCtx  # noqa: E402
from tunasync.archive.exclude import write_exclude_file  # noqa: E402
from tunasync.archive.index import ArchiveIndex  # noqa: E402
from tunasync.archive.policy import Policy  # noqa: E402
from tunasync.archive.settings import MirrorArchive  # noqa: E402
from tunasync.archive.upstream import check_evicted  # noqa: E402
from tunasync.providerkind import ProviderKind  # noqa: E402
from tunasync.worker.providers.rsync import BASE_OPTIONS, fast_basis_lookup, shadow_options  # noqa: E402

OLD_DIR_NS = 1_577_836_800_000_000_000  # directories untouched since 2020 (the steady state of a pool)
TICK = os.sysconf("SC_CLK_TCK")


def add_args(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("rsync part")
    g.add_argument("--evicted", type=float, default=0.5, help="fraction of the files evicted (default 0.5)")
    g.add_argument("--old-files", type=int, default=40_000,
                   help="tree size for the per-path exclude list comparison (default 40,000; 0: skip)")


@dataclass
class Run:
    wall: float
    client_cpu: float
    daemon_cpu: float
    transferred: int

    def line(self, label: str) -> str:
        return (f"  {label:<44} {self.wall:8.2f} s wall  client cpu {self.client_cpu:7.2f} s  "
                f"daemon cpu {self.daemon_cpu:7.2f} s  files transferred {self.transferred}")


class Daemon:
    def __init__(self, module_path: Path, work: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        work.mkdir(parents=True, exist_ok=True)
        conf = work / "rsyncd.conf"
        conf.write_text(f"pid file = {work}/rsyncd.pid\nuse chroot = no\nmax connections = 4\n"
                        f"[m]\n    path = {module_path}\n    read only = yes\n")
        self.proc = subprocess.Popen(["rsync", "--daemon", "--no-detach", f"--port={self.port}",
                                      "--address=127.0.0.1", f"--config={conf}"])
        self.url = f"rsync://127.0.0.1:{self.port}/m/"
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("rsync daemon did not start")

    def cpu(self) -> float:
        """CPU seconds of the daemon's reaped children (its connections)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[13]) + int(fields[14])) / TICK  # cutime, cstime

    def settled_cpu(self) -> float:
        """cpu() once the last connection's child has been reaped (the figure stops moving)."""
        last = self.cpu()
        for _ in range(50):
            time.sleep(0.1)
            now = self.cpu()
            if now == last and not _children(self.proc.pid):
                return now
            last = now
        return last

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _children(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []


@contextmanager
def daemon(module_path: Path, work: Path) -> Iterator[Daemon]:
    d = Daemon(module_path, work)
    try:
        yield d
    finally:
        d.close()


def sync(d: Daemon, dest: Path, extra: list[str], before: object = None) -> Run:
    """One rsync from the daemon into dest, as the provider runs it; `before` (a callable) is timed with it."""
    c0 = d.settled_cpu()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if callable(before):
        before()
    p = subprocess.run(["rsync", *BASE_OPTIONS, *extra, d.url, f"{dest}/"], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s1 = resource.getrusage(resource.RUSAGE_SELF)
    if p.returncode != 0:
        raise RuntimeError(f"rsync exited {p.returncode}: {p.stderr[-2000:]}")
    n = 0
    for line in p.stdout.splitlines():
        if line.startswith("Number of regular files transferred:"):
            n = int(line.split(":")[1].replace(",", ""))
    cpu = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) + (s1.ru_utime + s1.ru_stime - s0.ru_utime
                                                                        - s0.ru_stime)
    return Run(wall, cpu, d.settled_cpu() - c0, n)


def archive_options(ms: MirrorArchive) -> list[str]:
    """What the rsync provider adds for an archived mirror (RsyncBase.archive_excludes)."""
    shadow = str(ms.shadow_dir)
    return ["--exclude-from", str(ms.exclude_path), *shadow_options(shadow, BASE_OPTIONS),
            *fast_basis_lookup("rsync", [shadow, ms.root, str(ms.exclude_path)])]


def age_dirs(root: Path) -> None:
    for dirpath, _, _ in os.walk(root):
        os.utime(dirpath, ns=(OLD_DIR_NS, OLD_DIR_NS))


def evicted_paths(files: int, fraction: float) -> list[str]:
    """Every file of every k-th directory (k = 1/fraction), so the bench can take them off disk by
    moving directories aside instead of a million unlinks. The shadow tree's cost is one lookup per
    listed file wherever the evicted files are; the upstream's does not depend on them at all."""
    step = max(1, round(1 / fraction)) if fraction > 0 else 0
    per_dir = scaletree.PER_DIR
    return [scaletree.rel_path(i) for i in range(files) if step and (i // per_dir) % step == 0]


def take_off_disk(mirror: Path, evicted: list[str], trash: Path) -> None:
    """What eviction leaves: the files gone, their directories still there (moved aside, made again)."""
    trash.mkdir(parents=True, exist_ok=True)
    dirs = sorted({os.path.dirname(p) for p in evicted})
    for i, d in enumerate(dirs):
        st = os.lstat(mirror / d)
        os.rename(mirror / d, trash / str(i))
        os.mkdir(mirror / d, st.st_mode & 0o7777)
        os.utime(mirror / d, ns=(st.st_atime_ns, st.st_mtime_ns))


def seed_index(ms: MirrorArchive, root: Path, evicted: list[str]) -> ArchiveIndex:
    """The index as eviction leaves it for the `evicted` files (the rest of the tree is not needed here),
    written directly: the bench measures rsync, not the evictor."""
    ArchiveIndex(ms.index_path).close()  # the schema

    def rows() -> Iterator[tuple[str, int, int, int]]:
        for p in evicted:
            st = os.lstat(root / p)
            yield p, st.st_size, st.st_mtime_ns, st.st_ino

    with sqlite3.connect(ms.index_path) as db:
        db.execute("PRAGMA synchronous=OFF")
        db.executemany("INSERT INTO files (path, size, mtime_ns, inode, cid, state, first_seen, last_seen, "
                       "evicted_at) VALUES (?, ?, ?, ?, 'bafkqaaa', 'evicted', 1, 1, 1)", rows())
    db.close()
    return ArchiveIndex(ms.index_path)


def ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("inf")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main_part(args: argparse.Namespace, files: int, fraction: float, work: Path) -> list[str]:
    tree, made, reused = scaletree.build_tree(args.dir / f"tree-{files}", files)
    print(f"  tree {tree}: {'reused' if reused else f'built in {made:.1f} s'}", flush=True)
    age_dirs(tree)
    shutil.rmtree(work, ignore_errors=True)
    mirror = work / "mirror"
    mirror.mkdir(parents=True)
    out: list[str] = []
    with daemon(tree, work / "daemon") as d:
        first = sync(d, mirror, [])
        print(first.line("first sync (everything)"), flush=True)
        nones = []
        for _ in range(2):
            nones.append(sync(d, mirror, []))
            print(nones[-1].line("sync, nothing evicted"), flush=True)
        evicted = evicted_paths(files, fraction)
        ms = MirrorArchive(name="scale", root=str(mirror), dir=work / "archive", policy=Policy(),
                           upstream=d.url, provider=ProviderKind.RSYNC)
        ms.ensure_dirs()
        t0 = time.perf_counter()
        index = seed_index(ms, mirror, evicted)
        t1 = time.perf_counter()
        take_off_disk(mirror, evicted, work / "trash")
        print(f"  index seeded in {t1 - t0:.1f} s, {len(evicted):,} files off disk in {time.perf_counter() - t1:.1f} s",
              flush=True)
        ctx = ArchiveCtx(ms, index)
        t0 = time.perf_counter()
        placeholders = pipeline.write_exclude(ctx)
        print(f"  shadow tree made: {placeholders:,} placeholders in {time.perf_counter() - t0:.1f} s "
              "(once per eviction)", flush=True)
        extra = archive_options(ms)
        print(f"  archive options: {' '.join(extra)}", flush=True)
        runs = []
        for _ in range(2):
            runs.append(sync(d, mirror, extra, before=lambda: pipeline.write_exclude(ctx)))
            print(runs[-1].line("sync, evicted (+ shadow pass before it)"), flush=True)
        ev = min(runs, key=lambda r: r.wall)
        base_wall = min(r.wall for r in nones)
        base_daemon = min(r.daemon_cpu for r in nones)
        present = sum(1 for p in evicted if os.path.lexists(mirror / p))
        c0 = d.settled_cpu()
        t0 = time.perf_counter()
        gone = asyncio.run(check_evicted(ms, index, rotate=0))
        first_check = time.perf_counter() - t0, d.settled_cpu() - c0
        c0 = d.settled_cpu()
        t0 = time.perf_counter()
        gone2 = asyncio.run(check_evicted(ms, index, rotate=0))
        next_check = time.perf_counter() - t0, d.settled_cpu() - c0
        print(f"  upstream check, first after the eviction: {first_check[0]:.2f} s, daemon cpu "
              f"{first_check[1]:.2f} s ({len(gone or [])} gone); next: {next_check[0]:.2f} s, daemon cpu "
              f"{next_check[1]:.2f} s ({len(gone2 or [])} gone)", flush=True)
        index.close()
    w, c = ratio(ev.wall, base_wall), ratio(ev.daemon_cpu, base_daemon)
    out.append(f"{verdict(w <= 1.5)} rsync sync, {len(evicted):,} of {files:,} evicted: {w:.2f}x the sync with "
               f"none evicted ({ev.wall:.1f} s vs {base_wall:.1f} s; goal <= 1.5x)")
    out.append(f"{verdict(c <= 1.2)} rsync daemon CPU with {len(evicted):,} evicted: {c:.2f}x none evicted "
               f"({ev.daemon_cpu:.2f} s vs {base_daemon:.2f} s; goal <= 1.2x)")
    out.append(f"{verdict(present == 0 and ev.transferred == 0)} evicted files fetched back: {present} "
               f"(files transferred {ev.transferred})")
    out.append(f"INFO upstream check after the eviction: {first_check[0]:.1f} s once, daemon cpu "
               f"{first_check[1]:.2f} s; then {next_check[0]:.2f} s, daemon cpu {next_check[1]:.2f} s")
    return out


def old_part(args: argparse.Namespace, files: int, work: Path) -> list[str]:
    """The per-path exclude list against none and the shadow tree, half of a small tree evicted."""
    tree, _, _ = scaletree.build_tree(args.dir / f"tree-{files}", files)
    age_dirs(tree)
    shutil.rmtree(work, ignore_errors=True)
    mirror = work / "mirror"
    mirror.mkdir(parents=True)
    with daemon(tree, work / "daemon") as d:
        sync(d, mirror, [])
        none = sync(d, mirror, [])
        print(none.line(f"{files:,} files, nothing evicted"), flush=True)
        evicted = evicted_paths(files, 0.5)
        ms = MirrorArchive(name="old", root=str(mirror), dir=work / "archive", policy=Policy(), upstream=d.url)
        ms.ensure_dirs()
        seed_index(ms, mirror, evicted).close()
        for p in evicted:
            os.unlink(mirror / p)  # every other directory's files: unlinks are few at this size
        listing = work / "per-path.txt"
        write_exclude_file(str(listing), evicted)
        old = sync(d, mirror, ["--exclude-from", str(listing)])
        print(old.line(f"{len(evicted):,} evicted, one pattern per path"), flush=True)
        index = ArchiveIndex(ms.index_path)
        ctx = ArchiveCtx(ms, index)
        extra = archive_options(ms)
        pipeline.write_exclude(ctx)
        new = sync(d, mirror, extra, before=lambda: pipeline.write_exclude(ctx))
        print(new.line(f"{len(evicted):,} evicted, shadow tree"), flush=True)
        index.close()
    return [f"INFO at {files:,} files, {len(evicted):,} evicted: per-path exclude list {ratio(old.wall, none.wall):.1f}x "
            f"wall, daemon cpu {ratio(old.daemon_cpu, none.daemon_cpu):.1f}x; shadow tree "
            f"{ratio(new.wall, none.wall):.2f}x wall, daemon cpu {ratio(new.daemon_cpu, none.daemon_cpu):.2f}x "
            f"(none: {none.wall:.2f} s, daemon {none.daemon_cpu:.2f} s)"]


def run(args: argparse.Namespace) -> list[str]:
    if shutil.which("rsync") is None:
        return ["MISS rsync part: rsync is not installed"]
    work = args.dir / "rsync-work"
    out: list[str] = []
    try:
        if args.old_files:
            out += old_part(args, args.old_files, work / f"old-{args.old_files}")
            shutil.rmtree(work / f"old-{args.old_files}", ignore_errors=True)
        out += main_part(args, args.files, args.evicted, work / f"main-{args.files}")
    finally:  # a million unlinks take a while here: the mirror copies go in the background
        if work.exists():
            gone = work.with_name(f"{work.name}.gone.{os.getpid()}")
            os.rename(work, gone)
            subprocess.Popen(["rm", "-rf", str(gone)], start_new_session=True)
    for line in out:
        print(line, flush=True)
    return out
