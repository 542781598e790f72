"""Go tunasync's manager configs load here, and the manager reads TOML 1.1 as Go's BurntSushi/toml 1.6 does.

Test data: tests/data/go_tunasync/ (tuna/tunasync v0.10.0 `tests/manager.conf` and the blob of
`manager/config_test.go`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tunasync.errors import ConfigError
from tunasync.manager.config import load_config, read_config

GO = Path(__file__).resolve().parent.parent / "data" / "go_tunasync"


def test_manager_config_test_blob():
    # manager/config_test.go "toml decoding should work"
    cfg = load_config(str(GO / "manager_config_test.L15.cfgBlob.toml"))
    assert (cfg.server.addr, cfg.server.port) == ("0.0.0.0", 5000)
    assert cfg.files.status_file == "/tmp/tunasync.json" and cfg.files.db_file == "/var/lib/tunasync/tunasync.db"
    assert cfg.debug is True


def test_integration_manager_conf(tmp_path, monkeypatch):
    # tests/manager.conf names its TLS and CA files relative to the cwd, where Go's integration run has them
    monkeypatch.chdir(tmp_path)
    for name in ("manager.crt", "manager.key", "rootCA.crt"):
        (tmp_path / name).write_text("placeholder\n")
    cfg = load_config(str(GO / "tests_manager.conf"))
    assert (cfg.server.port, cfg.files.db_type, cfg.files.ca_cert) == (12345, "bolt", "rootCA.crt")


def test_toml_1_1(tmp_path):
    path = tmp_path / "m.conf"
    path.write_text('[server]\naddr = "127.0.0.1"\nport = 14242\n[mirrorz]\nsite = {\n  abbr = "\\x54UNA",\n'
                    '  name = "tuna\\e",\n}\n')
    cfg = load_config(str(path))
    assert cfg.mirrorz["site"] == {"abbr": "TUNA", "name": "tuna\x1b"}


def test_malformed_toml_names_file_and_line(tmp_path):
    path = tmp_path / "m.conf"
    path.write_text('[server]\nport = 1\naddr = "a\\q"\n')
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert err.value.file == str(path) and "malformed TOML" in err.value.reason and "line 3" in err.value.reason
    _, problems = read_config(str(path))
    assert [(p.level, p.file) for p in problems] == [("error", str(path))]
