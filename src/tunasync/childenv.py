"""The environment of every process the worker (and the archive tier) starts: one place, no secrets.

Jobs (rsync, two-stage rsync, command), their hooks (exec_on_success / exec_on_failure, docker,
zfs, btrfs) and the archive tier's rsync dry runs all get `child_env(overlay)`: the worker's own
environment without the variables that hold our secrets, then the overlay (a mirror's `env`, the
provider's RSYNC_PASSWORD, ...). Go tunasync hands its whole environment to jobs; we do not, because
a job's output lands in its log, and a `read` token may fetch that log from the manager: a job that
prints its environment would otherwise give away the worker's token.

A mirror whose own `env` sets one of these names keeps it: that is written in the config on purpose
(`tunasync worker --check` warns about it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# Variables tunasync reads secrets from. TUNASYNC_TOKEN: the worker's (and tunasynctl's) bearer token.
SECRET_ENV = frozenset({"TUNASYNC_TOKEN"})


def child_env(overlay: Mapping[str, str] | None = None, *, inherit: bool = True) -> dict[str, str]:
    """The environment for a child process: ours without SECRET_ENV (when `inherit`), then `overlay`."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV} if inherit else {}
    if overlay:
        env.update(overlay)
    return env
