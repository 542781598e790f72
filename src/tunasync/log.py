"""Logging in Go tunasync's line format (docs/compat.md §2.2): `[YY-MM-DD HH:MM:SS][LEVEL] message`.

Levels DEBUG, INFO, NOTICE, WARN, ERROR; default threshold NOTICE, `--verbose` INFO, `--debug` DEBUG
(adds `[file:line]`). `--with-systemd` drops the timestamp: journald adds its own.
"""

from __future__ import annotations

import logging
import os
import sys

from .models.names import escape_text

NOTICE = 25
logging.addLevelName(NOTICE, "NOTICE")
logging.addLevelName(logging.WARNING, "WARN")


class GoFormatter(logging.Formatter):
    def __init__(self, debug: bool = False, systemd: bool = False):
        super().__init__()
        self.debug = debug
        self.systemd = systemd
        self._stamp = (-1, "")  # (second, "[yy-mm-dd HH:MM:SS]"): a busy manager logs many lines a second

    def format(self, record: logging.LogRecord) -> str:
        parts = []
        if not self.systemd:
            sec = int(record.created)
            if sec != self._stamp[0]:
                self._stamp = (sec, "[" + self.formatTime(record, "%y-%m-%d %H:%M:%S") + "]")
            parts.append(self._stamp[1])
        parts.append(f"[{record.levelname}]")
        if self.debug:
            parts.append(f"[{os.path.basename(record.pathname)}:{record.lineno}]")
        msg = "".join(parts) + " " + record.getMessage()
        if record.exc_info:
            msg += "\n" + self.formatException(record.exc_info)
        return msg


def setup_logging(verbose: bool = False, debug: bool = False, systemd: bool | None = False) -> None:
    """Configure the root logger for a daemon or CLI, writing to stdout as Go does."""
    level = logging.DEBUG if debug else logging.INFO if verbose else NOTICE
    if systemd is None:
        systemd = False
    # Under systemd journald stamps every line itself: never print a second timestamp there.
    systemd = systemd or bool(os.environ.get("JOURNAL_STREAM"))
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(GoFormatter(debug=debug, systemd=systemd))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _escape_arg(arg: object) -> object:
    if isinstance(arg, str):
        return escape_text(arg)
    if arg is None or isinstance(arg, int | float):
        return arg
    text = str(arg)
    escaped = escape_text(text)
    return arg if escaped == text else escaped


def escape_filter(record: logging.LogRecord) -> bool:
    """A logging filter: the record's arguments (names, paths, errors that came from clients) are
    printed with control characters escaped, so they cannot add or repaint log lines."""
    args = record.args
    if isinstance(args, tuple):
        record.args = tuple(_escape_arg(a) for a in args)
    elif isinstance(args, dict):
        record.args = {k: _escape_arg(v) for k, v in args.items()}
    return True


def notice(logger: logging.Logger, msg: str, *args: object) -> None:
    logger.log(NOTICE, msg, *args)
