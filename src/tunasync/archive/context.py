"""What every archive step of one mirror is given: settings, index, network, and the hooks around it.

`ArchiveCtx` is built by the CLI (`tunasync archive ...`) and by the worker's archive runner; the steps
(copycheck, store, evict, repair) take it and know nothing of which one called them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .crash import Crash, no_crash
from .index import ArchiveIndex
from .settings import MirrorArchive

if TYPE_CHECKING:
    from ..filecoin.interfaces import FilecoinNetwork

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

    @property
    def policy(self):  # noqa: ANN201 - Policy; a property so a reload's new settings are seen
        return self.ms.policy

    def need_net(self) -> FilecoinNetwork:
        if self.net is None:
            from ..errors import ArchiveError

            raise ArchiveError(f"archive {self.ms.name}: this step needs the Filecoin network")
        return self.net
