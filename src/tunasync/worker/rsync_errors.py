"""rsync exit codes and their meaning (docs/compat.md §1.9), as rsync's own `rerr_names` table words them."""

from __future__ import annotations

RSYNC_ERRORS: dict[int, str] = {
    0: "Success",
    1: "Syntax or usage error",
    2: "Protocol incompatibility",
    3: "Errors selecting input/output files, dirs",
    4: (
        "Requested action not supported: an attempt was made to manipulate 64-bit files on a platform "
        "that cannot support them; or an option was specified that is supported by the client and not "
        "by the server."
    ),
    5: "Error starting client-server protocol",
    6: "Daemon unable to append to log-file",
    10: "Error in socket I/O",
    11: "Error in file I/O",
    12: "Error in rsync protocol data stream",
    13: "Errors with program diagnostics",
    14: "Error in IPC code",
    20: "Received SIGUSR1 or SIGINT",
    21: "Some error returned by waitpid()",
    22: "Error allocating core memory buffers",
    23: "Partial transfer due to error",
    24: "Partial transfer due to vanished source files",
    25: "The --max-delete limit stopped deletions",
    30: "Timeout in data send/receive",
    35: "Timeout waiting for daemon connection",
}


def explain(code: int) -> str:
    """The meaning of an rsync exit code, "" when rsync does not define it."""
    return RSYNC_ERRORS.get(code, "")


def log_line(code: int) -> str:
    """The line Go appends to the job log after a failed rsync (an empty line for unknown codes)."""
    text = explain(code)
    return f"rsync error: {text}" if text else ""
