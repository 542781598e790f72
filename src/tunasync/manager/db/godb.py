"""Where a `[files]` db_type/db_file pair puts our data, and refusal to hide a Go database.

Go's `bolt` keeps one file, `badger` and `leveldb` a directory. We accept those db_types for a
drop-in config and keep our data in SQLite there (docs/architecture.md, "Names shared
across the code"); but if the path already
holds a Go database we stop with instructions, so an operator never gets a silently empty manager.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError

BOLT_MAGIC = 0xED0CDAED
# bbolt page header: pgid u64, flags u16, count u16, overflow u32; the meta (magic first) follows.
_BOLT_META_OFFSET = 16
_SQLITE_HEADER = b"SQLite format 3\x00"
KEY = "files.db_file"


@dataclass(frozen=True)
class Storage:
    kind: str  # "sqlite" | "redis"
    location: str  # SQLite file path or redis URL


def _is_bolt(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536 + 32)
    except OSError:
        return False
    # Meta page 0 sits at offset 0; meta page 1 one page later (page size unknown if page 0 is torn).
    for page in (0, 4096, 8192, 16384, 65536):
        off = page + _BOLT_META_OFFSET
        if len(head) >= off + 4 and struct.unpack_from("<I", head, off)[0] == BOLT_MAGIC:
            return True
    return False


def detect_go_database(path: str) -> str | None:
    """'bolt', 'badger' or 'leveldb' when `path` already holds that Go database, else None."""
    p = Path(path)
    if p.is_file():
        return "bolt" if _is_bolt(p) else None
    if not p.is_dir():
        return None
    names = os.listdir(p)
    if "CURRENT" in names and any(n.startswith("MANIFEST-") for n in names):
        return "leveldb"
    if "MANIFEST" in names and any(n.endswith((".vlog", ".sst")) for n in names):
        return "badger"
    return None


def _refuse(kind: str, db_file: str, config_file: str | None) -> ConfigError:
    if kind == "bolt":
        how = f"run `tunasync manager migrate --from-bolt {db_file}` to import it"
    else:
        how = ("while the Go manager still runs, import it with `tunasync manager migrate --from-url "
               "http://<go-manager>:14242`, which keeps paused and disabled states; or move it away and "
               "start fresh (workers repopulate their statuses on their next post, paused/disabled are lost)")
    return ConfigError(config_file, KEY, f"{db_file} holds a Go tunasync {kind} database; {how}")


def resolve_storage(db_type: str, db_file: str, config_file: str | None = None, create: bool = True) -> Storage:
    """Map a Go-style db_type/db_file to our storage, refusing paths that hold a Go database.

    `create` makes the badger/leveldb directory (Go creates it too); `--check` passes False.
    """
    if db_type == "redis":
        if not db_file.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(config_file, KEY, f"db_type redis needs a redis URL, not {db_file!r}")
        return Storage("redis", db_file)
    if db_type not in ("sqlite", "bolt", "badger", "leveldb"):
        raise ConfigError(config_file, "files.db_type", f"unsupported db-type: {db_type}")
    if not db_file:
        raise ConfigError(config_file, KEY, "db_file is empty")
    found = detect_go_database(db_file)
    if found:
        raise _refuse(found, db_file, config_file)
    if db_type in ("badger", "leveldb"):
        path = os.path.join(db_file, "tunasync.sqlite")
        if os.path.isfile(db_file):
            raise ConfigError(config_file, KEY, f"db_type {db_type} needs a directory, {db_file} is a file")
        if create:
            os.makedirs(db_file, exist_ok=True)
    else:
        path = db_file
        if os.path.isdir(path):
            raise ConfigError(config_file, KEY, f"{path} is a directory, db_type {db_type} needs a file")
    if os.path.isfile(path) and os.path.getsize(path) > 0:
        with open(path, "rb") as fh:
            if fh.read(16) != _SQLITE_HEADER:
                raise ConfigError(config_file, KEY, f"{path} exists and is not a SQLite database")
    return Storage("sqlite", path)
