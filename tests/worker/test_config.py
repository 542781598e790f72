"""Loading a worker config (docs/compat.md §4.1–§4.3): Go's key rules, nested mirrors, include files, errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tunasync.errors import ConfigError
from tunasync.worker.config import check_worker_config, load_worker_config

BASE = """
[global]
name = "test_worker"
log_dir = "/var/log/tunasync/{{.Name}}"
mirror_dir = "/data/mirrors"
concurrent = 10
interval = 240
retry = 3
timeout = 86400

[manager]
api_base = "https://127.0.0.1:5000"
token = "some_token"

[server]
hostname = "worker1.example.com"
listen_addr = "127.0.0.1"
listen_port = 6000
"""

NESTED = """
[[mirrors]]
    name = "ipv6s"
    use_ipv6 = true
    [[mirrors.mirrors]]
        name = "debians"
        mirror_subdir = "debian"
        provider = "two-stage-rsync"
        stage1_profile = "debian"
        [mirrors.mirrors.env]
        GROUP = "debians"
        [[mirrors.mirrors.mirrors]]
            name = "debian-security"
            upstream = "rsync://test.host/debian-security/"
            [mirrors.mirrors.mirrors.env]
            ONLY_SECURITY = "1"
        [[mirrors.mirrors.mirrors]]
            name = "ubuntu"
            stage1_profile = "PROFILE"
            upstream = "rsync://test.host2/ubuntu/"
    [[mirrors.mirrors]]
        name = "debian-cd"
        provider = "rsync"
        upstream = "rsync://test.host3/debian-cd/"
