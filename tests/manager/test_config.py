"""Manager config: Go defaults, TOML, case-insensitive keys, CLI overrides, errors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunasync.errors import ConfigError
from tunasync.manager.config import CliOverrides, ManagerConfig, load_config, read_config

FULL = """
debug = true
[server]
addr = "0.0.0.0"
port = 12345
ssl_cert = "{crt}"
ssl_key = "{key}"
[files]
db_type = "redis"
db_file = "redis://127.0.0.1:6379/0"
status_file = "/tmp/tunasync.json"
[history]
keep = 7
[mirrorz]
abbr = "TUNA"
name = "Tsinghua"
[mirrorz.extra]
x = 1
[[auth.tokens]]
name = "w"
role = "worker"
token = "abc"
[[auth.tokens]]
name = "a"
role = "admin"
token_file = "{tokfile}"
"""


def write(tmp_path: Path, text: str, name: str = "manager.conf") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@pytest.fixture
def full(tmp_path: Path) -> str:
    (tmp_path / "c.pem").write_text("x")
    (tmp_path / "k.pem").write_text("x")
    (tmp_path / "admin.token").write_text("s3cret\n")
    return write(tmp_path, FULL.format(crt=tmp_path / "c.pem", key=tmp_path / "k.pem", tokfile=tmp_path / "admin.token"))


def test_defaults() -> None:
    cfg = load_config(None)
    assert (cfg.server.addr, cfg.server.port, cfg.server.ssl_cert) == ("127.0.0.1", 14242, "")
    assert (cfg.files.db_type, cfg.files.db_file) == ("sqlite", "/var/lib/tunasync/tunasync.db")
    assert cfg.files.status_file == "/var/lib/tunasync/tunasync.json"
    assert cfg.history.keep == 50 and cfg.auth.tokens == [] and cfg.mirrorz == {} and cfg.debug is False


def test_toml_values(full: str, tmp_path: Path) -> None:
    cfg = load_config(full)
    assert cfg.debug and (cfg.server.addr, cfg.server.port) == ("0.0.0.0", 12345)
    assert cfg.files.db_type == "redis" and cfg.history.keep == 7
    assert cfg.mirrorz == {"abbr": "TUNA", "name": "Tsinghua", "extra": {"x": 1}}
    assert [(t.name, t.role, t.token) for t in cfg.auth.tokens] == [("w", "worker", "abc"), ("a", "admin", "s3cret")]
    assert cfg.source == full


def test_cli_overrides(full: str) -> None:
    cfg = load_config(full, CliOverrides(addr="10.0.0.1", port=999, db_file="redis://h/1", cert="only-cert"))
    assert (cfg.server.addr, cfg.server.port, cfg.files.db_file) == ("10.0.0.1", 999, "redis://h/1")
    assert cfg.server.ssl_cert.endswith("c.pem")  # --cert alone is ignored (Go: only as a pair)
    cfg = load_config(None, CliOverrides(port=0, db_type="bolt", db_file="/x/y.db"))
    assert (cfg.server.port, cfg.files.db_type, cfg.files.db_file) == (14242, "bolt", "/x/y.db")


def test_keys_match_case_insensitively(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '[Server]\nADDR = "1.2.3.4"\nPort = 1\n[files]\nDB_Type = "bolt"\n'))
    assert (cfg.server.addr, cfg.server.port, cfg.files.db_type) == ("1.2.3.4", 1, "bolt")


def test_unknown_keys_accepted_but_reported(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nprot = 1\n[nonsense]\na = 1\n')
    cfg, problems = read_config(path)
    assert cfg is not None and cfg.server.port == 14242
    assert sorted((p.level, p.key) for p in problems) == [("warning", "nonsense"), ("warning", "server.prot")]


@pytest.mark.parametrize("text,key,reason", [
    ('[server]\nport = "14242"\n', "server.port", "integer"),
    ('[files]\ndb_type = "mongo"\n', "files.db_type", "unsupported db-type: mongo"),
    ('[[auth.tokens]]\nname = "x"\nrole = "god"\ntoken = "t"\n', "auth.tokens[0].role", "worker"),
    ('[[auth.tokens]]\nname = "x"\nrole = "read"\n', "auth.tokens[0]", "token_file"),
    ('[[auth.tokens]]\nname = "x"\nrole = "read"\ntoken_file = "/nonexistent/tok"\n', "auth.tokens[0].token_file", "cannot read"),
    ('[server]\nssl_cert = "/x.pem"\n', "server.ssl_key", "together"),
    ('[history]\nkeep = 0\n', "history.keep", "at least 1"),
    ('debug = "yes"\n', "debug", "boolean"),
])
def test_errors_name_file_and_key(tmp_path: Path, text: str, key: str, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert (e.value.file, e.value.key) == (path, key)
    assert reason in e.value.reason
    assert str(e.value).startswith(f"{path}: {key}: ")


def test_malformed_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "[server\nport = 1\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert e.value.file == path and "malformed TOML" in e.value.reason and "line 1" in e.value.reason


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(str(tmp_path / "nope.conf"))


def test_model_is_the_reference() -> None:
    assert set(ManagerConfig.model_fields) == {"debug", "server", "files", "auth", "history", "mirrorz", "source"}
