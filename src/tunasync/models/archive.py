"""The archive figures a worker posts for one mirror (`POST /workers/:id/jobs/:job/archive`).

The shape is what `archive.status.figures` builds plus the last run's summary (`last_run`, from
`archive.pipeline.RunReport.summary`, or `{"error": ...}` when the run failed): every part optional,
numbers non-negative, maps and strings bounded. Unknown keys are dropped, never stored, so the
public `GET /archive` only ever lists these few bounded figures.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

Count = Annotated[int, Field(ge=0, le=2**63 - 1)]
FileStateName = Literal["local", "hashed", "storing", "stored", "evicted", "cached"]
CopiesKey = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,3}$")]
BundleStateName = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,32}$")]
RunKey = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,64}$")]
RUN_TEXT_MAX = 2048  # a failed run's error text is cut to this, not refused (the figures still count)


def _cut(v: object) -> object:
    return v[:RUN_TEXT_MAX] if isinstance(v, str) else v


RunValue = Count | Annotated[float, Field(ge=0, le=1e18)] | Annotated[str, BeforeValidator(_cut)]


class _Figures(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class FilesBytes(_Figures):
    files: Count = 0
    bytes: Count = 0


class BundleFigures(_Figures):
    count: Count = 0
    padded_bytes: Count = 0


class ArchiveFigures(_Figures):
    states: dict[FileStateName, FilesBytes] | None = None
    copies: Annotated[dict[CopiesKey, Count], Field(max_length=256)] | None = None
    bundles: Annotated[dict[BundleStateName, BundleFigures], Field(max_length=16)] | None = None
    deleted_upstream: FilesBytes | None = None
    evictable_now: FilesBytes | None = None
    next_eviction: Annotated[str, StringConstraints(max_length=64)] | None = None
    copies_wanted: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    keep_years: Annotated[float, Field(ge=0, le=10_000)] | None = None
    updated: Count | None = None
    last_run: Annotated[dict[RunKey, RunValue], Field(max_length=64)] | None = None

    def stored(self) -> dict[str, Any]:
        """What the manager keeps and lists: the posted figures, unknown keys left out."""
        return self.model_dump(mode="json", exclude_unset=True)
