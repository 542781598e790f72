"""tunasynctl config layering (docs/compat.md §8.1): /etc → $HOME → -c FILE → env token → flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunasync.cli.ctl_config import CtlConfig, load, ssl_context
from tunasync.errors import ConfigError


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def layers(tmp_path: Path) -> dict[str, Path]:
    home = tmp_path / "home"
    return {
        "system": tmp_path / "etc" / "ctl.conf",
        "home": home,
        "user": home / ".config" / "tunasync" / "ctl.conf",
        "file": tmp_path / "mine.conf",
    }


def _load(layers: dict[str, Path], config: str | None = None, env: dict[str, str] | None = None, **flags):
    return load(config, system_file=layers["system"], env={"HOME": str(layers["home"]), **(env or {})}, **flags)


def test_defaults_without_any_file(layers):
    cfg = _load(layers)
    assert (cfg.manager_addr, cfg.manager_port, cfg.ca_cert, cfg.token) == ("localhost", 14242, "", "")
    assert cfg.base_url == "http://localhost:14242"


def test_later_layers_win_key_by_key(layers):
    _write(layers["system"], 'manager_addr = "sys.example"\nmanager_port = 1000\ntoken = "systok"\n')
    _write(layers["user"], "manager_port = 2000\n")
    _write(layers["file"], 'manager_addr = "file.example"\n')
    cfg = _load(layers, str(layers["file"]))
    assert (cfg.manager_addr, cfg.manager_port, cfg.token) == ("file.example", 2000, "systok")
    assert cfg.loaded == [str(layers["system"]), str(layers["user"]), str(layers["file"])]


def test_flags_override_files_and_port_zero_is_ignored(layers):
    _write(layers["user"], 'manager_addr = "user.example"\nmanager_port = 2000\n')
    cfg = _load(layers, manager="flag.example", port=0)
    assert (cfg.manager_addr, cfg.manager_port) == ("flag.example", 2000)
    assert _load(layers, port=3000).manager_port == 3000


def test_token_from_file_then_env_then_flag(layers):
    _write(layers["user"], 'token = "from-file"\n')
    assert _load(layers).token == "from-file"
    assert _load(layers, env={"TUNASYNC_TOKEN": "from-env"}).token == "from-env"
    assert _load(layers, env={"TUNASYNC_TOKEN": "from-env"}, token="from-flag").token == "from-flag"


def test_keys_match_case_insensitively_and_unknown_keys_are_ignored(layers):
    _write(layers["user"], 'Manager_Addr = "mixed.example"\nMANAGER_PORT = 4242\nfavourite_colour = "blue"\n')
    cfg = _load(layers)
    assert (cfg.manager_addr, cfg.manager_port) == ("mixed.example", 4242)


def test_https_when_a_ca_cert_is_configured():
    assert CtlConfig(manager_addr="m.example", manager_port=443, ca_cert="/ca.pem").base_url == "https://m.example:443"
    assert CtlConfig(manager_addr="::1").base_url == "http://[::1]:14242"


def test_wrong_type_names_file_and_key(layers):
    path = _write(layers["file"], 'manager_port = "14242"\n')
    with pytest.raises(ConfigError) as ei:
        _load(layers, str(path))
    assert ei.value.file == str(path)
    assert ei.value.key == "manager_port"
    assert "expected an integer" in str(ei.value)


def test_malformed_toml_names_the_file(layers):
    path = _write(layers["user"], "manager_port = = 1\n")
    with pytest.raises(ConfigError) as ei:
        _load(layers)
    assert str(path) in str(ei.value)
    assert "malformed TOML" in str(ei.value)


def test_missing_explicit_file_is_an_error(layers):
    with pytest.raises(ConfigError, match="cannot read"):
        _load(layers, str(layers["file"]))


def test_bad_ca_file_is_reported(tmp_path):
    bad = _write(tmp_path / "ca.pem", "not a certificate\n")
    with pytest.raises(ConfigError, match="cannot load CA certificate"):
        ssl_context(CtlConfig(ca_cert=str(bad)))
    with pytest.raises(ConfigError, match="not found"):
        ssl_context(CtlConfig(ca_cert=str(tmp_path / "missing.pem")))
    assert ssl_context(CtlConfig()) is None


def test_toml_1_1_forms_as_go_reads_them(layers):
    # Go's tunasynctl decodes ctl.conf with BurntSushi/toml v1.6.0, which reads TOML 1.1 (\xHH, \e escapes)
    _write(layers["user"], 'manager_addr = "\\x31\\x32\\x37.0.0.1"\nmanager_port = 0x3792\n')
    cfg = _load(layers)
    assert (cfg.manager_addr, cfg.manager_port) == ("127.0.0.1", 14226)
