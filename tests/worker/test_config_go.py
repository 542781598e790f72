"""Go tunasync's own configs load here as they load in Go, and what Go reads in them we read.

Test data: tests/data/go_tunasync/ (see its README: Go's example configs and the TOML blobs of
tuna/tunasync v0.10.0 `worker/config_test.go`). Expected values are the assertions of that Go test.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tunasync.worker.config import check_worker_config, load_worker_config, resolve_mirror
from tunasync.worker.providers.base import ProviderError
from tunasync.worker.providers.build import build_provider

GO = Path(__file__).resolve().parent.parent / "data" / "go_tunasync"
CFG_BLOB = GO / "worker_config_test.L16.cfgBlob.toml"


def _with_include(tmp_path: Path, *includes: str) -> Path:
    """cfgBlob + `[include] include_mirrors = "<dir>/*.conf"`, as the Go test writes it."""
    inc = tmp_path / "inc"
    inc.mkdir()
    for name in includes:
        shutil.copy(GO / name, inc / (name.split(".")[2] + ".conf"))
    path = tmp_path / "worker.conf"
    path.write_text(CFG_BLOB.read_text() + f'\n[include]\ninclude_mirrors = "{inc}/*.conf"')
    return path


def test_valid_config_file(tmp_path):
    # worker/config_test.go "Everything should work on valid config file"
    cfg = load_worker_config(_with_include(tmp_path, "worker_config_test.L99.incBlob1.toml",
                                           "worker_config_test.L112.incBlob2.toml"))
    g = cfg.global_
    assert (g.name, g.interval, g.retry, g.timeout, g.mirror_dir) == ("test_worker", 240, 3, 86400, "/data/mirrors")
    assert cfg.manager.api_base == "https://127.0.0.1:5000" and cfg.server.hostname == "worker1.example.com"
    assert [m.name for m in cfg.mirrors] == ["AOSP", "debian", "fedora", "debian-cd", "debian-security", "ubuntu"]
    aosp, debian, fedora, debian_cd = cfg.mirrors[:4]
    assert (aosp.mirror_dir, aosp.provider, aosp.interval, aosp.retry, aosp.timeout) == \
        ("/data/git/AOSP", "command", 720, 2, 3600)
    assert aosp.env["REPO"] == "/usr/local/bin/aosp-repo"
    assert (debian.mirror_dir, debian.provider, debian.memory_limit) == ("", "two-stage-rsync", 256 << 20)
    assert (fedora.provider, fedora.exclude_file, fedora.memory_limit) == \
        ("rsync", "/etc/tunasync.d/fedora-exclude.txt", 128 << 20)
    assert (debian_cd.provider, debian_cd.memory_limit) == ("two-stage-rsync", 0)


def test_nested_config_file_and_providers(tmp_path):
    # worker/config_test.go "Everything should work on nested config file" and "MirrorSubdir should work"
    cfg = load_worker_config(_with_include(tmp_path, "worker_config_test.L193.incBlob1.toml"))
    assert [m.name for m in cfg.mirrors] == ["AOSP", "debian", "fedora", "debian-security", "ubuntu", "debian-cd"]
    by = {m.name: m for m in cfg.mirrors}
    assert by["debian-security"].use_ipv6 and by["debian-security"].stage1_profile == "debian"
    assert by["ubuntu"].stage1_profile == "ubuntu" and by["ubuntu"].provider == "two-stage-rsync"
    assert by["debian-cd"].use_ipv6 and by["debian-cd"].provider == "rsync"

    sub = load_worker_config(GO / "worker_config_test.L324.cfgBlob1.toml")
    r = {m.name: resolve_mirror(m, sub) for m in sub.mirrors}
    assert r["debian-security"].working_dir == "/data/mirrors/debian/debian-security"
    assert r["ubuntu"].working_dir == "/data/mirrors/debian/ubuntu"
    assert r["ubuntu"].log_file == "/var/log/tunasync/ubuntu/latest.log"
    assert r["debian-cd"].working_dir == "/data/mirrors/debian-cd" and r["debian-cd"].timeout == 86400


async def test_unknown_stage1_profile_fails_that_mirror_only(tmp_path):
    # Go: two_stage_rsync_provider.go Options(1) answers "Invalid Stage 1 Profile" at each run
    cfg = load_worker_config(GO / "worker_config_test.L324.cfgBlob1.toml")
    by = {m.name: m for m in cfg.mirrors}
    ubuntu = build_provider(by["ubuntu"], cfg)
    with pytest.raises(ProviderError, match="^Invalid Stage 1 Profile$"):
        await ubuntu.run(lambda: None)
    build_provider(by["debian-security"], cfg)  # the sibling builds as before


async def test_an_upstream_without_slash_fails_each_run_not_the_worker(tmp_path):
    # Go: provider.go newRsyncProvider refuses it ("rsync upstream URL should ends with /") by panicking
    cfg = load_worker_config(_with_include(tmp_path, "worker_config_test.L99.incBlob1.toml"))
    cd = build_provider(next(m for m in cfg.mirrors if m.name == "debian-cd"), cfg)
    with pytest.raises(ProviderError, match="^rsync upstream URL should ends with /$"):
        await cd.run(lambda: None)


@pytest.mark.parametrize("name", sorted(p.name for p in GO.glob("worker_config_test.*.toml"))
                         + ["docs_zh_CN_workers.conf", "tests_mirrors_aosp.conf", "tests_mirrors_deb_fedora.conf"])
def test_every_go_worker_blob_loads_without_errors(name):
    assert [p for p in check_worker_config(GO / name) if p.level == "error"] == []
    load_worker_config(GO / name)


def test_gos_integration_worker_conf_with_its_relative_include(tmp_path, monkeypatch):
    # tests/worker.conf includes "mirrors/*.conf", relative to the cwd (quirk 32)
    shutil.copy(GO / "tests_worker.conf", tmp_path / "worker.conf")
    (tmp_path / "mirrors").mkdir()
    shutil.copy(GO / "tests_mirrors_aosp.conf", tmp_path / "mirrors" / "aosp.conf")
    shutil.copy(GO / "tests_mirrors_deb_fedora.conf", tmp_path / "mirrors" / "deb_fedora.conf")
    monkeypatch.chdir(tmp_path)
    cfg = load_worker_config("worker.conf")
    assert [m.name for m in cfg.mirrors][:1] == ["AOSP"] and len(cfg.mirrors) >= 2


def test_include_glob_matches_dot_files_like_filepath_glob(tmp_path):
    # Go: worker/config.go expands include_mirrors with filepath.Glob, whose `*` matches a leading dot
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / ".hidden.conf").write_text('[[mirrors]]\nname = "hidden"\nupstream = "rsync://h/a/"\n')
    (inc / "b.conf").write_text('[[mirrors]]\nname = "b"\nupstream = "rsync://h/b/"\n')
    (inc / "c.conf").write_text('[[mirrors]]\nname = "c"\nupstream = "rsync://h/c/"\n')
    path = tmp_path / "w.conf"
    path.write_text(f'[global]\nname = "w"\n[include]\ninclude_mirrors = "{inc}/*.conf"\n')
    assert [m.name for m in load_worker_config(path).mirrors] == ["hidden", "b", "c"]
    path.write_text(f'[global]\nname = "w"\n[include]\ninclude_mirrors = "{inc}/[^b].conf"\n')  # Go's negation
    assert [m.name for m in load_worker_config(path).mirrors] == ["c"]


def test_toml_1_1_as_burntsushi_reads_it(tmp_path):
    # BurntSushi/toml v1.6.0 (tuna/tunasync go.mod) parses TOML 1.1: inline tables over several lines with a
    # trailing comma, \e and \xHH escapes
    path = tmp_path / "w.conf"
    path.write_text('[global]\nname = "w"\n[[mirrors]]\nname = "m"\nupstream = "rsync://h/m/"\n'
                    'env = {\n  GREETING = "\\x41\\e[0m",\n  MODE = "fast",\n}\nmemory_limit = ".5G"\n')
    [m] = load_worker_config(path).mirrors
    assert m.env == {"GREETING": "A\x1b[0m", "MODE": "fast"}
    assert m.memory_limit == 1 << 29


@pytest.mark.parametrize(("text", "line"), [('[global]\nname = "w"\nx = {\n  a = 1\n  b = 2 }\n', 5),
                                            ('[global]\nname = "w\\q"\n', 2)])
def test_toml_errors_name_file_and_line(tmp_path, text, line):
    path = tmp_path / "w.conf"
    path.write_text(text)
    [p] = [p for p in check_worker_config(path) if p.level == "error"]
    assert p.file == str(path) and f"line {line}" in p.reason and p.reason.startswith("invalid TOML")
