"""The `archive` hook (docs/archive.md, "In the worker").

pre_exec: tell the archive the sync runs (it waits for an eviction batch under way, then no eviction
starts until post_exec), so nothing is evicted under rsync's feet; then write the rsync rules file and
bring the shadow tree of evicted placeholders in line with the index (archive/shadow.py), and hand both
to the provider (rsync gets `--exclude-from` and `--compare-dest`, command scripts
`TUNASYNC_ARCHIVE_EXCLUDE` and `TUNASYNC_ARCHIVE_COMPARE_DEST`). post_exec: the sync has ended.
post_success: queue an archive run in the background and return at once: the sync's success status is never delayed by hashing or deals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..providers.process import ARCHIVE_COMPARE_DEST_KEY, ARCHIVE_EXCLUDE_KEY
from .base import JobHook

if TYPE_CHECKING:
    from ..archive_runner import ArchiveRunner
    from ..providers.base import Provider


class ArchiveHook(JobHook):
    def __init__(self, provider: Provider, runner: ArchiveRunner):
        super().__init__(provider)
        self.runner = runner

    async def pre_exec(self) -> None:
        await self.runner.sync_started(self.provider.name)
        try:
            path = await self.runner.exclude_file(self.provider.name)
        except BaseException:
            self.runner.sync_ended(self.provider.name)  # no post_exec follows a failed pre_exec
            raise
        if path:
            self.provider.context.set(ARCHIVE_EXCLUDE_KEY, path)
            self.provider.context.set(ARCHIVE_COMPARE_DEST_KEY, self.runner.compare_dest(self.provider.name))

    async def post_exec(self) -> None:
        self.runner.sync_ended(self.provider.name)

    async def post_success(self) -> None:
        self.runner.after_success(self.provider.name)
