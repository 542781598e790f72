"""The one TOML reader (src/tunasync/tomlfile.py) behind all four loaders: worker (and its include files),
manager, tunasynctl (and the `[archive]` section, which the worker's loader reads and validates). TOML 1.1 as BurntSushi/toml v1.6.0 reads it
(tuna/tunasync v0.10.0 go.mod); its errors name the file and the line."""

from __future__ import annotations

import pytest

from tunasync.errors import ConfigError
from tunasync.tomlfile import Problem, Problems, parse_toml
from tunasync.worker.config import load_worker_config

TOML_11 = b'''
a = { x = 1,
      y = "\\e[1m\\x41",
}
t = 07:32
'''


def test_toml_1_1_forms():
    doc = parse_toml(TOML_11, "x.toml")
    assert doc["a"] == {"x": 1, "y": "\x1b[1mA"}
    assert str(doc["t"]) == "07:32:00"  # seconds may be left out in 1.1


def test_archive_section_reads_toml_1_1(tmp_path):
    path = tmp_path / "worker.conf"
    path.write_text('[archive]\nnetwork = "devnet"\nproviders = [\n  "f01000",\n]\n'
                    '[[mirrors]]\nname = "m"\nprovider = "command"\ncommand = "true"\nenv = {\n  A = "1",\n}\n')
    cfg = load_worker_config(path)
    assert cfg.archive.providers == ["f01000"] and cfg.mirrors[0].env == {"A": "1"}


def test_syntax_error_names_file_and_line():
    with pytest.raises(ConfigError) as err:
        parse_toml(b'a = 1\nb = "\\q"\n', "conf.toml")
    assert err.value.file == "conf.toml" and "line 2" in err.value.reason and err.value.reason.startswith("invalid TOML")


def test_one_problem_class_for_every_loader(tmp_path):
    import tunasync.manager.config as manager_config
    import tunasync.worker.config as worker_config

    assert worker_config.Problem is manager_config.Problem is Problem
    problems = Problems()
    assert problems.read(str(tmp_path / "missing.conf")) is None
    [p] = problems
    assert (p.level, p.file) == ("error", str(tmp_path / "missing.conf")) and "cannot read" in p.reason
