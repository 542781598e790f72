"""Go db_type values map to our storage; a path holding a Go database is refused with instructions."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tunasync.errors import ConfigError
from tunasync.manager.db import open_database
from tunasync.manager.db.godb import BOLT_MAGIC, detect_go_database, resolve_storage


def write_bolt(path: Path, page_size: int = 4096) -> None:
    """A file shaped like bbolt's first two meta pages (header 16 bytes, then magic, version 2)."""
    page = bytearray(page_size)
    struct.pack_into("<QHHI", page, 0, 0, 0x04, 0, 0)
    struct.pack_into("<III", page, 16, BOLT_MAGIC, 2, page_size)
    path.write_bytes(bytes(page) * 4)


def test_bolt_file_is_refused_with_migration_command(tmp_path: Path) -> None:
    f = tmp_path / "tunasync.db"
    write_bolt(f)
    assert detect_go_database(str(f)) == "bolt"
    for db_type in ("bolt", "sqlite"):  # a Go config without db_type means bolt: same refusal
        with pytest.raises(ConfigError) as e:
            resolve_storage(db_type, str(f), "/etc/tunasync/manager.conf")
        assert e.value.file == "/etc/tunasync/manager.conf" and e.value.key == "files.db_file"
        assert f"tunasync manager migrate --from-bolt {f}" in e.value.reason
    assert f.read_bytes()[16:20] == struct.pack("<I", BOLT_MAGIC)  # untouched


def test_torn_first_meta_page_still_detected(tmp_path: Path) -> None:
    f = tmp_path / "x.db"
    write_bolt(f)
    data = bytearray(f.read_bytes())
    data[16:20] = b"\0\0\0\0"
    f.write_bytes(bytes(data))
    assert detect_go_database(str(f)) == "bolt"


@pytest.mark.parametrize("kind,files", [
    ("badger", ["MANIFEST", "000001.vlog", "KEYREGISTRY"]),
    ("leveldb", ["CURRENT", "MANIFEST-000002", "000003.log", "LOCK"]),
])
def test_go_directory_databases_refused(tmp_path: Path, kind: str, files: list[str]) -> None:
    d = tmp_path / "db"
    d.mkdir()
    for name in files:
        (d / name).write_bytes(b"x")
    assert detect_go_database(str(d)) == kind
    with pytest.raises(ConfigError, match="migrate --from-url .* which keeps paused and disabled states"):
        resolve_storage(kind, str(d))


def test_where_the_data_goes(tmp_path: Path) -> None:
    assert resolve_storage("bolt", str(tmp_path / "t.db")).location == str(tmp_path / "t.db")
    s = resolve_storage("badger", str(tmp_path / "bdir"))
    assert (s.kind, s.location) == ("sqlite", str(tmp_path / "bdir" / "tunasync.sqlite"))
    assert (tmp_path / "bdir").is_dir()
    assert resolve_storage("redis", "redis://127.0.0.1:1/0").kind == "redis"


def test_bad_types_and_paths(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unsupported db-type: mongo") as e:
        resolve_storage("mongo", str(tmp_path / "x"), "m.conf")
    assert e.value.key == "files.db_type"
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"hello, this is not sqlite at all")
    with pytest.raises(ConfigError, match="is not a SQLite database"):
        resolve_storage("sqlite", str(junk))
    with pytest.raises(ConfigError, match="needs a redis URL"):
        resolve_storage("redis", "/var/lib/x.db")


async def test_open_database_names_the_key_on_failure(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        await open_database("sqlite", str(tmp_path / "missing-dir" / "t.db"), "m.conf")
    assert (e.value.file, e.value.key) == ("m.conf", "files.db_file")
