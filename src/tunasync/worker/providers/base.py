"""The provider contract between the job state machine (job.py) and the providers/hooks.

A provider runs one attempt of a mirror sync. The job calls, per run (docs/compat.md §5.3):
    hooks pre_job (forwards)                       once per run
    per attempt:
        hooks pre_exec (forwards)
        await provider.run(started)                runs to the end; raises ProviderError(text) on failure
          - concurrently the job may `await provider.terminate()` (kill / timeout / halt): the whole
            process group gets SIGTERM, SIGKILL after 2 s; `run` then raises ProviderError
        hooks post_exec (backwards)
        hooks post_success / post_fail (backwards)
`started()` is called by `run` once the process (the first stage, for two-stage) has started; the job's
timeout counts from there. ProviderError.args[0] is the Go-compatible text that reaches `error_msg`
(`exit status 23: Partial transfer due to error`, `signal: killed`, `Fail-on-match regexp found 2 matches`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from ...errors import WorkerError
from ...providerkind import ProviderKind
from ..context import JobContext

if TYPE_CHECKING:
    from ..hooks.base import JobHook


class ProviderError(WorkerError):
    """An attempt failed; str(exc) is the text reported to the manager."""


class Provider(ABC):
    kind: ClassVar[ProviderKind]

    def __init__(
        self,
        *,
        name: str,
        upstream: str,
        working_dir: str,
        log_dir: str,
        log_file: str,
        interval: timedelta,
        retry: int,
        timeout: float,
        is_master: bool = True,
        env: dict[str, str] | None = None,
        config: Any = None,
    ):
        self.name = name
        self.upstream = upstream
        self.working_dir = working_dir
        self.log_dir = log_dir
        self.interval = interval
        self.retry = retry if retry > 0 else 2
        self.timeout = timeout  # seconds, 0 = none
        self.is_master = is_master
        self.env = dict(env or {})
        self.config = config  # the MirrorConfig this provider was built from
        self.hooks: list[JobHook] = []
        self.data_size = ""  # set after a successful run, "" when unknown
        self.context = JobContext({"log_file": log_file, "log_dir": log_dir, "working_dir": working_dir})

    @property
    def log_file(self) -> str:
        log_file: str = self.context.get("log_file")
        return log_file

    def add_hook(self, hook: JobHook) -> None:
        self.hooks.append(hook)

    @abstractmethod
    async def run(self, started: Callable[[], None]) -> None:
        """Run one attempt to completion; raise ProviderError on failure."""

    @abstractmethod
    async def terminate(self) -> None:
        """Stop a running attempt (process group: SIGTERM, SIGKILL after 2 s). No-op when idle."""

    @abstractmethod
    def is_running(self) -> bool: ...
