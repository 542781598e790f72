"""The worker config as typed models, one per TOML section (docs/compat.md §4.1–§4.2; [archive]: the README's configuration reference).

Attribute names are the TOML keys (`[global]` is `global_`). Defaults are Go's zero values, so a key
left out and a key set to its empty value mean the same thing, as in Go (the nested-mirror merge of
config_merge.py relies on that). Validation is strict like BurntSushi/toml: a string where a number
belongs is an error, never a conversion. The loader (config.py) matches keys and reports problems.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, PrivateAttr, field_validator

from ..archive.config import MAX_COPIES, MAX_KEEP_YEARS, ArchiveConfig
from ..configmodel import Section, size_value
from ..providerkind import ProviderKind, unknown_reason

PROVIDERS = tuple(k.value for k in ProviderKind)  # in Go's providerEnum order

# Bounds on the numbers (a value outside is an error naming file and key; Go takes any int64 and
# then misbehaves or overflows). Generous: no sane config comes near them.
MAX_MINUTES = 10 * 366 * 24 * 60  # interval: ten years
MAX_SECONDS = MAX_MINUTES * 60  # timeout, rsync_timeout: ten years
MAX_CONCURRENT = 10_000
MAX_RETRY = 1_000
MAX_MEMORY = 1 << 50  # memory_limit: 1 PiB

Minutes = Annotated[int, Field(ge=0, le=MAX_MINUTES)]
Seconds = Annotated[int, Field(ge=0, le=MAX_SECONDS)]
Retries = Annotated[int, Field(ge=0, le=MAX_RETRY)]
Port = Annotated[int, Field(ge=0, le=65535)]
STAGE1_PROFILES = ("debian", "debian-oldstyle")


class GlobalConfig(Section):
    name: str = ""
    """Worker ID used in every manager URL."""
    log_dir: str = ""
    """Log directory template, e.g. /var/log/tunasync/{{.Name}} (Go html/template field names)."""
    mirror_dir: str = ""
    """Base directory of the mirrors."""
    concurrent: Annotated[int, Field(ge=0, le=MAX_CONCURRENT)] = 0
    """Jobs that may run at once; 0 means none run unless force-started (Go default)."""
    interval: Minutes = 0
    """Minutes from the end of a run to the next start; 0 re-runs at once."""
    retry: Retries = 0
    """Attempts per run (not re-tries); 0 means 2."""
    timeout: Seconds = 0
    """Seconds per attempt; 0 means no timeout."""
    rsync_options: list[str] = []
    """Extra options for every rsync-provider mirror (not two-stage)."""
    exec_on_success: list[str] = []
    """Commands run after a successful run, for mirrors without their own list."""
    exec_on_failure: list[str] = []
    """Commands run after every failed attempt, for mirrors without their own list."""
    dangerous_global_success_exit_codes: list[int] = []
    """Exit codes counted as success for every mirror."""
    dangerous_global_rsync_success_exit_codes: list[int] = []
    """Exit codes counted as success for rsync and two-stage mirrors."""


class ManagerConfig(Section):
    api_base: str = ""
    """Manager base URL, e.g. http://localhost:14242."""
    api_base_list: list[str] = []
    """Several managers; when set it replaces api_base and every manager is told everything."""
    ca_cert: str = ""
    """CA file to verify a manager's HTTPS certificate."""
    token: str = ""  # Go reads and ignores it; ours: the bearer token (env TUNASYNC_TOKEN wins)
    """Bearer token for the manager API (Go ignores this key); env TUNASYNC_TOKEN overrides it."""

    def api_base_list_effective(self) -> list[str]:
        return list(self.api_base_list) if self.api_base_list else [self.api_base]


class ServerConfig(Section):
    hostname: str = ""
    """Host name in the URL the worker registers with."""
    listen_addr: str = ""
    """Address the control server binds."""
    listen_port: Port = 0
    """Port the control server binds (Go's examples use 6000)."""
    ssl_cert: str = ""
    """Certificate file: the control server speaks HTTPS when ssl_cert or ssl_key is set."""
    ssl_key: str = ""
    """Key file of ssl_cert."""
    max_connections: int = Field(default=256, ge=1, le=1_000_000)
    """Open control-port connections at once; past it the oldest idle one is closed, or the new one refused."""
    header_timeout: float = Field(default=60.0, gt=0, le=86_400)
    """Seconds a new control-port connection has to send its whole first request head before it is closed."""


class CgroupConfig(Section):
    enable: bool = False
    """Run each job in its own cgroup (v1 or v2, detected); memory_limit applies there."""
    group: str = ""
    """Base group path (e.g. tunasync); empty: the worker's own cgroup (systemd Delegate=yes)."""
    base_path: str = ""  # accepted and ignored, as in Go (cgroupfs lives at /sys/fs/cgroup)
    """Accepted and ignored, as in Go (cgroupfs is /sys/fs/cgroup)."""
    subsystem: str = ""  # accepted and ignored: controllers are detected
    """Accepted and ignored, as in Go (controllers are detected)."""


