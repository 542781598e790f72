"""Issue 11, item 5: `--check` tells when a secret on disk can be read by other users.

Real files with real modes, `tunasync manager --check` and `tunasync worker --check` as subprocesses:
a 0644 `token_file`, a manager config holding `token = "..."` inline that others may read, a worker
config holding `[manager] token`, `[archive] lotus_token` or a mirror `password` that others may read.
Each is a warning naming the file and the key; the exit code stays 0 (warnings never fail a check);
the same files at 0600 give no warning.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def check(kind: str, conf: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("TUNASYNC_TOKEN", None)
    p = subprocess.run([sys.executable, "-m", "tunasync.cli.main", kind, "--check", "-c", str(conf)],
                       capture_output=True, text=True, timeout=60, env=env)
    assert "Traceback" not in p.stdout + p.stderr
    return p


def warnings(p: subprocess.CompletedProcess) -> list[str]:
    return [ln for ln in p.stdout.splitlines() if ln.startswith("warning: ")]


def manager_conf(tmp: Path, tokens: str) -> Path:
    conf = tmp / "manager.conf"
    conf.write_text(f'[server]\naddr = "127.0.0.1"\nport = 14242\n[files]\ndb_file = "{tmp}/m.db"\n'
                    f'status_file = ""\n{tokens}')
    return conf


def test_a_token_file_others_can_read_is_named(tmp_path):
    tok = tmp_path / "admin.token"
    tok.write_text("s3cret-admin\n")
    tok.chmod(0o644)
    conf = manager_conf(tmp_path, f'[[auth.tokens]]\nname = "ops"\nrole = "admin"\ntoken_file = "{tok}"\n')
    conf.chmod(0o600)
    p = check("manager", conf)
    assert p.returncode == 0, p.stdout
    assert warnings(p) == [f"warning: {conf}: auth.tokens[0].token_file: {tok} has mode 0644: its group and every "
                           f"user can read it; chmod 600 {tok}"]
    tok.chmod(0o640)
    assert "its group can read it" in check("manager", conf).stdout
    tok.chmod(0o600)
    p = check("manager", conf)
    assert (p.returncode, warnings(p)) == (0, [])


def test_an_inline_manager_token_in_a_readable_config_is_named(tmp_path):
    conf = manager_conf(tmp_path, '[[auth.tokens]]\nname = "w1"\nrole = "worker"\ntoken = "s3cret-w1"\n'
                                  '[[auth.tokens]]\nname = "w2"\nrole = "worker"\ntoken = "s3cret-w2"\n')
    conf.chmod(0o644)
    p = check("manager", conf)
    assert p.returncode == 0
    [w] = warnings(p)  # once per file, at the first inline token
    assert w.startswith(f"warning: {conf}: auth.tokens[0].token: holds API tokens inline and the file has mode 0644")
    conf.chmod(0o600)
    assert warnings(check("manager", conf)) == []


def test_worker_secrets_in_a_readable_config_are_named(tmp_path):
    inc = tmp_path / "mirrors.d"
    inc.mkdir()
    extra = inc / "private.conf"
    extra.write_text('[[mirrors]]\nname = "b"\nprovider = "rsync"\nupstream = "rsync://up.example/b/"\n'
                     'username = "u"\npassword = "rsync-s3cret"\n')
    conf = tmp_path / "worker.conf"
    conf.write_text(f"""
[global]
name = "w"
log_dir = "{tmp_path}/log"
mirror_dir = "{tmp_path}/m"
concurrent = 2
interval = 60
[manager]
api_base = "http://127.0.0.1:14242"
token = "s3cret-worker"
[server]
hostname = "localhost"
listen_addr = "127.0.0.1"
listen_port = 6000
[archive]
lotus_token = "s3cret-lotus"
[include]
include_mirrors = "{inc}/*.conf"
[[mirrors]]
name = "a"
provider = "command"
command = "true"
upstream = "x"
""")
    conf.chmod(0o644)
    extra.chmod(0o604)
    p = check("worker", conf)
    assert p.returncode == 0, p.stdout
    readable = [w for w in warnings(p) if "can read it" in w]
    keys = [w.split(": ")[2] for w in readable]
    assert keys == ["manager.token", "archive.lotus_token", "mirrors[0].password"], p.stdout
    assert f"warning: {extra}: mirrors[0].password: holds an rsync password inline" in p.stdout
    assert "every user can read it" in p.stdout and "0 error(s)" in p.stdout
    # the one other warning is the control port's note on [manager] token (docs/compat.md), not about modes
    assert [w for w in warnings(p) if w not in readable] == [
        w for w in warnings(p) if "manager.token: the control port asks for it" in w]
    conf.chmod(0o600)
    extra.chmod(0o600)
    p = check("worker", conf)
    assert p.returncode == 0 and [w for w in warnings(p) if "can read it" in w] == [], p.stdout
