"""What `tunasync archive` shows: rich tables of figures and files, and step progress bars on a terminal."""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

BYTE_STEPS = {"hash"}
DELAY = float(os.environ.get("TUNASYNC_PROGRESS_DELAY", "1.5"))


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


class StepBars:
    """One rich bar per archive step (scan, hash, copies, pack, store, evict, repair), on stderr, only
    on a terminal and only once the command has run a moment. Called from threads too."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.start = time.monotonic()
        self._lock = threading.Lock()
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}

    def __call__(self, step: str, done: int, total: int, what: str) -> None:
        if not self.enabled or time.monotonic() - self.start < DELAY:
            return
        with self._lock:
            if self._bar is None:
                from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

                self._bar = Progress(TextColumn("{task.description:>7}"), BarColumn(),
                                     TextColumn("{task.fields[amount]}"), TimeRemainingColumn(),
                                     TextColumn("{task.fields[what]}", style="dim"),
                                     console=Console(stderr=True), transient=True)
                self._bar.start()
            task = self._tasks.get(step)
            amount = f"{human(done)}/{human(total)}" if step in BYTE_STEPS else f"{done}/{total}"
            if task is None:
                self._tasks[step] = self._bar.add_task(step, total=total or None, completed=done, amount=amount,
                                                       what=what[-50:])
            else:
                self._bar.update(task, total=total or None, completed=done, amount=amount, what=what[-50:])

    def stop(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.stop()
                self._bar = None


def status_tables(name: str, figs: dict[str, Any], upcoming: list[dict[str, Any]]) -> list[Table]:
    states = Table(title=f"archive of {name}", title_justify="left")
    for col in ("state", "files", "bytes"):
        states.add_column(col, justify="right" if col != "state" else "left")
    for state, v in figs["states"].items():
        states.add_row(state, str(v["files"]), human(v["bytes"]))
    d = figs["deleted_upstream"]
    states.add_row("[dim]deleted upstream[/dim]", str(d["files"]), human(d["bytes"]))
    copies = Table(title=f"verified copies per piece (want {figs['copies_wanted']})", title_justify="left")
    copies.add_column("copies", justify="right")
    copies.add_column("pieces", justify="right")
    for k, v in figs["copies"].items():
        style = "red" if int(k) < figs["copies_wanted"] else ""
        copies.add_row(f"[{style}]{k}[/{style}]" if style else k, str(v))
    bundles = Table(title="bundles", title_justify="left")
    bundles.add_column("state")
    bundles.add_column("count", justify="right")
    bundles.add_column("padded", justify="right")
    for s, v in figs["bundles"].items():
        bundles.add_row(s, str(v["count"]), human(v["padded_bytes"] or 0))
    nxt = Table(title=f"next evictions (keep {figs['keep_years']:g} years; "
                      f"{figs['evictable_now']['files']} file(s) due now)", title_justify="left")
    for col in ("due", "state", "size", "path"):
        nxt.add_column(col, justify="right" if col == "size" else "left")
    for f in upcoming:
        nxt.add_row(f["due"][:10], f["state"], human(f["size"]), f["path"])
    return [states, copies, bundles, nxt]


def files_table(rows: list[dict[str, Any]]) -> Table:
    t = Table(show_edge=False)
    for col in ("state", "copies", "size", "mtime", "cid", "path"):
        t.add_column(col, justify="right" if col in ("copies", "size") else "left", no_wrap=col == "cid")
    for r in rows:
        mtime = datetime.fromtimestamp(r["mtime_ns"] / 1e9).strftime("%Y-%m-%d")
        copies = "" if r["copies"] is None else str(r["copies"])
        t.add_row(r["state"] + (" (deleted upstream)" if r["deleted"] else ""), copies, human(r["size"]), mtime,
                  r["cid"] or "", r["path"])
    return t


def console() -> Console:
    return Console()
