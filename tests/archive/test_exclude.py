"""The archive's rsync side with the real rsync: the rules file, the shadow tree of evicted placeholders
(`--compare-dest`), and the rsync behaviours that make its safety rules necessary."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tunasync.archive.exclude import pattern, write_exclude_file, write_rules_file
from tunasync.archive.shadow import UNVERIFIED, drop, reconcile, reconcile_if_changed
from tunasync.worker.providers.rsync import BASE_OPTIONS, keeps_dir_times, private_path, shadow_options

pytestmark = pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")

OLD_NS = 1_500_000_000_123_456_789  # 2017: an old file's mtime, with nanoseconds


def rsync(src: Path, dst: Path, *extra: str) -> str:
    p = subprocess.run(["rsync", *BASE_OPTIONS, *extra, f"{src}/", f"{dst}/"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


def put(path: Path, data: bytes, mtime_ns: int = OLD_NS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def evict(mirror: Path, shadow: Path, rels: list[str]) -> None:
    """What eviction leaves behind: the files off the tree, then the pre-sync reconcile's placeholders."""
    rows = []
    for rel in rels:
        st = (mirror / rel).stat()
        rows.append((rel, st.st_size, st.st_mtime_ns))
        (mirror / rel).unlink()
    reconcile(str(shadow), sorted(rows))


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.fixture
def trees(tmp_path):
    up, mirror, shadow = tmp_path / "upstream", tmp_path / "mirror", tmp_path / "shadow"
    put(up / "pool" / "old.iso", os.urandom(3000))
    put(up / "pool" / "odd [1]*.iso", os.urandom(100))
    put(up / "pool" / "keep.deb", os.urandom(64))
    put(up / "pool" / "gone.deb", os.urandom(64))
    put(up / "other" / "x.deb", os.urandom(10))
    mirror.mkdir()
    rsync(up, mirror)
    return up, mirror, shadow


def test_patterns_are_anchored_and_escaped():
    assert pattern("pool/a.deb") == "/pool/a.deb"
    assert pattern("weird/[x]*?.iso") == "/weird/\\[x]\\*\\?.iso"


def test_old_per_path_list_still_excludes(tmp_path, trees):
    up, mirror, _ = trees
    exclude = tmp_path / "list.txt"
    (mirror / "pool" / "old.iso").unlink()
    assert write_exclude_file(str(exclude), ["pool/old.iso"]) == 1
    rsync(up, mirror, "--exclude-from", str(exclude))
    assert not (mirror / "pool" / "old.iso").exists()


def test_shadow_keeps_evicted_files_away_while_delete_and_updates_work(trees):
    up, mirror, shadow = trees
    evict(mirror, shadow, ["pool/old.iso", "pool/odd [1]*.iso"])
    (up / "pool" / "gone.deb").unlink()  # upstream deletes a normal file
    put(up / "pool" / "new.deb", b"new")
    out = rsync(up, mirror, *shadow_options(str(shadow), BASE_OPTIONS))
    assert files_under(mirror) == ["other/x.deb", "pool/keep.deb", "pool/new.deb"]
    assert "old.iso" not in out and "odd" not in out  # nothing transferred for them
    assert files_under(shadow) == ["pool/odd [1]*.iso", "pool/old.iso"]  # rsync never writes there
    assert (shadow / "pool" / "old.iso").stat().st_blocks == 0  # a placeholder holds no data


def test_an_evicted_file_replaced_upstream_is_fetched_whole(trees):
    up, mirror, shadow = trees
    evict(mirror, shadow, ["pool/old.iso"])
    fresh = os.urandom(5000)
    put(up / "pool" / "old.iso", fresh, OLD_NS + 10**9)
    rsync(up, mirror, *shadow_options(str(shadow), BASE_OPTIONS))
    assert (mirror / "pool" / "old.iso").read_bytes() == fresh  # the placeholder was only a basis


