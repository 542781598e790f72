"""Derived per-mirror values (docs/compat.md §4.4–§4.6) and Go's startup panics as config errors (quirk 27)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.worker.test_config import BASE, write
from tunasync.errors import ConfigError
from tunasync.worker.config import check_worker_config, load_worker_config, resolve_mirror


def load_one(tmp_path, mirror: str, base: str = BASE):
    cfg = load_worker_config(write(tmp_path, base + "[[mirrors]]\n" + mirror))
    return resolve_mirror(cfg.mirrors[0], cfg)


def error_of(tmp_path, mirror: str, base: str = BASE) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        load_worker_config(write(tmp_path, base + "[[mirrors]]\n" + mirror))
    return err.value


def test_log_dir_template_and_defaults(tmp_path):
    r = load_one(tmp_path, 'name = "AOSP"\nprovider = "command"\ncommand = "/bin/true"\n')
    assert r.log_dir == "/var/log/tunasync/AOSP" and r.log_file == "/var/log/tunasync/AOSP/latest.log"
    assert r.interval == timedelta(minutes=240) and r.retry == 3 and r.timeout == 86400
    assert r.working_dir == "/data/mirrors/AOSP" and r.is_master


def test_mirror_values_override_globals(tmp_path):
    r = load_one(tmp_path, 'name = "m"\nupstream = "rsync://h/m/"\ninterval = 5\nretry = 1\ntimeout = 7\n'
                 'mirror_dir = "/exact/dir/"\nlog_dir = "/logs/{{.Name}}-{{.Interval}}-{{.Retry}}"\nrole = "slave"\n')
    assert r.interval == timedelta(minutes=5) and r.retry == 1 and r.timeout == 7
    assert r.working_dir == "/exact/dir/"  # mirror_dir is used as written
    assert r.log_dir == "/logs/m-5-1" and not r.is_master


def test_retry_zero_everywhere_means_two(tmp_path):
    r = load_one(tmp_path, 'name = "m"\nupstream = "rsync://h/m/"\n', BASE.replace("retry = 3", ""))
    assert r.retry == 2


def test_log_dir_is_html_escaped_like_go(tmp_path):
    r = load_one(tmp_path, 'name = "c++ <&>"\nupstream = "rsync://h/m/"\n')
    assert r.log_dir == "/var/log/tunasync/c&#43;&#43; &lt;&amp;&gt;"  # quirk 24, kept


def test_log_dir_template_errors(tmp_path):
    err = error_of(tmp_path, 'name = "m"\nupstream = "rsync://h/m/"\nlog_dir = "/l/{{.Name"\n')
    assert err.key == "mirrors[0].log_dir" and "unclosed action" in err.reason
    bad_global = BASE.replace("{{.Name}}", "{{.Name | nosuchfunc}}")
    err = error_of(tmp_path, 'name = "m"\nupstream = "rsync://h/m/"\n', bad_global)
    assert err.key == "global.log_dir"
    # Unknown field: Go cuts the output there and carries on; we do the same and warn.
    path = write(tmp_path, BASE.replace("{{.Name}}", "{{.Name}}/{{.name}}/x") + '[[mirrors]]\nname = "m"\nupstream = "rsync://h/m/"\n')
    cfg = load_worker_config(path)
    assert resolve_mirror(cfg.mirrors[0], cfg).log_dir == "/var/log/tunasync/m/"
    assert any(p.level == "warning" and "field name" in p.reason for p in check_worker_config(path))


@pytest.mark.parametrize(
    "mirror,key,text",
    [
        ('name = "m"\nupstream = "rsync://h/m/"\nrsync_override_only = true\n', "rsync_override_only", "rsync_override is empty"),
        ('name = "m"\nprovider = "command"\ncommand = "sh -c \'x"\n', "command", "closing quote"),
        ('name = "m"\nprovider = "command"\ncommand = "x"\nfail_on_match = "(["\n', "fail_on_match", "fail-on-match regexp error"),
        ('name = "m"\nprovider = "command"\ncommand = "x"\nsize_pattern = "size: [0-9]+"\n', "size_pattern", "capture group"),
        ('name = "m"\nprovider = "command"\ncommand = "x"\nexec_on_success = ["a \'b"]\n', "exec_on_success[0]", "closing quote"),
        ('name = "m"\nprovider = "command"\ncommand = "x"\ncron = "0 * * *"\n', "cron", "bad cron expression"),
        ('name = "m"\nprovider = "command"\ncommand = "x"\ncron = "@daily"\ninterval = 5\n', "cron", "both set"),
        ('name = "m"\nprovider = "command"\ncommand = "x"\ncron = "@daily"\ntimezone = "Mars/Olympus"\n', "timezone", "unknown time zone"),
    ],
)
def test_go_panics_become_config_errors(tmp_path, mirror, key, text):
    err = error_of(tmp_path, mirror)
    assert err.file == str(tmp_path / "worker.conf")
    assert err.key == f"mirrors[0].{key}"
    assert text in err.reason


@pytest.mark.parametrize(
    "mirror,key,text",
    [
        ('name = "m"\nupstream = "rsync://h/m"\n', "upstream", "should end with /"),
        ('name = "m"\nprovider = "command"\ncommand = ""\n', "command", "empty command"),
        ('name = "m"\nprovider = "command"\ncommand = "\'\' \\"\\""\n', "command", "empty command"),
        ('name = "m"\nprovider = "two-stage-rsync"\nupstream = "rsync://h/m/"\n', "stage1_profile",
         "Invalid Stage 1 Profile"),
        ('name = "m"\nprovider = "two-stage-rsync"\nupstream = "rsync://h/m/"\nstage1_profile = "ubuntu"\n',
         "stage1_profile", "Invalid Stage 1 Profile 'ubuntu'"),
    ],
)
def test_what_gos_loader_accepts_loads_with_a_warning(tmp_path, mirror, key, text):
    """Go's LoadConfig (worker/config.go) takes these; its own config_test.go has a two-stage mirror with
    profile `ubuntu` and two-stage mirrors without upstream. The mirror fails each run (see the provider
    tests), the worker and the other mirrors work; `--check` says so."""
    path = write(tmp_path, BASE + "[[mirrors]]\n" + mirror)
    cfg = load_worker_config(path)
    assert [m.name for m in cfg.mirrors] == ["m"]
    [warning] = [p for p in check_worker_config(path) if p.key == f"mirrors[0].{key}"]
    assert warning.level == "warning" and text in warning.reason and "fails every run" in warning.reason


def test_cron_with_timezone_loads(tmp_path):
    r = load_one(tmp_path, 'name = "m"\nprovider = "command"\ncommand = "x"\ncron = "0 */6 * * *"\ntimezone = "Europe/Berlin"\n')
    assert r.config.cron == "0 */6 * * *" and r.config.timezone == "Europe/Berlin"


def test_command_is_split_and_regexps_compiled_ascii(tmp_path):
    r = load_one(tmp_path, 'name = "m"\nprovider = "command"\ncommand = "bash -c \'echo  a\' \'\'"\n'
                 'size_pattern = "load average: ([\\\\d\\\\.]+)"\nfail_on_match = "fatal: "\n')
    assert r.command_argv == ["bash", "-c", "echo  a"]
    assert r.size_pattern.search("load average: 1.5").group(1) == "1.5"
    assert r.size_pattern.search("load average: \u0661") is None  # RE2's \d is ASCII only
    assert r.fail_on_match.pattern == "fatal: "


def test_rsync_command_is_the_binary_path_not_split(tmp_path):
    r = load_one(tmp_path, 'name = "m"\nupstream = "rsync://h/m/"\ncommand = "/opt/my rsync"\n')
    assert r.rsync_cmd == "/opt/my rsync"


@pytest.mark.parametrize(
    "provider,mirror_codes,expected",
    [
        ("rsync", "success_exit_codes = [20]\nrsync_success_exit_codes = [25]", [10, 20, 23, 24, 25]),
        ("two-stage-rsync", "success_exit_codes = [30]\nrsync_success_exit_codes = [26]", [10, 30, 23, 24, 26]),
        ("command", "success_exit_codes = [40]\nrsync_success_exit_codes = [99]", [10, 40]),
    ],
)
def test_success_exit_codes_merge(tmp_path, provider, mirror_codes, expected):
    base = BASE.replace("timeout = 86400", "timeout = 86400\ndangerous_global_success_exit_codes = [10]\n"
                        "dangerous_global_rsync_success_exit_codes = [23, 24]")
    r = load_one(tmp_path, f'name = "m"\nprovider = "{provider}"\nupstream = "rsync://h/m/"\ncommand = "x"\n'
                 f'stage1_profile = "debian"\n{mirror_codes}\n', base)
    assert r.success_codes == expected


def test_success_exit_codes_dedup(tmp_path):
    base = BASE.replace("timeout = 86400", "timeout = 86400\ndangerous_global_success_exit_codes = [10, 20, 10]\n"
                        "dangerous_global_rsync_success_exit_codes = [23, 24, 23]")
    r = load_one(tmp_path, 'name = "m"\nupstream = "rsync://h/m/"\nsuccess_exit_codes = [20, 30, 20]\n'
                 'rsync_success_exit_codes = [24, 25, 24]\n', base)
    assert r.success_codes == [10, 20, 30, 23, 24, 25]


def test_exec_hook_lists(tmp_path):
    base = BASE.replace("timeout = 86400", 'timeout = 86400\nexec_on_success = ["g1"]\nexec_on_failure = ["gf"]')
    r = load_one(tmp_path, 'name = "m"\nupstream = "rsync://h/m/"\nexec_on_success_extra = ["e1"]\n', base)
    assert r.exec_on_success == [["g1"], ["e1"]] and r.exec_on_failure == [["gf"]]
    r = load_one(tmp_path, 'name = "m"\nupstream = "rsync://h/m/"\nexec_on_success = ["m1", "m2 x"]\n'
                 'exec_on_failure_extra = ["fe"]\n', base)
    assert r.exec_on_success == [["m1"], ["m2", "x"]] and r.exec_on_failure == [["gf"], ["fe"]]


def test_warnings_for_ignored_keys(tmp_path):
    path = write(tmp_path, BASE + '[[mirrors]]\nname = "m"\nupstream = "rsync://h/m/"\nsize_pattern = "(x)"\nrole = "boss"\n'
                 '[[mirrors]]\nname = "c"\nprovider = "command"\ncommand = "x"\nrsync_success_exit_codes = [1]\n')
    warnings = {(p.key, p.level) for p in check_worker_config(path)}
    assert ("mirrors[0].size_pattern", "warning") in warnings
    assert ("mirrors[0].role", "warning") in warnings
    assert ("mirrors[1].rsync_success_exit_codes", "warning") in warnings
    load_worker_config(path)  # warnings never stop a load


def test_a_bad_global_hook_is_reported_once_against_the_global_key(tmp_path):
    base = BASE.replace("timeout = 86400", "timeout = 86400\nexec_on_failure = [\"sh -c 'x\"]")
    path = write(tmp_path, base + '[[mirrors]]\nname = "a"\nupstream = "rsync://h/a/"\n'
                 '[[mirrors]]\nname = "b"\nupstream = "rsync://h/b/"\n')
    errors = [p for p in check_worker_config(path) if p.level == "error"]
    assert [(p.file, p.key) for p in errors] == [(str(path), "global.exec_on_failure[0]")]
