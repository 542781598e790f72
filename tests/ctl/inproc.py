"""Run tunasynctl's `main()` inside the test process, in a thread, with its own stdout/stderr and environment.

Under load, starting a Python subprocess per call costs seconds; most tests only need the same code
path, so they run it here. A few tests per file still run the real executable (`ctl(..., real=True)`).
The manager under test keeps serving on the main thread's event loop meanwhile; its log records do not
leak into the captured output because the in-process run logs to its own `tunasynctl` logger.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
from collections.abc import Sequence

from tunasync.cli import ctl as ctl_main
from tunasync.cli import ctl_common
from tunasync.log import NOTICE, GoFormatter

_LOCK = threading.Lock()  # process-global state (stdout, environ) is swapped: one run at a time


def run(env: dict[str, str], args: Sequence[str]) -> tuple[int, str, str]:
    out_b, err_b = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_b, encoding="utf-8", write_through=True)
    err = io.TextIOWrapper(err_b, encoding="utf-8", write_through=True)
    logger = logging.getLogger("tunasynctl")

    def setup_logging(verbose: bool = False, debug: bool = False, systemd: bool = False) -> None:
        handler = logging.StreamHandler(out)
        handler.setFormatter(GoFormatter(debug=debug, systemd=systemd))
        logger.handlers[:] = [handler]
        logger.propagate = False
        logger.setLevel(logging.DEBUG if debug else logging.INFO if verbose else NOTICE)

    with _LOCK:
        saved_env = dict(os.environ)
        saved_streams = sys.stdout, sys.stderr
        saved_setup = ctl_common.setup_logging
        os.environ.clear()
        os.environ.update(env)
        sys.stdout, sys.stderr = out, err
        ctl_common.setup_logging = setup_logging
        try:
            ctl_main.main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            ctl_common.setup_logging = saved_setup
            sys.stdout, sys.stderr = saved_streams
            os.environ.clear()
            os.environ.update(saved_env)
            logger.handlers[:] = []
    return code, out_b.getvalue().decode(), err_b.getvalue().decode()
