"""`tunasynctl history` (last runs of a mirror) and `tunasynctl logs` (its current job log, live with -f).

Both go through the manager: `GET /workers/W/jobs/M/history[?limit=N]` answers a JSON list of runs,
newest first (`name worker started ended status error_msg size`, RFC 3339 times);
`GET /workers/W/jobs/M/log[?follow=1]` streams the log the manager proxies from the worker.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from ..models import gojson, timefmt
from .ctl_common import CONTEXT, CommonOpts, Fail, common, fail, out, run, seg
from .ctl_config import CtlConfig
from .ctl_http import GetJSONError, ManagerClient, TransportError

if TYPE_CHECKING:
    from rich.table import Table

STATUS_STYLE = {"success": "green", "failed": "red", "syncing": "cyan", "pre-syncing": "cyan",
                "paused": "yellow", "disabled": "dim"}


def fmt_duration(seconds: float) -> str:
    """`1h02m03s`, `4m05s`, `12s`: short and sortable by eye."""
    s = max(0, int(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if h:
        return f"{h}h{m:02d}m{sec:02d}s"
    if m:
        return f"{m}m{sec:02d}s"
    return f"{sec}s"


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        t = timefmt.parse_rfc3339(text)
    except ValueError:
        return None
    return None if timefmt.is_zero(t) else t


def _local(t: datetime | None) -> str:
    return t.astimezone().strftime("%Y-%m-%d %H:%M:%S") if t else "-"


def history_table(runs: list[dict[str, Any]], title: str) -> Table:
    """A rich table of runs: started, ended, duration, status, size, error."""
    from rich.table import Table  # imported here: every other tunasynctl command starts faster without rich
    from rich.text import Text

    table = Table(title=title, title_justify="left", header_style="bold")
    for col in ("Started", "Ended", "Duration"):
        table.add_column(col, no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Size", no_wrap=True, justify="right")
    table.add_column("Error", overflow="fold")
    for r in runs:
        started, ended = _time(r.get("started")), _time(r.get("ended"))
        duration = fmt_duration((ended - started).total_seconds()) if started and ended else "-"
        status = str(r.get("status", ""))
        table.add_row(_local(started), _local(ended), duration, Text(status, style=STATUS_STYLE.get(status, "")),
                      str(r.get("size", "") or "-"), str(r.get("error_msg", "") or ""))
    return table


@click.command("history", context_settings=CONTEXT, help="Show the last runs of a mirror job")
@common
@click.option("--worker", "-w", default="", metavar="WORKER", help="The worker running the mirror")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=None, help="Show at most N runs")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON")
@click.argument("args", nargs=-1)
def history_cmd(opts: CommonOpts, worker: str, limit: int | None, as_json: bool, args: tuple[str, ...]) -> None:
    cfg = opts.setup()
    if not worker:
        fail("Please specify the worker with -w <worker-id>")
    if len(args) != 1:
        fail("Usage: tunasynctl history -w <worker-id> <mirror> [--limit N] [--json]")
    mirror = args[0]
    runs = run(_history(cfg, worker, mirror, limit))
    if limit is not None:
        runs = runs[:limit]
    if as_json:
        out(gojson.dumps_indent(runs))
        return
    if not runs:
        out(f"No runs recorded for {mirror} on {worker}")
        return
    from rich.console import Console

    console = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 160)
    console.print(history_table(runs, f"{mirror} @ {worker}"))


async def _history(cfg: CtlConfig, worker: str, mirror: str, limit: int | None) -> list[dict[str, Any]]:
    params = {"limit": str(limit)} if limit else None
    async with ManagerClient(cfg) as c:
        try:
            raw = await c.get_json(f"/workers/{seg(worker)}/jobs/{seg(mirror)}/history", params=params)
        except GetJSONError as exc:
            fail(f"Failed to correctly get the run history from manager server: {exc}")
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        fail("Failed to correctly get the run history from manager server: the reply is not a list of runs")
    return raw


@click.command("logs", context_settings=CONTEXT, help="Print the current log of a mirror job (-f: follow it)")
@common
@click.option("--worker", "-w", default="", metavar="WORKER", help="The worker running the mirror")
@click.option("--follow", "-f", is_flag=True, help="Keep streaming new lines until the job ends or Ctrl-C")
@click.argument("args", nargs=-1)
def logs_cmd(opts: CommonOpts, worker: str, follow: bool, args: tuple[str, ...]) -> None:
    cfg = opts.setup()
    if not worker:
        fail("Please specify the worker with -w <worker-id>")
    if len(args) != 1:
        fail("Usage: tunasynctl logs -w <worker-id> <mirror> [-f]")
    try:
        run(_logs(cfg, worker, args[0], follow))
    except KeyboardInterrupt:
        raise Fail("", code=130) from None
    except BrokenPipeError:
        raise Fail("", code=0) from None


async def _logs(cfg: CtlConfig, worker: str, mirror: str, follow: bool) -> None:
    sink = sys.stdout.buffer

    def write(chunk: bytes) -> None:
        sink.write(chunk)
        sink.flush()

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    handled = False
    if task is not None:
        # Ctrl-C ends a followed stream cleanly instead of a traceback from inside the loop.
        try:
            loop.add_signal_handler(signal.SIGINT, task.cancel)
            handled = True
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread (embedded use): KeyboardInterrupt handling stays Python's
    params = {"follow": "1"} if follow else None
    try:
        async with ManagerClient(cfg) as c:
            reply = await c.stream(f"/workers/{seg(worker)}/jobs/{seg(mirror)}/log", params, follow, write)
    except TransportError as exc:
        fail(f"Failed to get the log from manager server: {exc}")
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        if handled:
            loop.remove_signal_handler(signal.SIGINT)
    if reply.status != 200:
        fail(f"Failed to get the log from manager server: HTTP status code is not 200: {reply.status} "
             f"{reply.text.strip()}")


COMMANDS = [history_cmd, logs_cmd]
