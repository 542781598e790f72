"""`tunasync cid` as a user runs it: output lines, --json, directories, bad inputs, --car."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.content.content_helpers import ipfs_car, tunasync

HELLO_CID = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"


@pytest.fixture
def hello(tmp_path):
    p = tmp_path / "hello.txt"
    p.write_bytes(b"hello world\n")
    return p


def test_one_line_per_file_in_each_profile(hello):
    r = tunasync("cid", str(hello))
    assert r.returncode == 0 and r.stdout == f"{HELLO_CID}  {hello}\n"
    r = tunasync("cid", "--profile", "kubo", str(hello))
    assert r.stdout.split() == ["QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o", str(hello)]


def test_json_with_piece_cids(hello, tmp_path):
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    r = tunasync("cid", "--json", "--piece", str(hello), str(empty))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert rows[0] == {"path": str(hello), "size": 12, "cid": HELLO_CID,
                       "piece_cid": "baga6ea4seaqdnumj2qy2m33n4gq3aizapmnpfim5s5s7tufhjfaij7lolfogqdq",
                       "piece_cid_v2": "bafkzcibcombdnumj2qy2m33n4gq3aizapmnpfim5s5s7tufhjfaij7lolfogqdq",
                       "padded_size": 128}
    assert rows[1]["cid"] == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    plain = json.loads(tunasync("cid", "--json", str(hello)).stdout)
    assert plain["piece_cid"] is None and plain["padded_size"] is None


def _tree(base):
    for rel, data in {"a.txt": b"a\n", "sub/b.bin": os.urandom(1 << 20 | 5), "sub/deep/c": b"",
                      ".hidden": b"dot"}.items():
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def test_directory_prints_files_then_directories_with_its_own_cid_last(tmp_path):
    base = tmp_path / "site"
    _tree(base)
    r = tunasync("cid", str(base))
    assert r.returncode == 0, r.stderr
    paths = [line.split("  ", 1)[1] for line in r.stdout.splitlines()]
    assert paths == [str(base / p) for p in [".hidden", "a.txt", "sub/b.bin", "sub/deep/c", "sub/deep", "sub"]] + [
        str(base)]
    no_hidden = tunasync("cid", "--no-hidden", str(base)).stdout.splitlines()
    assert len(no_hidden) == 6 and no_hidden[-1] != r.stdout.splitlines()[-1]


@pytest.mark.node
def test_directory_cid_equals_ipfs_car_pack(oracle_dir, tmp_path):
    base = tmp_path / "site"
    _tree(base)
    ours = tunasync("cid", str(base)).stdout.splitlines()[-1].split()[0]
    assert ours == ipfs_car(oracle_dir, "pack", str(base), "--hidden", "--output", str(tmp_path / "t.car")).strip()
    ours = tunasync("cid", "--no-hidden", str(base)).stdout.splitlines()[-1].split()[0]
    assert ours == ipfs_car(oracle_dir, "pack", str(base), "--output", str(tmp_path / "t.car")).strip()


@pytest.mark.node
def test_the_readme_example_matches_npx_ipfs_car(oracle_dir, hello, tmp_path):
    ours = tunasync("cid", "hello.txt", cwd=hello.parent).stdout.split()[0]
    theirs = ipfs_car(oracle_dir, "pack", "--no-wrap", str(hello), "--output", str(tmp_path / "h.car")).strip()
    assert ours == theirs == HELLO_CID


def test_bad_inputs_are_reported_and_the_run_continues(tmp_path, hello):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    r = tunasync("cid", str(tmp_path / "missing"), str(fifo), "/proc/self/mem", str(hello), timeout=60)
    assert r.returncode == 1
    assert r.stdout == f"{HELLO_CID}  {hello}\n"
    err = r.stderr
    assert f"{tmp_path / 'missing'}: No such file or directory" in err
    assert f"{fifo}: not a regular file" in err
    assert "/proc/self/mem:" in err


def test_directory_with_a_special_file_gets_no_directory_cid(tmp_path):
    base = tmp_path / "d"
    base.mkdir()
    (base / "ok").write_bytes(b"ok")
    os.mkfifo(base / "pipe")
    r = tunasync("cid", str(base), timeout=60)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and lines[0].endswith(f"  {base / 'ok'}")  # the file, but no directory line
    assert f"{base / 'pipe'}: not a regular file (FIFO)" in r.stderr
    assert "directory CID not computed" in r.stderr


def test_symlinks_are_skipped_or_followed_without_looping(tmp_path):
    base = tmp_path / "d"
    (base / "sub").mkdir(parents=True)
    (base / "sub" / "f").write_bytes(b"f")
    os.symlink("..", base / "sub" / "loop")
    os.symlink("sub/f", base / "link-to-f")
    skipped = tunasync("cid", str(base), timeout=60)
    assert skipped.returncode == 0, skipped.stderr
    assert "link-to-f" not in skipped.stdout and "loop" not in skipped.stdout
    followed = tunasync("cid", "--follow-symlinks", str(base), timeout=60)
    assert followed.returncode == 1
    assert f"{base / 'sub' / 'loop'}: symlink loop" in followed.stderr
    assert f"{base / 'link-to-f'}" in followed.stdout  # the file link was followed


def test_car_output_is_a_verifiable_bundle(tmp_path):
    base = tmp_path / "site"
    _tree(base)
    out = tmp_path / "site.car"
    r = tunasync("cid", "--car", str(out), str(base))
    assert r.returncode == 0, r.stderr
    root = r.stdout.splitlines()[-1].split()[0]
    assert f"wrote {out}: root {root}" in r.stderr
    v = tunasync("car", "verify", str(out))
    assert v.returncode == 0 and "DAG complete" in v.stdout and root in v.stdout


def test_the_docs_examples_print_what_the_docs_say(tmp_path):
    """docs/cid.md shows real output: rebuild its inputs and compare line by line."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cid.md").read_text()
    (tmp_path / "hello.txt").write_bytes(b"hello world\n")
    (tmp_path / "site" / "sub").mkdir(parents=True)
    (tmp_path / "site" / "a.txt").write_bytes(b"a\n")
    (tmp_path / "site" / "sub" / "b.bin").write_bytes(bytes(2000000))
    for args in (["hello.txt"], ["--profile", "kubo", "hello.txt"], ["site/"]):
        out = tunasync("cid", *args, cwd=tmp_path).stdout
        assert out and all(line in doc for line in out.splitlines()), out


def test_progress_bar_only_on_a_terminal(pattern_file):
    """On a tty a rich bar shows progress (delay set to 0 here); through a pipe stderr stays clean."""
    import pty
    import subprocess
    import sys

    big = str(pattern_file(45613057))
    piped = tunasync("cid", big)
    assert piped.returncode == 0 and piped.stderr == ""
    primary, secondary = pty.openpty()
    env = dict(os.environ, TUNASYNC_PROGRESS_DELAY="0", COLUMNS="100")
    proc = subprocess.Popen([sys.executable, "-m", "tunasync.cli.main", "cid", big], stdin=secondary,
                            stdout=secondary, stderr=secondary, env=env, close_fds=True)
    os.close(secondary)
    out = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(primary)
    assert proc.wait(timeout=60) == 0
    text = out.decode("utf-8", "replace")
    assert "hashing" in text and "MB" in text
    assert "bafybeih6tfqxgwyqtet2vaiqfjtdisrzv4cjmvm3ov6swdtljna55s4fle" in text
