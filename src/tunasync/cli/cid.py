"""`tunasync cid`: UnixFS CIDs (and piece CIDs) of files and directory trees.

One line per file, `CID  PATH`; a directory prints its files, then its subdirectories' and its own
CID last. `--json` prints one object per line instead. A file that cannot be read, changes while it
is hashed, or is not a regular file gets a message on stderr; the run continues and exits 1.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from ..content.unixfs import PROFILES

if TYPE_CHECKING:
    from ..content.cid import CID
    from ..content.tree import Tree


@dataclass(slots=True)
class Result:
    path: str
    size: int
    cid: str
    kind: str = "file"
    piece: Any = None  # tunasync.content.piece.PieceInfo


class Progress:
    """A rich progress bar on stderr, shown only on a terminal and only once a run takes a while."""

    DELAY = float(os.environ.get("TUNASYNC_PROGRESS_DELAY", "1.5"))  # seconds before it appears

    def __init__(self, total: int, enabled: bool):
        self.total = total
        self.enabled = enabled and total > 0
        self.start = time.monotonic()
        self.done = 0
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        if self._bar is None:
            if time.monotonic() - self.start < self.DELAY:
                return
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, TimeRemainingColumn, TransferSpeedColumn
            from rich.progress import Progress as Bar

            self._bar = Bar("{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                            TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self._bar.start()
            self._task = self._bar.add_task("hashing", total=self.total, completed=self.done)
        else:
            self._bar.update(self._task, completed=self.done)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


class Run:
    """One invocation: hashes, prints, and remembers whether anything failed."""

    def __init__(self, profile: str, piece: bool, as_json: bool, progress: Progress):
        self.profile = profile
        self.piece = piece
        self.as_json = as_json
        self.progress = progress
        self.failed = False

    def error(self, path: str, reason: str) -> None:
        self.failed = True
        click.echo(f"tunasync cid: {path}: {reason}", err=True)

    def emit(self, r: Result) -> None:
        if self.as_json:
            p = r.piece
            obj = {"path": r.path, "size": r.size, "cid": r.cid,
                   "piece_cid": str(p.v1) if p else None, "piece_cid_v2": str(p.v2) if p else None,
                   "padded_size": p.padded_size if p else None}
            if r.kind != "file":
                obj["type"] = r.kind
            click.echo(json.dumps(obj))
        else:
            click.echo(f"{r.cid}  {r.path}")

    def hash_one(self, path: str, shown: str) -> tuple[CID, int] | None:
        """Hash one file and print its line; (root CID, Tsize) or None after reporting an error."""
        from ..content.chunker import hash_file
        from ..errors import ContentError

        try:
            dag = hash_file(path, self.profile, keep_blocks=False, progress=self.progress)
            piece = None
            if self.piece:
                from ..content.piece import piece_of_file

                piece = piece_of_file(path)
                if piece.payload_size != dag.size:
                    self.error(shown, "file changed while its piece CID was computed")
                    return None
        except OSError as exc:
            self.error(shown, exc.strerror or str(exc))
            return None
        except ContentError as exc:
            self.error(shown, getattr(exc, "reason", None) or str(exc))
            return None
        self.emit(Result(shown, dag.size, str(dag.root), piece=piece))
        return dag.root, dag.dag_size

    def hash_dir(self, tree: Tree, shown: str) -> object | None:
        from ..content.directory import build_tree

        files: dict[str, tuple[CID, int]] = {}
        ok = True
        for f in tree.files:
            got = self.hash_one(f.path, os.path.join(shown, *f.rel.split("/")))
            if got is None:
                ok = False
            else:
                files[f.rel] = got
        for path, reason in tree.problems:
            self.error(path, reason)
            ok = False
        if not ok:
            self.error(shown, "directory CID not computed: some entries failed (see above)")
            return None
        if not files:
            self.error(shown, "directory holds no regular files: nothing to address")
            return None
        dt = build_tree(files, self.profile)
        size = tree.size
        for rel in sorted((d for d in dt.dirs if d), key=lambda d: (-d.count("/"), d)):
            self.emit(Result(os.path.join(shown, *rel.split("/")), _dir_size(tree, rel), str(dt.dirs[rel]), "directory"))
        self.emit(Result(shown, size, str(dt.root), "directory"))
        return dt.root


def _dir_size(tree: Tree, rel: str) -> int:
    prefix = rel + "/"
    return sum(f.size for f in tree.files if f.rel.startswith(prefix))


def _write_car(run: Run, paths: tuple[str, ...], out: str, follow: bool, hidden: bool) -> None:
    from ..content.car import write_bundle_car, write_file_car
    from ..content.tree import walk_tree
    from ..errors import ContentError

    if len(paths) != 1:
        run.error(out, "--car takes exactly one PATH (a file or a directory)")
        return
    path = paths[0]
    info: Any
    try:
        if os.path.isdir(path):
            tree = walk_tree(path, follow, hidden)
            if tree.problems or not tree.files:
                run.error(out, "CAR not written: the directory has unreadable entries or no files")
                return
            info = write_bundle_car(path, [f.rel for f in tree.files], out, run.profile)
        else:
            info = write_file_car(path, out, run.profile)
    except (OSError, ContentError) as exc:
        run.error(out, getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc))
        return
    line = f"wrote {out}: root {info.root}, {info.size} bytes"
    if run.piece:
        from ..content.piece import piece_of_file

        p = piece_of_file(out)
        line += f", piece {p.v1} ({p.v2}, padded {p.padded_size})"
    click.echo(line, err=True)


@click.command(name="cid")
@click.option("--profile", type=click.Choice(list(PROFILES)), default="ipfs-car", show_default=True,
              help="ipfs-car = Storacha / kubo unixfs-v1-2025; kubo-v1 = ipfs add --cid-version=1; kubo = ipfs add.")
@click.option("--piece", is_flag=True, help="Also compute each file's piece CID (CommP v1 and v2).")
@click.option("--car", "car_out", metavar="OUT", help="Also write a CAR of PATH (a file, or a directory bundle).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--follow-symlinks/--skip-symlinks", default=False, show_default=True,
              help="Inside directories, follow symlinks (loops are reported) or skip them.")
@click.option("--hidden/--no-hidden", default=True, show_default=True,
              help="Include dot-files inside directories (ipfs-car needs --hidden to match).")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
def command(profile: str, piece: bool, car_out: str | None, as_json: bool, follow_symlinks: bool,
            hidden: bool, paths: tuple[str, ...]) -> None:
    """Print the UnixFS CID of each file PATH; directories recurse and print their own CID last."""
    from ..content.tree import walk_tree

    plan: list[tuple[str, Any]] = []
    total = 0
    run = Run(profile, piece, as_json, Progress(0, False))
    for path in paths:
        try:
            st = os.stat(path)
        except OSError as exc:
            run.error(path, exc.strerror or str(exc))
            continue
        if stat.S_ISDIR(st.st_mode):
            tree = walk_tree(path, follow_symlinks, hidden)
            plan.append((path, tree))
            total += tree.size
        else:
            plan.append((path, None))
            total += st.st_size if stat.S_ISREG(st.st_mode) else 0
    run.progress = Progress(total, sys.stderr.isatty())
    try:
        for path, tree in plan:
            if tree is None:
                run.hash_one(path, path)
            else:
                run.hash_dir(tree, path.rstrip("/") or "/")
    finally:
        run.progress.stop()
    if car_out:
        _write_car(run, paths, car_out, follow_symlinks, hidden)
    if run.failed:
        sys.exit(1)