class DockerConfig(Section):
    enable: bool = False
    """Run mirrors that set docker_image inside `docker run`."""
    volumes: list[str] = []
    """-v specs added to every docker job."""
    options: list[str] = []
    """Extra `docker run` arguments for every docker job."""


class ZfsConfig(Section):
    enable: bool = False
    """Require each working dir to be a mounted ZFS dataset before a run."""
    zpool: str = ""
    """Pool named in the help text printed when a dataset is missing."""


class BtrfsSnapshotConfig(Section):
    enable: bool = False
    """Keep working dirs as Btrfs subvolumes and publish a snapshot after each success."""
    snapshot_path: str = ""
    """Directory of the per-mirror snapshots <snapshot_path>/<name>."""


class IncludeConfig(Section):
    include_mirrors: str = ""
    """Glob of extra TOML files with [[mirrors]] tables, relative to the current directory."""


# TOML key -> Go field name (docs/compat.md §4.2): the names log_dir templates can use.
GO_FIELDS = {
    "name": "Name", "provider": "Provider", "upstream": "Upstream", "interval": "Interval",
    "retry": "Retry", "timeout": "Timeout", "mirror_dir": "MirrorDir", "mirror_subdir": "MirrorSubDir",
    "log_dir": "LogDir", "env": "Env", "role": "Role", "exec_on_success": "ExecOnSuccess",
    "exec_on_failure": "ExecOnFailure", "exec_on_success_extra": "ExecOnSuccessExtra",
    "exec_on_failure_extra": "ExecOnFailureExtra", "success_exit_codes": "SuccessExitCodes",
    "rsync_success_exit_codes": "RsyncSuccessExitCodes", "command": "Command",
    "fail_on_match": "FailOnMatch", "size_pattern": "SizePattern", "use_ipv6": "UseIPv6",
    "use_ipv4": "UseIPv4", "exclude_file": "ExcludeFile", "username": "Username",
    "password": "Password", "rsync_no_timeout": "RsyncNoTimeo", "rsync_timeout": "RsyncTimeout",
    "rsync_options": "RsyncOptions", "rsync_override": "RsyncOverride",
    "rsync_override_only": "RsyncOverrideOnly", "stage1_profile": "Stage1Profile",
    "memory_limit": "MemoryLimit", "docker_image": "DockerImage", "docker_volumes": "DockerVolumes",
    "docker_options": "DockerOptions", "snapshot_path": "SnapshotPath",
}


