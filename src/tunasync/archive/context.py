"""What every archive step of one mirror is given: settings, index, network, and the hooks around it.

`ArchiveCtx` is built by the archive runtime (`runtime.ArchiveRuntime.run`) for the CLI (`tunasync
archive ...`) and the worker's archive runner alike; the steps (copycheck, store, evict, repair) take it
and know nothing of which one called them. Blocking work goes through `ctx.to_thread` (the runtime's
executor) and file hashing through `ctx.hash_pool`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from .crash import Crash, no_crash
from .index import ArchiveIndex
from .policy import Policy
from .settings import MirrorArchive

if TYPE_CHECKING:
    from ..filecoin.interfaces import FilecoinNetwork
    from .policy import Policy

P = ParamSpec("P")
T = TypeVar("T")

# (step, done, total, what): a step's progress for rich bars and logs; total 0 = unknown
Progress = Callable[[str, int, int, str], None]


def no_progress(_step: str, _done: int, _total: int, _what: str) -> None:
    pass


@dataclass
class ArchiveCtx:
    ms: MirrorArchive
    index: ArchiveIndex
    net: FilecoinNetwork | None = None  # None: steps that need the network refuse (dry runs, status)
    piece_base: str = ""  # base URL providers fetch our CARs from: <piece_base>/piece/<pieceCid>
    crash: Crash = no_crash
    progress: Progress = no_progress
    # True while the mirror's sync runs: eviction waits (rsync must not see a file vanish mid-run)
    syncing: Callable[[], bool] = field(default=lambda: False)
    concurrency: int = 8  # network requests in flight (copy checks, test retrievals)
    # The runtime's executors (archive/runtime.py); None: the loop's default one (tests building a ctx by hand)
    executor: Executor | None = None  # blocking steps: scans, packing, CommP, the exclude list
    hash_pool: Executor | None = None  # file-hashing workers (hashing.hash_pending(pool=...))

    @property
    def policy(self) -> Policy:  # a property so a reload's new settings are seen
        return self.ms.policy

    async def to_thread(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` on the archive's executor (never the loop's default one, which the
        worker's job path needs for its short calls)."""
        if self.executor is None:
            return await asyncio.to_thread(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    def need_net(self) -> FilecoinNetwork:
        if self.net is None:
            from ..errors import ArchiveError

            raise ArchiveError(f"archive {self.ms.name}: this step needs the Filecoin network")
        return self.net