def test_upstream_chmod_of_an_evicted_file_never_puts_zeros_in_the_tree(trees):
    """rsync copies an alt-dest file whose size and mtime match but whose permissions differ: with
    -p that copy is a file of zeros in the mirror. shadow_options switches the comparison off."""
    up, mirror, shadow = trees
    evict(mirror, shadow, ["pool/old.iso"])
    os.chmod(up / "pool" / "old.iso", 0o600)
    rsync(up, mirror, *shadow_options(str(shadow), BASE_OPTIONS))
    assert not (mirror / "pool" / "old.iso").exists()
    # the hazard it avoids, shown with the bare option
    rsync(up, mirror, "--compare-dest", str(shadow))
    assert (mirror / "pool" / "old.iso").read_bytes() == bytes(3000)


def test_a_placeholder_beside_a_present_file_makes_rsync_delete_it_so_reconcile_drops_it(trees):
    up, mirror, shadow = trees
    evict(mirror, shadow, ["pool/old.iso"])
    shutil.copy2(up / "pool" / "old.iso", mirror / "pool" / "old.iso")  # retrieved back (cached)
    os.chmod(mirror / "pool" / "old.iso", 0o644)
    os.chmod(up / "pool" / "old.iso", 0o644)
    rsync(up, mirror, *shadow_options(str(shadow), BASE_OPTIONS))
    assert not (mirror / "pool" / "old.iso").exists()  # compare-dest: identical files are not kept
    shutil.copy2(up / "pool" / "old.iso", mirror / "pool" / "old.iso")
    reconcile(str(shadow), [])  # the index no longer calls it evicted
    rsync(up, mirror, *shadow_options(str(shadow), BASE_OPTIONS))
    assert (mirror / "pool" / "old.iso").read_bytes() == (up / "pool" / "old.iso").read_bytes()


def test_hard_link_to_an_evicted_path_comes_back_as_a_link_not_a_download(tmp_path):
    up, mirror, shadow = tmp_path / "up", tmp_path / "mirror", tmp_path / "shadow"
    put(up / "d" / "a", os.urandom(2000))
    os.link(up / "d" / "a", up / "d" / "b")
    mirror.mkdir()
    rsync(up, mirror)
    evict(mirror, shadow, ["d/a"])  # its twin d/b stays: the bytes never left the disk
    out = rsync(up, mirror, "--stats", *shadow_options(str(shadow), BASE_OPTIONS))
    assert "Total transferred file size: 0 bytes" in out
    assert (mirror / "d" / "a").read_bytes() == (mirror / "d" / "b").read_bytes() != bytes(2000)


def test_rules_file_protects_retrievals_with_exclude_from_and_with_merge(tmp_path, trees):
    """`tunasync serve` fills `.tunasync-<name>.<id>.partial` beside an evicted file; a sync that runs
    meanwhile must not delete it, however the rules file is handed to rsync, while other files upstream
    removed still go."""
    up, mirror, _ = trees
    rules = tmp_path / "exclude.txt"
    write_rules_file(str(rules), ".tunasync-")
    assert len(rules.read_text().splitlines()) == 2  # the same few lines whatever is evicted
    partial = mirror / "pool" / ".tunasync-old.iso.0123abcd.partial"
    for how in (["--exclude-from", str(rules)], ["--filter", f"merge {rules}"]):
        put(up / "pool" / "gone.deb", b"g")
        rsync(up, mirror)
        partial.write_bytes(b"verified bytes so far")
        (up / "pool" / "gone.deb").unlink()
        rsync(up, mirror, *how)
        assert partial.read_bytes() == b"verified bytes so far"
        assert not (mirror / "pool" / "gone.deb").exists()