class MirrorConfig(Section):
    """One `[[mirrors]]` entry; after loading, one merged leaf mirror (nested groups flattened)."""

    name: str = ""
    """Mirror (job) name, unique per worker."""
    provider: str = "rsync"
    """rsync (default), two-stage-rsync or command."""
    upstream: str = ""
    """Upstream URL; rsync providers need a trailing /."""
    interval: Minutes = 0  # 0 -> global.interval
    """Minutes between runs; 0 uses global.interval."""
    retry: Retries = 0
    """Attempts per run; 0 uses global.retry."""
    timeout: Seconds = 0
    """Seconds per attempt; 0 uses global.timeout."""
    mirror_dir: str = ""
    """Exact working directory (wins over mirror_subdir)."""
    mirror_subdir: str = ""
    """Working dir is <global.mirror_dir>/<mirror_subdir>/<name>."""
    log_dir: str = ""
    """Log directory template; overrides global.log_dir."""
    env: dict[str, str] = {}
    """Extra environment of the job process."""
    role: str = ""
    """master (default) or slave."""
    exec_on_success: list[str] = []
    """Replaces global.exec_on_success when non-empty."""
    exec_on_failure: list[str] = []
    """Replaces global.exec_on_failure when non-empty."""
    exec_on_success_extra: list[str] = []
    """Added to the effective exec_on_success list."""
    exec_on_failure_extra: list[str] = []
    """Added to the effective exec_on_failure list."""
    success_exit_codes: list[int] = []
    """Exit codes counted as success."""
    rsync_success_exit_codes: list[int] = []
    """Exit codes counted as success, rsync and two-stage only (e.g. 23, 24)."""
    command: str = ""
    """command provider: the command line; rsync providers: the rsync binary."""
    fail_on_match: str = ""
    """command provider: fail when this regexp matches the log."""
    size_pattern: str = ""
    """command provider: regexp whose first group, last match in the log, is the size."""
    use_ipv6: bool = False
    """rsync providers: -6."""
    use_ipv4: bool = False
    """rsync providers: -4 (use_ipv6 wins)."""
    exclude_file: str = ""
    """rsync providers: --exclude-from this file (mounted read-only in docker)."""
    username: str = ""
    """rsync providers: USER for the rsync daemon."""
    password: str = ""
    """rsync providers: RSYNC_PASSWORD."""
    rsync_no_timeout: bool = False
    """Drop rsync's --timeout option."""
    rsync_timeout: Seconds = 0
    """rsync --timeout seconds; 0 means 120."""
    rsync_options: list[str] = []
    """Extra rsync options (rsync, and stage 2 of two-stage)."""
    rsync_override: list[str] = []
    """rsync provider: replaces the base option list."""
    rsync_override_only: bool = False
    """rsync provider: use rsync_override and nothing else."""
    stage1_profile: str = ""
    """two-stage-rsync: debian or debian-oldstyle."""
    memory_limit: Annotated[int, Field(ge=0, le=MAX_MEMORY)] = 0  # bytes, from a go-units size string
    """Memory limit for cgroup or docker, e.g. 256M (binary units; a bare number is bytes)."""
    docker_image: str = ""
    """Run this mirror in this image (with [docker] enable)."""
    docker_volumes: list[str] = []
    """Extra -v specs for this mirror."""
    docker_options: list[str] = []
    """Extra `docker run` arguments for this mirror."""
    snapshot_path: str = ""
    """btrfs: explicit snapshot path of this mirror."""
    # Beyond Go: cron scheduling and the archive tier.
    cron: str | None = None
    """Cron schedule (5 fields or @daily ...) instead of interval."""
    timezone: str | None = None
    """Time zone of cron (IANA name); default: the system's."""
    archive: bool = False
    """Archive this mirror to Filecoin ([archive] section)."""
    copies: Annotated[int, Field(ge=0, le=MAX_COPIES)] = 0  # 0 -> [archive] copies
    """Copies for this mirror; 0 uses archive.copies."""
    keep_years: Annotated[float, Field(ge=0, le=MAX_KEEP_YEARS)] = 0.0  # 0 -> [archive] keep_years
    """Years on disk for this mirror; 0 uses archive.keep_years."""

    # Where the entry came from, for error messages; not part of equality in diff_mirrors.
    _file: str = PrivateAttr("")
    _key: str = PrivateAttr("")

    @field_validator("memory_limit", mode="before")
    @classmethod
    def _memory(cls, value: Any) -> int:
        return size_value(value)

    @field_validator("provider", mode="before")
    @classmethod
    def _provider(cls, value: Any) -> str:
        # BurntSushi hands any scalar to the enum's UnmarshalText; only the three names pass.
        if ProviderKind.lookup(value) is None:
            raise ValueError(unknown_reason(value))
        return str(value)

    @field_validator("cron", "timezone", mode="before")
    @classmethod
    def _empty_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @property
    def file(self) -> str:
        return self._file

    @property
    def key(self) -> str:
        """TOML path of the entry, e.g. `mirrors[3]` or `mirrors[0].mirrors[1]`."""
        return self._key

    def located(self, file: str, key: str) -> MirrorConfig:
        self._file, self._key = file, key
        return self


class WorkerConfig(Section):
    global_: GlobalConfig = Field(default_factory=GlobalConfig, alias="global")
    """[global]: worker-wide settings."""
    manager: ManagerConfig = Field(default_factory=ManagerConfig)
    """[manager]: where statuses go."""
    server: ServerConfig = Field(default_factory=ServerConfig)
    """[server]: the control server."""
    cgroup: CgroupConfig = Field(default_factory=CgroupConfig)
    """[cgroup]: per-job cgroups."""
    docker: DockerConfig = Field(default_factory=DockerConfig)
    """[docker]: jobs in containers."""
    zfs: ZfsConfig = Field(default_factory=ZfsConfig)
    """[zfs]: datasets as working dirs."""
    btrfs_snapshot: BtrfsSnapshotConfig = Field(default_factory=BtrfsSnapshotConfig)
    """[btrfs_snapshot]: published snapshots."""
    include: IncludeConfig = Field(default_factory=IncludeConfig)
    """[include]: more mirror files."""
    archive: ArchiveConfig = Field(default_factory=ArchiveConfig)
    """[archive]: the Filecoin archive tier."""
    mirrors: list[MirrorConfig] = []
    """The merged leaf mirrors, main file first, then include files (nested groups flattened)."""
    path: str = ""
    """The config file this was loaded from."""

    def mirror(self, name: str) -> MirrorConfig | None:
        return next((m for m in self.mirrors if m.name == name), None)


SECTIONS: dict[str, type[Section]] = {
    "global": GlobalConfig, "manager": ManagerConfig, "server": ServerConfig, "cgroup": CgroupConfig,
    "docker": DockerConfig, "zfs": ZfsConfig, "btrfs_snapshot": BtrfsSnapshotConfig,
    "include": IncludeConfig, "archive": ArchiveConfig,
}