"""


def write(tmp_path: Path, text: str, name: str = "worker.conf") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_sections_and_go_defaults(tmp_path):
    cfg = load_worker_config(write(tmp_path, BASE))
    assert cfg.global_.name == "test_worker" and cfg.global_.concurrent == 10 and cfg.global_.retry == 3
    assert cfg.manager.api_base_list_effective() == ["https://127.0.0.1:5000"]
    assert cfg.manager.token == "some_token"
    assert cfg.server.listen_port == 6000 and cfg.server.ssl_cert == ""
    assert not cfg.cgroup.enable and not cfg.docker.enable and not cfg.zfs.enable
    assert cfg.mirrors == [] and cfg.path == str(tmp_path / "worker.conf")
    assert cfg.archive.copies == 3 and cfg.archive.bundle_size == 1 << 30 and cfg.archive.profile == "ipfs-car"


def test_api_base_list_wins_and_token_env(tmp_path, monkeypatch):
    path = write(tmp_path, BASE.replace('token = "some_token"', 'api_base_list = ["http://a:1", "http://b:2"]'))
    monkeypatch.setenv("TUNASYNC_TOKEN", "from-env")
    cfg = load_worker_config(path)
    assert cfg.manager.api_base_list_effective() == ["http://a:1", "http://b:2"]
    assert cfg.manager.token == "from-env"


def test_nested_example_of_the_spec(tmp_path):
    # The spec's example gives ubuntu an unknown profile: Go loads it and that mirror fails every run;
    # so do we, with a --check warning naming the nested key.
    path = write(tmp_path, BASE + NESTED)
    assert [m.name for m in load_worker_config(path).mirrors] == ["debian-security", "ubuntu", "debian-cd"]
    [warning] = [p for p in check_worker_config(path) if p.key == "mirrors[0].mirrors[0].mirrors[1].stage1_profile"]
    assert warning.level == "warning" and warning.file == str(tmp_path / "worker.conf")

    cfg = load_worker_config(write(tmp_path, BASE + NESTED.replace("PROFILE", "debian-oldstyle")))
    by_name = {m.name: m for m in cfg.mirrors}
    assert [m.name for m in cfg.mirrors] == ["debian-security", "ubuntu", "debian-cd"]  # leaves only
    sec, ubuntu, cd = by_name["debian-security"], by_name["ubuntu"], by_name["debian-cd"]
    assert sec.provider == "two-stage-rsync" and sec.stage1_profile == "debian" and sec.use_ipv6
    assert ubuntu.stage1_profile == "debian-oldstyle" and ubuntu.mirror_subdir == "debian"
    # provider rsync is "empty" for mergo: debian-cd cannot reset the group's provider... but its
    # own group (ipv6s) never set one, so it is rsync; use_ipv6 is inherited.
    assert cd.provider == "rsync" and cd.use_ipv6 and cd.mirror_subdir == ""
    # Quirk 22 fixed: each leaf has its own env copy, no leaking between siblings.
    assert sec.env == {"GROUP": "debians", "ONLY_SECURITY": "1"}
    assert ubuntu.env == {"GROUP": "debians"}
    assert cd.env == {}
    from tunasync.worker.config_resolve import resolve_mirror

    assert resolve_mirror(sec, cfg).working_dir == "/data/mirrors/debian/debian-security"
    assert resolve_mirror(ubuntu, cfg).working_dir == "/data/mirrors/debian/ubuntu"
    r = resolve_mirror(cd, cfg)
    assert r.working_dir == "/data/mirrors/debian-cd" and r.timeout == 86400
    assert sec.key == "mirrors[0].mirrors[0].mirrors[0]"


def test_child_cannot_unset_parent_values(tmp_path):
    text = BASE + """
    [[mirrors]]
        name = "group"
        provider = "command"
        command = "true"
        use_ipv4 = true
        interval = 5
        [[mirrors.mirrors]]
            name = "child"
            provider = "rsync"
            use_ipv4 = false
            interval = 0
            upstream = "rsync://x/y/"
    """
    (child,) = load_worker_config(write(tmp_path, text)).mirrors
    assert child.provider == "command" and child.use_ipv4 and child.interval == 5  # quirk 22, kept


def test_child_without_name_inherits_and_lists_replace(tmp_path):
    text = BASE + """
    [[mirrors]]
        name = "g"
        provider = "command"
        command = "true"
        rsync_options = ["--a", "--b"]
        [[mirrors.mirrors]]
            rsync_options = ["--c"]
    """
    (child,) = load_worker_config(write(tmp_path, text)).mirrors
    assert child.name == "g" and child.rsync_options == ["--c"]


def test_include_files_come_after_in_sorted_order_relative_to_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, '[[mirrors]]\nname = "b1"\nprovider = "command"\ncommand = "true"\n', "mirrors/b.conf")
    write(tmp_path, '[global]\nname = "ignored"\n[[mirrors]]\nname = "a1"\nprovider = "command"\ncommand = "true"\n'
          '[[mirrors]]\nname = "a2"\nprovider = "command"\ncommand = "true"\n', "mirrors/a.conf")
    main = BASE + '[include]\ninclude_mirrors = "mirrors/*.conf"\n[[mirrors]]\nname = "main"\nupstream = "rsync://h/m/"\n'
    conf = write(tmp_path, main, "etc/worker.conf")
    cfg = load_worker_config(conf)
    assert [m.name for m in cfg.mirrors] == ["main", "a1", "a2", "b1"]
    assert cfg.global_.name == "test_worker"  # only [[mirrors]] of an include counts
    assert cfg.mirrors[1].file == "mirrors/a.conf" and cfg.mirrors[1].key == "mirrors[0]"
    problems = check_worker_config(conf)
    assert any(p.level == "warning" and p.file == "mirrors/a.conf" and p.key == "global" for p in problems)
    # Relative to the cwd, not to the config's directory (quirk 32, kept).
    monkeypatch.chdir(tmp_path / "etc")
    assert [m.name for m in load_worker_config(conf).mirrors] == ["main"]


def test_include_parse_error_fails_the_load(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "[[mirrors]\nname=", "inc/bad.conf")
    with pytest.raises(ConfigError) as err:
        load_worker_config(write(tmp_path, BASE + '[include]\ninclude_mirrors = "inc/*.conf"\n'))
    assert err.value.file == "inc/bad.conf" and "invalid TOML" in err.value.reason


def test_provider_enum_error_names_file_and_key(tmp_path):
    good = "".join(f'[[mirrors]]\nname = "{n}"\nupstream = "rsync://h/{n}/"\n' for n in "xyz")
    path = write(tmp_path, BASE + good + '[[mirrors]]\nname = "d"\nprovider = "ftp"\n')
    with pytest.raises(ConfigError) as err:
        load_worker_config(path)
    assert (err.value.file, err.value.key) == (str(path), "mirrors[3].provider")
    assert "ftp" in err.value.reason and "provierEnum" in str(err.value)


def test_keys_match_case_insensitively_and_unknown_keys_warn(tmp_path):
    text = BASE.replace("concurrent = 10", "Concurrent = 7\nintervall = 5") + """
    [[mirrors]]
    Name = "elvish"
    UPSTREAM = "rsync://rsync.elv.sh/elvish/"
    mirror_type = "whatever"
    """
    path = write(tmp_path, text)
    cfg = load_worker_config(path)
    assert cfg.global_.concurrent == 7 and cfg.mirrors[0].name == "elvish"
    assert cfg.mirrors[0].upstream == "rsync://rsync.elv.sh/elvish/"
    warnings = {(p.key, p.level) for p in check_worker_config(path)}
    assert ("global.intervall", "warning") in warnings and ("mirrors[0].mirror_type", "warning") in warnings


def test_type_errors_are_fatal_and_all_reported(tmp_path):
    text = BASE.replace("concurrent = 10", 'concurrent = "10"') + """
    [[mirrors]]
    name = "m"
    upstream = "rsync://h/m/"
    use_ipv6 = "yes"
    memory_limit = "lots"
    env = { A = 1 }
    """
    path = write(tmp_path, text)
    errors = [(p.file, p.key) for p in check_worker_config(path) if p.level == "error"]
    assert (str(path), "global.concurrent") in errors
    assert (str(path), "mirrors[0].use_ipv6") in errors
    assert (str(path), "mirrors[0].memory_limit") in errors
    assert (str(path), "mirrors[0].env.A") in errors
    with pytest.raises(ConfigError) as err:
        load_worker_config(path)
    assert err.value.key == "global.concurrent"


def test_malformed_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_worker_config(write(tmp_path, "[global\nname = 1"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_worker_config(tmp_path / "nope.conf")


def test_duplicate_names_the_last_wins_with_a_warning(tmp_path):
    # Go: worker.go initJobs keeps jobs in a map by name, so the last mirror of a name wins
    text = BASE + '[[mirrors]]\nname="a"\nupstream="rsync://h/a/"\n[[mirrors]]\nname="a"\nupstream="rsync://h/b/"\n'
    path = write(tmp_path, text)
    [m] = load_worker_config(path).mirrors
    assert m.upstream == "rsync://h/b/"
    [w] = [p for p in check_worker_config(path) if p.reason.startswith("duplicate")]
    assert w.level == "warning" and w.key == "mirrors[0].name" and "mirrors[1]" in w.reason


def test_unnamed_children_inherit_and_collide_and_empty_names_are_skipped(tmp_path):
    text = BASE + """
    [[mirrors]]
    name = "group"
    provider = "command"
        [[mirrors.mirrors]]
        command = "echo one"
        [[mirrors.mirrors]]
        command = "echo two"
    [[mirrors]]
    name = ""
    upstream = "rsync://h/x/"
    """
    path = write(tmp_path, text)
    [m] = load_worker_config(path).mirrors
    assert (m.name, m.command) == ("group", "echo two")
    problems = {p.key: p for p in check_worker_config(path)}
    assert problems["mirrors[0].mirrors[0].name"].level == "warning"
    assert "skipped" in problems["mirrors[1].name"].reason and problems["mirrors[1].name"].level == "warning"


def test_docs_workers_conf_style_keys_load(tmp_path):
    """The keys TUNA's own worker config uses (Go tunasync's docs/zh_CN/workers.conf) all load."""
    text = BASE + r'''
    exec_on_failure = ["bash -c 'echo ${TUNASYNC_JOB_EXIT_STATUS} > ${TUNASYNC_WORKING_DIR}/exit_status'"]
    [docker]
    enable = true
    volumes = ["/home/scripts:/home/scripts:ro"]
    options = ["--cpus", "2"]
    [cgroup]
    enable = true
    base_path = "/sys/fs/cgroup"
    group = "tunasync"
    subsystem = "memory"
    [[mirrors]]
    name = "adobe-fonts"
    interval = 1440
    provider = "command"
    upstream = "https://github.com/adobe-fonts"
    command = "/home/scripts/adobe-fonts.sh"
    size_pattern = "Total size is ([0-9\\.]+[KMGTP]?)"
    docker_image = "tunathu/tunasync-scripts:latest"
    [[mirrors]]
    name = "homebrew-bottles"
    provider = "command"
    upstream = "https://homebrew.bintray.com"
    command = "/home/scripts/linuxbrew-bottles.sh"
    docker_image = "tunathu/homebrew-mirror"
    fail_on_match = "fatal: "
    size_pattern = "size-pack: ([0-9\\.]+[KMGTP])"
    memory_limit = "256M"
    docker_volumes = ["/etc/a:/etc/a:ro"]
    docker_options = ["--dns", "8.8.8.8"]
    [mirrors.env]
    HOMEBREW_REPO = "https://neomirrors.tuna.tsinghua.edu.cn/git/homebrew"
    [[mirrors]]
    name = "CTAN"
    upstream = "rsync://mirrors.rit.edu/CTAN/"
    rsync_options = ["--rsh=ssh -i /home/tunasync-scripts/rsync.key -l tunasync"]
    use_ipv4 = true
    memory_limit = "128MiB"
    role = "slave"
    [[mirrors]]
    name = "git"
    provider = "command"
    upstream = "https://git.example/"
    command = "/home/scripts/git.sh"
    size_pattern = "size-sum: ([0-9\\.]+[KMGTP])"
    '''
    path = write(tmp_path, text)
    assert [p for p in check_worker_config(path) if p.level == "error"] == []
    cfg = load_worker_config(path)
    names = {m.name: m for m in cfg.mirrors}
    assert names["homebrew-bottles"].memory_limit == 256 << 20
    assert names["CTAN"].memory_limit == 128 << 20 and names["adobe-fonts"].memory_limit == 0
    assert names["CTAN"].rsync_options == ["--rsh=ssh -i /home/tunasync-scripts/rsync.key -l tunasync"]
    assert names["homebrew-bottles"].env["HOMEBREW_REPO"].startswith("https://")
    assert cfg.cgroup.group == "tunasync" and cfg.docker.options == ["--cpus", "2"]


def test_archive_section_and_mirror_keys(tmp_path):
    text = BASE + """
    [archive]
    network = "filecoin"
    lotus_url = "https://api.node.glif.io/rpc/v1"
    gateways = ["https://trustless.example"]
    copies = 5
    keep_years = 1.5
    profile = "kubo"
    bundle_size = "512MiB"
    cache_budget = "10G"
    count_foreign_copies = false
    [[mirrors]]
    name = "old"
    upstream = "rsync://h/old/"
    archive = true
    copies = 2
    keep_years = 3
    """
    cfg = load_worker_config(write(tmp_path, text))
    a = cfg.archive
    assert (a.network, a.copies, a.keep_years, a.profile) == ("filecoin", 5, 1.5, "kubo")
    assert a.bundle_size == 512 << 20 and a.cache_budget == 10 << 30 and not a.count_foreign_copies
    assert a.verify_before_evict and a.index_dir == "/var/lib/tunasync/archive"
    m = cfg.mirrors[0]
    assert m.archive and m.copies == 2 and m.keep_years == 3.0

    no_rpc = write(tmp_path, BASE + '[archive]\nnetwork = "filecoin"\n[[mirrors]]\nname = "m"\nupstream = "rsync://h/m/"\n'
                   'archive = true\n', "no-rpc.conf")
    with pytest.raises(ConfigError) as err:
        load_worker_config(no_rpc)
    assert err.value.key == "archive.lotus_url"
    half = write(tmp_path, BASE + '[archive]\nnetwork = "filecoin"\nlotus_url = "https://rpc.example/rpc/v1"\n'
                 '[[mirrors]]\nname = "m"\nupstream = "rsync://h/m/"\narchive = true\n', "half.conf")
    keys = {p.key: p.level for p in check_worker_config(str(half))}
    assert keys["archive.singularity_url"] == "warning" and keys["archive.piece_url"] == "warning"
    half_text = (tmp_path / "half.conf").read_text()
    for piece_url, why in (("https://m.example.org/piece", "ends in /piece: CARs are fetched at <piece_url>/piece/"
                            "<pieceCid>, so providers would ask for https://m.example.org/piece/piece/<pieceCid>; "
                            "set 'https://m.example.org'"),
                           ("http://127.0.0.1:14301", "127.0.0.1 is a loopback address"),
                           ("http://localhost/", "localhost is a loopback address"),
                           ("m.example.org", "is not an http(s) URL")):
        conf = write(tmp_path, half_text.replace("[archive]\n", f'[archive]\npiece_url = "{piece_url}"\n'), "pu.conf")
        got = [p for p in check_worker_config(str(conf)) if p.key == "archive.piece_url"]
        assert [p.level for p in got] == ["warning"] and why in got[0].reason, (piece_url, got)
    good = write(tmp_path, half_text.replace("[archive]\n", '[archive]\npiece_url = "https://m.example.org"\n'), "pu.conf")
    assert not [p for p in check_worker_config(str(good)) if p.key == "archive.piece_url"]

    bad = write(tmp_path, BASE + '[archive]\nnetwork = "ipfs"\nprofile = "x"\nbundle_size = "big"\ncopies = 0\n', "bad.conf")
    keys = {p.key for p in check_worker_config(bad) if p.level == "error"}
    assert keys == {"archive.network", "archive.profile", "archive.bundle_size", "archive.copies"}
