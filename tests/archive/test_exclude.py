"""The exclude list with the real rsync: evicted files are not fetched back; upstream deletions still apply."""

import os
import shutil
import subprocess

import pytest

from tunasync.archive.exclude import pattern, write_exclude_file

pytestmark = pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")


def rsync(src, dst, exclude):
    subprocess.run(
        ["rsync", "-a", "--delete", "--delete-after", "--exclude-from", str(exclude), f"{src}/", f"{dst}/"],
        check=True, capture_output=True,
    )


def test_patterns_are_anchored_and_escaped():
    assert pattern("pool/a.deb") == "/pool/a.deb"
    assert pattern("weird/[x]*?.iso") == "/weird/\\[x]\\*\\?.iso"


def test_rsync_does_not_refetch_evicted_files_and_still_deletes(tmp_path):
    up, mirror = tmp_path / "upstream", tmp_path / "mirror"
    (up / "pool").mkdir(parents=True)
    for name in ["old.iso", "keep.deb", "gone.deb", "odd [1]*.iso"]:
        (up / "pool" / name).write_bytes(os.urandom(64))
    exclude = tmp_path / "exclude.txt"
    write_exclude_file(str(exclude), [])
    rsync(up, mirror, exclude)
    # evict two files, then sync again: they must not come back
    (mirror / "pool" / "old.iso").unlink()
    (mirror / "pool" / "odd [1]*.iso").unlink()
    write_exclude_file(str(exclude), ["pool/old.iso", "pool/odd [1]*.iso"])
    (up / "pool" / "gone.deb").unlink()  # upstream deletes a normal file
    (up / "pool" / "new.deb").write_bytes(b"new")
    rsync(up, mirror, exclude)
    names = sorted(os.listdir(mirror / "pool"))
    assert names == ["keep.deb", "new.deb"]


def test_a_retrieval_in_progress_survives_rsync_delete(tmp_path):
    """`tunasync serve` fills `.tunasync-<name>.<id>.partial` beside an evicted file; a sync that runs
    meanwhile must not delete it (excluded names are protected from --delete), while other files
    upstream removed still go."""
    up, mirror = tmp_path / "upstream", tmp_path / "mirror"
    (up / "pool").mkdir(parents=True)
    (up / "pool" / "gone.deb").write_bytes(b"g")
    exclude = tmp_path / "exclude.txt"
    write_exclude_file(str(exclude), ["pool/old.iso"], raw=[".tunasync-*"])
    rsync(up, mirror, exclude)
    partial = mirror / "pool" / ".tunasync-old.iso.0123abcd.partial"
    partial.write_bytes(b"verified bytes so far")
    (up / "pool" / "gone.deb").unlink()
    rsync(up, mirror, exclude)
    assert partial.read_bytes() == b"verified bytes so far"
    assert not (mirror / "pool" / "gone.deb").exists()
