"""tunasynctl's Go subcommands (docs/compat.md §8.2) with Go's requests, messages and exit codes.

Quirk 13 is fixed here: a worker with zero jobs (the manager answers `null`) lists as empty instead of
failing the whole `list`. Quirk 14 is kept: the `workers` failure text reads "Filed ... frommanager".
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

import click

from ..gotemplate import ExecError, TemplateError, parse
from ..models import ClientCmd, CmdVerb, MirrorSize, MirrorStatus, SyncStatus, gojson
from .ctl_common import CONTEXT, CommonOpts, common, fail, out, run, seg
from .ctl_config import CtlConfig
from .ctl_http import GetJSONError, ManagerClient, TransportError
from .ctl_view import (
    STATUS_TYPE,
    WEB_TYPE,
    DecodeError,
    decode_statuses,
    decode_web,
    decode_workers,
    encode_web,
    status_fields,
)

log = logging.getLogger("tunasynctl")

NOT_200 = "Failed to correctly send command: HTTP status code is not 200: "


# list ------------------------------------------------------------------------------------------

@click.command("list", context_settings=CONTEXT, help="List jobs of workers")
@common
@click.option("--all", "-a", "all_", is_flag=True, help="List all jobs of all workers")
@click.option("--status", "-s", default="", help="Filter output based on status provided")
@click.option("--format", "-f", "format_", default="", help="Pretty-print containers using a Go template")
@click.argument("workers", nargs=-1)
def list_cmd(opts: CommonOpts, all_: bool, status: str, format_: str, workers: tuple[str, ...]) -> None:
    cfg = opts.setup()
    if all_:
        items = run(_list_all(cfg))
        if status:
            wanted: list[SyncStatus] = []
            for s in status.split(","):
                try:
                    wanted.append(SyncStatus.parse(s.strip()))
                except ValueError as exc:
                    fail(f"Error parsing status: {exc}")
            items = [it for it in items or [] if it["Status"] in wanted]
        if format_:
            _print_formatted(format_, items or [], WEB_TYPE)
        else:
            out(gojson.dumps_indent(encode_web(items)))
        return
    if not workers:
        fail('Usage Error: jobs command need at least one arguments or "--all" flag.')
    statuses = run(_list_workers(cfg, workers))
    if format_:
        _print_formatted(format_, [status_fields(s) for s in statuses], STATUS_TYPE)
    else:
        out(gojson.dumps_indent([s.to_go() for s in statuses]))


async def _list_all(cfg: CtlConfig) -> list[dict[str, Any]] | None:
    async with ManagerClient(cfg) as c:
        try:
            return decode_web(await c.get_json("/jobs"))
        except (GetJSONError, DecodeError) as exc:
            fail(f"Failed to correctly get information of all jobs from manager server: {exc}")


async def _list_workers(cfg: CtlConfig, workers: tuple[str, ...]) -> list[MirrorStatus]:
    async with ManagerClient(cfg) as c:

        async def one(worker: str) -> list[MirrorStatus] | None:
            try:
                jobs = decode_statuses(await c.get_json(f"/workers/{seg(worker)}/jobs"))
            except (GetJSONError, DecodeError) as exc:
                log.info("Failed to correctly get jobs for worker %s: %s", worker, exc)
                return None
            return jobs if jobs is not None else []  # quirk 13 fixed: null means "no jobs", not a failure

        result: list[MirrorStatus] = []
        for fut in asyncio.as_completed([one(w) for w in workers]):  # Go: completion order
            jobs = await fut
            if jobs is None:
                fail("Failed to correctly get information of jobs from at least one manager")
            result.extend(jobs)
        return result


def _print_formatted(source: str, items: list[dict[str, Any]], type_name: str) -> None:
    try:
        tpl = parse(source)
    except TemplateError as exc:
        fail(f"Error parsing format template: {exc}")
    for item in items:
        try:
            text = tpl.execute(item, type_name=type_name)
        except ExecError as exc:
            sys.stdout.write(exc.partial)  # Go executes straight into stdout: the part before the error shows
            sys.stdout.flush()
            fail(f"Error printing out information: {exc}")
        out(text)


# workers, flush, rm-worker, set-size -------------------------------------------------------------

@click.command("workers", context_settings=CONTEXT, help="List workers")
@common
@click.argument("ignored", nargs=-1, metavar="")
def workers_cmd(opts: CommonOpts, ignored: tuple[str, ...]) -> None:
    cfg = opts.setup()

    async def go() -> None:
        async with ManagerClient(cfg) as c:
            try:
                workers = decode_workers(await c.get_json("/workers"))
            except (GetJSONError, DecodeError) as exc:
                fail(f"Filed to correctly get informations frommanager server: {exc}")  # sic, quirk 14 kept
        out(gojson.dumps_indent(None if workers is None else [w.to_go() for w in workers]))

    run(go())


@click.command("flush", context_settings=CONTEXT, help="Flush disabled jobs")
@common
@click.argument("ignored", nargs=-1, metavar="")
def flush_cmd(opts: CommonOpts, ignored: tuple[str, ...]) -> None:
    cfg = opts.setup()

    async def go() -> None:
        async with ManagerClient(cfg) as c:
            try:
                reply = await c.request("DELETE", "/jobs/disabled")
            except TransportError as exc:
                fail(f"Failed to send request to manager: {exc}")
        if reply.status != 200:
            fail(NOT_200 + reply.text)
        out("Successfully flushed disabled jobs")

    run(go())


@click.command("rm-worker", context_settings=CONTEXT, help="Remove a worker")
@common
@click.option("--worker", "-w", default="", help="worker-id of the worker to be removed")
@click.argument("args", nargs=-1)
def rm_worker_cmd(opts: CommonOpts, worker: str, args: tuple[str, ...]) -> None:
    cfg = opts.setup()
    if args:
        fail("Usage: tunasynctl -w <worker-id>")
    if not worker:
        fail("Please specify the <worker-id>")

    async def go() -> None:
        async with ManagerClient(cfg) as c:
            try:
                reply = await c.request("DELETE", f"/workers/{seg(worker)}")
            except TransportError as exc:
                fail(f"Failed to send request to manager: {exc}")
        if reply.status != 200:
            fail(NOT_200 + reply.text)
        try:
            msg = json.loads(reply.body).get("message")
        except (ValueError, AttributeError):
            msg = None
        if msg != "deleted":
            fail("Failed to remove the worker")
        out("Successfully removed the worker")

    run(go())


@click.command("set-size", context_settings=CONTEXT, help="Set mirror size")
@common
@click.option("--worker", "-w", default="", help="specify worker-id of the mirror job")
@click.argument("args", nargs=-1)
def set_size_cmd(opts: CommonOpts, worker: str, args: tuple[str, ...]) -> None:
    cfg = opts.setup()
    if len(args) != 2:
        fail("Usage: tunasynctl set-size -w <worker-id> <mirror> <size>")
    mirror, size = args

    async def go() -> None:
        async with ManagerClient(cfg) as c:
            try:
                reply = await c.request("POST", f"/workers/{seg(worker)}/jobs/{seg(mirror)}/size",
                                        MirrorSize(name=mirror, size=size).to_go())
            except TransportError as exc:
                fail(f"Failed to send request to manager: {exc}")
        if reply.status != 200:
            fail(f"Manager failed to update mirror size: {reply.text}")
        try:
            got = MirrorStatus.model_validate_json(reply.body).size
        except ValueError:
            got = ""  # Go ignores the decode error and compares the zero value
        if got != size:
            fail(f"Mirror size error, expecting {size}, manager returned {got}")
        out(f"Successfully updated mirror size to {size}")

    run(go())


# job and worker commands -------------------------------------------------------------------------

async def _post_cmd(cfg: CtlConfig, cmd: ClientCmd) -> None:
    async with ManagerClient(cfg) as c:
        try:
            reply = await c.request("POST", "/cmd", cmd.to_go())
        except TransportError as exc:
            fail(f"Failed to correctly send command: {exc}")
    if reply.status != 200:
        fail(NOT_200 + reply.text)
    out("Successfully send the command")


def _job_command(verb: CmdVerb, help_: str, force: bool = False) -> click.Command:
    def action(opts: CommonOpts, worker: str, args: tuple[str, ...], force: bool = False) -> None:
        cfg = opts.setup()
        if len(args) not in (1, 2):
            fail("Usage Error: cmd command receive just 1 required positional argument MIRROR "
                 "and 1 optional argument WORKER")
        arg_list = [a.strip() for a in args[1].split(",")] if len(args) == 2 else None
        options = {"force": True} if force else {}
        run(_post_cmd(cfg, ClientCmd(cmd=verb, mirror_id=args[0], worker_id=worker, args=arg_list,
                                     options=options)))

    action.__name__ = f"{verb.value}_cmd"
    f = click.argument("args", nargs=-1)(action)
    if force:
        f = click.option("--force", "-f", is_flag=True, help="Override the concurrent limit")(f)
    f = click.option("--worker", "-w", default="", metavar="WORKER", help="Send the command to WORKER")(f)
    return click.command(verb.value, context_settings=CONTEXT, help=help_)(common(f))


start_cmd = _job_command(CmdVerb.START, "Start a job", force=True)
stop_cmd = _job_command(CmdVerb.STOP, "Stop a job")
disable_cmd = _job_command(CmdVerb.DISABLE, "Disable a job")
restart_cmd = _job_command(CmdVerb.RESTART, "Restart a job")
ping_cmd = _job_command(CmdVerb.PING, "Ping a job")


@click.command("reload", context_settings=CONTEXT, help="Tell worker to reload configurations")
@common
@click.option("--worker", "-w", default="", metavar="WORKER", help="Send the command to WORKER")
@click.argument("ignored", nargs=-1, metavar="")
def reload_cmd(opts: CommonOpts, worker: str, ignored: tuple[str, ...]) -> None:
    cfg = opts.setup()
    if not worker:
        fail("Please specify the worker with -w <worker-id>")
    run(_post_cmd(cfg, ClientCmd(cmd=CmdVerb.RELOAD, worker_id=worker)))


COMMANDS = [list_cmd, flush_cmd, workers_cmd, rm_worker_cmd, set_size_cmd, start_cmd, stop_cmd, disable_cmd,
            restart_cmd, reload_cmd, ping_cmd]
