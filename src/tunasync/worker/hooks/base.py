"""A job hook acts at five points of a run (docs/compat.md §7). Raising fails the run with
`error exec hook <point>: <exc>`. Default: no-op. pre_job/pre_exec walk the hook list forwards;
post_exec/post_success/post_fail walk it backwards (docs/compat.md §7.7)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import WorkerError

if TYPE_CHECKING:
    from ..providers.base import Provider


class HookError(WorkerError):
    """A hook failed; the message becomes part of `error exec hook <point>: <message>`."""


class JobHook:
    def __init__(self, provider: Provider):
        self.provider = provider

    async def pre_job(self) -> None: ...

    async def pre_exec(self) -> None: ...

    async def post_exec(self) -> None: ...

    async def post_success(self) -> None: ...

    async def post_fail(self) -> None: ...