def test_reconcile_makes_fixes_and_removes_placeholders_keeping_directory_records(tmp_path):
    shadow = tmp_path / "shadow"
    rows = [("a/x", 10, OLD_NS), ("a/y", 20, OLD_NS), ("a-b/z", 5, OLD_NS), ("c/d/e", 7, OLD_NS)]
    rep = reconcile(str(shadow), sorted(rows))
    assert (rep.created, rep.removed, rep.placeholders) == (4, 0, 4)
    assert files_under(shadow) == ["a-b/z", "a/x", "a/y", "c/d/e"]
    assert (shadow / "a" / "y").stat().st_size == 20 and (shadow / "a" / "y").stat().st_mtime_ns == OLD_NS
    assert (shadow / "a").stat().st_mtime_ns == UNVERIFIED  # new directories are not confirmed upstream
    confirmed = 1_600_000_000_000_000_000
    os.utime(shadow / "a", ns=(confirmed, confirmed))
    # a/x leaves the evicted state, a/y changed size, a/w is evicted now, c/d/e is gone
    rows = [("a/w", 1, OLD_NS), ("a/y", 21, OLD_NS), ("a-b/z", 5, OLD_NS)]
    rep = reconcile(str(shadow), sorted(rows))
    assert (rep.created, rep.removed, rep.placeholders) == (2, 2, 3)
    assert files_under(shadow) == ["a-b/z", "a/w", "a/y"]
    assert (shadow / "a" / "y").stat().st_size == 21
    assert (shadow / "a").stat().st_mtime_ns == confirmed  # the record is about the files that stay
    assert not (shadow / "c").exists()  # emptied directories go
    assert reconcile(str(shadow), sorted(rows)).created == 0


def test_option_checks():
    assert keeps_dir_times(BASE_OPTIONS)
    assert not keeps_dir_times([*BASE_OPTIONS, "-O"])
    assert not keeps_dir_times([*BASE_OPTIONS, "--omit-dir-times"])
    assert not keeps_dir_times(["-rlv"])
    assert keeps_dir_times(["-rlvt"])
    assert keeps_dir_times([*BASE_OPTIONS, "-O", "--no-O"])
    opts = shadow_options("/s", BASE_OPTIONS)
    assert opts[:2] == ["--compare-dest", "/s"] and "--no-perms" in opts and "--no-atimes" not in opts
    assert "--no-atimes" in shadow_options("/s", [*BASE_OPTIONS, "-U"])
    assert shadow_options("/s", [*BASE_OPTIONS, "-E"]) == []  # cannot be made safe: fetch back instead
    assert shadow_options("/s", [*BASE_OPTIONS, "-e", "ssh -p 22E"]) != []


def test_a_pass_is_skipped_while_the_evicted_set_is_unchanged(tmp_path):
    shadow = str(tmp_path / "evicted")
    rows = [("a/x", 10, OLD_NS), ("b/y", 20, OLD_NS)]
    assert reconcile_if_changed(shadow, (2, 30, 1, 1), lambda: rows).created == 2
    assert reconcile_if_changed(shadow, (2, 30, 1, 1), lambda: rows) is None
    drop(shadow, "a/x")  # a retrieval took it away: the next pass must look again
    assert not os.path.exists(os.path.join(shadow, "a", "x"))
    assert reconcile_if_changed(shadow, (2, 30, 1, 1), lambda: rows).created == 1
    assert reconcile_if_changed(shadow, (1, 20, 1, 1), lambda: rows[1:]).removed == 1


def test_insecure_links_only_where_nobody_else_can_plant_a_symlink(tmp_path):
    """rsync 3.5's per-component lookup is only skipped (`--insecure-links`) for paths no other user can
    write along."""
    mine = tmp_path / "archive" / "evicted"
    mine.mkdir(parents=True)
    assert private_path(str(mine))
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # anybody may create entries here, and replace ours
    (shared / "evicted").mkdir()
    assert not private_path(str(shared / "evicted"))
    os.chmod(shared, 0o1777)  # sticky, like /tmp: others cannot replace what we own
    assert private_path(str(shared / "evicted"))
