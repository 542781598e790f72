"""The worker config as typed models, one per TOML section (spec §4.1–§4.2, DESIGN "Worker config, archive").

Attribute names are the TOML keys (`[global]` is `global_`). Defaults are Go's zero values, so a key
left out and a key set to its empty value mean the same thing, as in Go (the nested-mirror merge of
config_merge.py relies on that). Validation is strict like BurntSushi/toml: a string where a number
belongs is an error, never a conversion. The loader (config.py) matches keys and reports problems.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from .sizes import parse_size

PROVIDERS = ("rsync", "two-stage-rsync", "command")
STAGE1_PROFILES = ("debian", "debian-oldstyle")


class Section(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=True, validate_default=False)


def _size(value: Any) -> int:
    """A go-units size given as a string or an integer (BurntSushi hands integers to UnmarshalText)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected a size such as \"256M\" or a number of bytes, got {value!r}")
    if value == "":
        return 0
    return parse_size(value)


class GlobalConfig(Section):
    name: str = ""
    log_dir: str = ""
    mirror_dir: str = ""
    concurrent: int = 0
    interval: int = 0  # minutes
    retry: int = 0
    timeout: int = 0  # seconds
    rsync_options: list[str] = []
    exec_on_success: list[str] = []
    exec_on_failure: list[str] = []
    dangerous_global_success_exit_codes: list[int] = []
    dangerous_global_rsync_success_exit_codes: list[int] = []


class ManagerConfig(Section):
    api_base: str = ""
    api_base_list: list[str] = []
    ca_cert: str = ""
    token: str = ""  # Go reads and ignores it; ours: the bearer token (env TUNASYNC_TOKEN wins)

    def api_base_list_effective(self) -> list[str]:
        return list(self.api_base_list) if self.api_base_list else [self.api_base]


class ServerConfig(Section):
    hostname: str = ""
    listen_addr: str = ""
    listen_port: int = 0
    ssl_cert: str = ""
    ssl_key: str = ""


class CgroupConfig(Section):
    enable: bool = False
    group: str = ""
    base_path: str = ""  # accepted and ignored, as in Go (cgroupfs lives at /sys/fs/cgroup)
    subsystem: str = ""  # accepted and ignored: controllers are detected


class DockerConfig(Section):
    enable: bool = False
    volumes: list[str] = []
    options: list[str] = []


class ZfsConfig(Section):
    enable: bool = False
    zpool: str = ""


class BtrfsSnapshotConfig(Section):
    enable: bool = False
    snapshot_path: str = ""


class IncludeConfig(Section):
    include_mirrors: str = ""


class ArchiveConfig(Section):
    """`[archive]`: the Filecoin archive tier (schema and validation only; archive/ uses it)."""

    network: Literal["devnet", "filecoin"] = "devnet"
    devnet_url: str = "http://127.0.0.1:14300"
    lotus_url: str = ""
    lotus_token: str = ""
    ipni_url: str = "https://cid.contact"
    singularity_url: str = ""
    providers: list[str] = []  # storage provider IDs the Singularity backend makes deals with
    gateways: list[str] = []
    copies: Annotated[int, Field(ge=1)] = 3
    keep_years: Annotated[float, Field(ge=0)] = 2.0
    profile: Literal["ipfs-car", "kubo-v1", "kubo"] = "ipfs-car"
    bundle_size: Annotated[int, Field(gt=0)] = 1 << 30  # bytes; TOML takes "1GiB"-style strings or an integer
    index_dir: str = "/var/lib/tunasync/archive"
    cache_budget: int | None = None  # bytes of retrieved files kept on disk; None = no budget
    count_foreign_copies: bool = True
    verify_before_evict: bool = True
    piece_url: str = ""

    @field_validator("bundle_size", "cache_budget", mode="before")
    @classmethod
    def _sizes(cls, value: Any) -> Any:
        return None if value is None else _size(value)


# TOML key -> Go field name (spec §4.2): the names log_dir templates can use.
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
    provider: str = "rsync"
    upstream: str = ""
    interval: int = 0  # minutes; 0 -> global.interval
    retry: int = 0
    timeout: int = 0  # seconds
    mirror_dir: str = ""
    mirror_subdir: str = ""
    log_dir: str = ""
    env: dict[str, str] = {}
    role: str = ""
    exec_on_success: list[str] = []
    exec_on_failure: list[str] = []
    exec_on_success_extra: list[str] = []
    exec_on_failure_extra: list[str] = []
    success_exit_codes: list[int] = []
    rsync_success_exit_codes: list[int] = []
    command: str = ""
    fail_on_match: str = ""
    size_pattern: str = ""
    use_ipv6: bool = False
    use_ipv4: bool = False
    exclude_file: str = ""
    username: str = ""
    password: str = ""
    rsync_no_timeout: bool = False
    rsync_timeout: int = 0
    rsync_options: list[str] = []
    rsync_override: list[str] = []
    rsync_override_only: bool = False
    stage1_profile: str = ""
    memory_limit: int = 0  # bytes, from a go-units size string
    docker_image: str = ""
    docker_volumes: list[str] = []
    docker_options: list[str] = []
    snapshot_path: str = ""
    # Beyond Go: cron scheduling and the archive tier.
    cron: str | None = None
    timezone: str | None = None
    archive: bool = False
    copies: Annotated[int, Field(ge=0)] = 0  # 0 -> [archive] copies
    keep_years: Annotated[float, Field(ge=0)] = 0.0  # 0 -> [archive] keep_years

    # Where the entry came from, for error messages; not part of equality in diff_mirrors.
    _file: str = PrivateAttr("")
    _key: str = PrivateAttr("")

    @field_validator("memory_limit", mode="before")
    @classmethod
    def _memory(cls, value: Any) -> int:
        return _size(value)

    @field_validator("provider", mode="before")
    @classmethod
    def _provider(cls, value: Any) -> str:
        # BurntSushi hands any scalar to the enum's UnmarshalText; only the three names pass.
        if value not in PROVIDERS or not isinstance(value, str):
            raise ValueError(
                f"invalid provider {value!r}: expected rsync, two-stage-rsync or command "
                "(Go: Invalid value to provierEnum)"
            )
        return value

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
    manager: ManagerConfig = Field(default_factory=ManagerConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    cgroup: CgroupConfig = Field(default_factory=CgroupConfig)
    docker: DockerConfig = Field(default_factory=DockerConfig)
    zfs: ZfsConfig = Field(default_factory=ZfsConfig)
    btrfs_snapshot: BtrfsSnapshotConfig = Field(default_factory=BtrfsSnapshotConfig)
    include: IncludeConfig = Field(default_factory=IncludeConfig)
    archive: ArchiveConfig = Field(default_factory=ArchiveConfig)
    mirrors: list[MirrorConfig] = []
    path: str = ""

    def mirror(self, name: str) -> MirrorConfig | None:
        return next((m for m in self.mirrors if m.name == name), None)


SECTIONS: dict[str, type[Section]] = {
    "global": GlobalConfig, "manager": ManagerConfig, "server": ServerConfig, "cgroup": CgroupConfig,
    "docker": DockerConfig, "zfs": ZfsConfig, "btrfs_snapshot": BtrfsSnapshotConfig,
    "include": IncludeConfig, "archive": ArchiveConfig,
}
