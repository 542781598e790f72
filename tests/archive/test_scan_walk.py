"""The native tree walker and its pure-Python twin list exactly the same files, in the same order, with
the same errors, on trees full of things a mirror should never index. Also the scan test kit."""

from __future__ import annotations

import ctypes
import os
import socket
from contextlib import contextmanager
from pathlib import Path

import pytest

from tunasync.archive import scan as scanmod
from tunasync.archive.scan import NO_NATIVE_ENV, walk

needs_native = pytest.mark.skipif(scanmod._native_walk is None, reason="native walker not built")

# names whose str order (code points, surrogate escapes) differs from their byte order
ODD_NAMES = [b"\xff", "\uffff".encode(), b"\x80", "\u00e9".encode(), b"with space", b"new\nline",
             "\u6f22\u5b57".encode(), b"a\xe9b", b"z", b"A", b"-", b"\xed\xa0\x80"]


def write(path: Path | bytes | str, data: bytes = b"x") -> None:
    with open(path, "wb") as f:
        f.write(data)


def odd_tree(root: Path) -> None:
    """Nested and empty dirs, odd names, symlinks, FIFO, socket, rsync and tunasync temp names."""
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "empty" / "deeper").mkdir(parents=True)
    (root / ".~tmp~" / "x").mkdir(parents=True)
    (root / ".tunasync-dir").mkdir()  # only files are temp names: a directory is walked
    broot = os.fsencode(root)
    for i, name in enumerate(ODD_NAMES):
        write(os.path.join(broot, name), b"n" * i)
        write(os.path.join(broot, b"a", name + b".deb"), b"d" * i)
    os.mkdir(os.path.join(broot, b"dir\xfe"))
    write(os.path.join(broot, b"dir\xfe", b"inner"), b"i")
    write(root / "a" / "b" / "c" / "leaf", b"leaf")
    write(root / ".~tmp~" / "partial", b"p")
    write(root / ".~tmp~" / "x" / "partial2", b"p")
    write(root / ".~tmp~file", b"a file named like the dir is kept")
    write(root / "a" / ".~tmp~", b"so is a file named exactly .~tmp~")
    write(root / ".tunasync-retrieving", b"t")
    write(root / ".tunasync-dir" / "kept", b"k")
    os.symlink("a/b/c/leaf", root / "link-file")
    os.symlink("a", root / "link-dir")
    os.symlink("nowhere", root / "link-dangling")
    os.mkfifo(root / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(root / "sock"))
    finally:
        sock.close()


@contextmanager
def without_dac_override():
    """As root chmod stops nothing: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from this thread's
    effective set (the walkers run in it) and restore them after."""
    if os.geteuid() != 0:
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    hdr, data = Header(0x20080522, 0), (Data * 2)()
    if libc.capget(ctypes.byref(hdr), data) != 0:
        pytest.skip("capget failed")
    saved = data[0].effective
    data[0].effective &= ~((1 << 1) | (1 << 2))
    if libc.capset(ctypes.byref(hdr), data) != 0:
        pytest.skip("cannot drop CAP_DAC_OVERRIDE")
    try:
        yield
    finally:
        data[0].effective = saved
        assert libc.capset(ctypes.byref(hdr), data) == 0


def both_walks(root: Path, monkeypatch: pytest.MonkeyPatch):
    """(entries, errors) from the native walker and from the Python one; they must agree."""
    out = []
    for env in (None, "1"):
        if env:
            monkeypatch.setenv(NO_NATIVE_ENV, env)
        else:
            monkeypatch.delenv(NO_NATIVE_ENV, raising=False)
        errors: list[tuple[str, str]] = []
        out.append((list(walk(str(root), errors)), errors))
    monkeypatch.delenv(NO_NATIVE_ENV)
    assert out[0] == out[1]
    return out[0]


@needs_native
def test_walkers_agree_on_an_odd_tree_and_list_regular_files_only(tmp_path, monkeypatch):
    root = tmp_path / "m"
    root.mkdir()
    odd_tree(root)
    entries, errors = both_walks(root, monkeypatch)
    assert errors == []
    names = [p for p, *_ in entries]
    top = [os.fsencode(p) for p in names if "/" not in p]
    assert top == sorted(top)  # by bytes, not by str
    assert set(top) == set(ODD_NAMES) | {b".~tmp~file"}
    for p in names:
        assert not p.split("/")[-1].startswith(".tunasync-retrieving") and ".~tmp~/" not in p
        assert not p.startswith(("link", "fifo", "sock"))
    assert ".tunasync-dir/kept" in names and "a/.~tmp~" in names
    assert os.fsdecode(b"dir\xfe/inner") in names and "a/b/c/leaf" in names
    # a directory's files come before its subdirectories, which follow depth first in byte order
    order = [names.index(p) for p in (".tunasync-dir/kept", "a/z.deb", "a/b/c/leaf", os.fsdecode(b"dir\xfe/inner"))]
    assert len(top) <= order[0] and order == sorted(order)
    for p, size, mtime_ns, ino in entries:
        st = os.lstat(os.path.join(os.fsencode(root), os.fsencode(p)))
        assert (size, mtime_ns, ino) == (st.st_size, st.st_mtime_ns, st.st_ino)


@needs_native
def test_unreadable_directory_is_reported_and_the_rest_still_listed(tmp_path, monkeypatch):
    root = tmp_path / "m"
    (root / "pool" / "locked" / "sub").mkdir(parents=True)
    (root / "pool" / "noexec").mkdir()
    write(root / "pool" / "locked" / "secret.deb")
    write(root / "pool" / "noexec" / "f1")
    write(root / "pool" / "noexec" / "f2")
    write(root / "pool" / "zzz.deb")
    write(root / "top")
    os.chmod(root / "pool" / "locked", 0)
    os.chmod(root / "pool" / "noexec", 0o644)  # names readable, entries not
    try:
        with without_dac_override():
            entries, errors = both_walks(root, monkeypatch)
    finally:
        os.chmod(root / "pool" / "locked", 0o755)
        os.chmod(root / "pool" / "noexec", 0o755)
    assert [p for p, *_ in entries] == ["top", "pool/zzz.deb"]
    assert errors == [("pool/locked", "Permission denied"), ("pool/noexec/f1", "Permission denied"),
                      ("pool/noexec/f2", "Permission denied")]


@needs_native
def test_missing_root_is_an_error_not_an_empty_tree(tmp_path, monkeypatch):
    entries, errors = both_walks(tmp_path / "not-there", monkeypatch)
    assert entries == [] and errors == [("", "No such file or directory")]


@needs_native
def test_root_may_be_a_symlink_and_deep_trees_work(tmp_path, monkeypatch):
    real = tmp_path / "real"
    deep = real
    for i in range(60):
        deep = deep / f"d{i}"
    deep.mkdir(parents=True)
    write(deep / "bottom", b"b")
    os.symlink(real, tmp_path / "root-link")
    entries, errors = both_walks(tmp_path / "root-link", monkeypatch)
    assert errors == [] and [p.count("/") for p, *_ in entries] == [60]


@needs_native
def test_large_flat_directory_sorted_identically(tmp_path, monkeypatch):
    root = tmp_path / "flat"
    root.mkdir()
    for i in range(3000):
        write(root / f"{(i * 7919) % 3000:x}-{i}", b"")
    entries, _ = both_walks(root, monkeypatch)
    assert len(entries) == 3000
