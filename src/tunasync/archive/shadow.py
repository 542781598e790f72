"""Evicted placeholders outside the served tree: how rsync skips evicted files at no cost to upstream.

rsync's receiver decides what to fetch. With `--compare-dest=SHADOW` it also looks at SHADOW/<path>
when the mirror tree has no file there, and a regular file there with the sender's size and mtime (and
the same values of the attributes rsync compares) counts as up to date: nothing is transferred and
nothing is created in the mirror tree. The shadow tree `index_dir/<mirror>/evicted/` holds one
placeholder per evicted file: an empty sparse file of the evicted size and mtime (no data blocks, one
inode). The cost is one extra `stat` per listed file on our side; nothing is sent to the upstream, whose
work is the same as for a mirror with nothing evicted. One anchored exclude pattern per evicted path,
the earlier way, made rsync compare every name with every pattern on both ends (quadratic, and most
of it on the upstream's server).

What keeps this safe (each is tested in tests/archive/test_exclude.py):
- placeholders are never in the served tree: nginx, `tunasync serve` and a downstream rsync never see
  them, and the scan never counts them;
- rsync *copies* an alt-dest file whose size and mtime match but whose compared attributes differ
  (an upstream `chmod`: the copy would be a file of zeros in the mirror). The providers therefore run
  with `--no-perms --no-owner --no-group --no-acls --no-xattrs` (and `--no-atimes`/`--no-crtimes`
  when those were asked for) whenever a shadow is passed, so no attribute is compared, and
  they pass no shadow at all when `-E` (`--executability`) is in effect, which cannot be switched off;
- rsync *deletes* a mirror file that has an exact placeholder (compare-dest's "identical files are not
  kept" rule): a placeholder must never outlive its eviction. `reconcile` removes the placeholders of
  files that are no longer evicted before each sync, and a retrieval (serve, restore) drops the
  placeholder *before* it puts the file into place.

Upstream deletions of evicted files: rsync keeps each directory's mtime equal to the upstream's, and a
directory's mtime changes whenever an entry is added, removed or renamed in it. A shadow directory's
own mtime records the mirror directory's mtime at which its evicted files were last confirmed upstream
(0: never). After a sync only directories whose mtime moved (or is too recent to trust, or whose turn it
is in a slow rotation) are asked about, with a dry run restricted to their evicted paths
(`upstream.py`). A file replaced upstream (other size or mtime) does not match its placeholder: rsync
fetches the new version, the scan indexes it as a changed file, and `reconcile` drops the placeholder.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ..errors import ArchiveError

log = logging.getLogger(__name__)

UNVERIFIED = 0  # a shadow directory's mtime when its evicted files were never confirmed upstream
YOUNG_NS = 3600 * 1_000_000_000  # a mirror directory changed this recently is asked about again
ROTATE = 64  # every directory is asked about once per ROTATE hours anyway (0: never)


@dataclass
class ShadowReport:
    placeholders: int = 0  # evicted files with a placeholder after the run
    created: int = 0
    removed: int = 0
    dirs: set[str] = field(default_factory=set)  # shadow directories changed (relative, "" = root)


class _Dirs:
    """Shadow directories whose contents change keep their recorded mtime (the record is about the
    files that stay); directories made now start UNVERIFIED."""

    def __init__(self, root: str):
        self.root = root
        self.saved: dict[str, int] = {}
        self.known: set[str] = set()  # directories seen or made in this pass (no stat for each file in them)

    def touch(self, rel: str) -> None:
        if rel in self.saved:
            return
        try:
            self.saved[rel] = os.lstat(os.path.join(self.root, rel) if rel else self.root).st_mtime_ns
        except FileNotFoundError:
            self.saved[rel] = UNVERIFIED

    def makedirs(self, rel: str) -> None:
        if rel in self.known:
            return
        missing: list[str] = []
        d = rel
        while d and not os.path.isdir(os.path.join(self.root, d)):
            missing.append(d)
            d = os.path.dirname(d)
        self.touch(d)
        for m in reversed(missing):
            full = os.path.join(self.root, m)
            if os.path.lexists(full):
                os.unlink(full)  # a placeholder where a directory is now wanted
            os.mkdir(full)
            self.saved[m] = UNVERIFIED
        self.known.add(rel)

    def gone(self, rel: str) -> None:
        """Directory `rel` was removed."""
        self.saved.pop(rel, None)
        self.known.discard(rel)

    def restore(self) -> None:
        for rel, ns in sorted(self.saved.items(), key=lambda kv: -kv[0].count("/")):
            full = os.path.join(self.root, rel) if rel else self.root
            try:
                os.utime(full, ns=(ns, ns), follow_symlinks=False)
            except FileNotFoundError:
                pass


def _walk(root: str, rel: str = "") -> Iterator[tuple[str, os.stat_result | None]]:
    """Every entry under root: files as (path, stat) in path order (the order of `ORDER BY path`: a
    directory's contents sort as if its name ended with '/'), each directory as (path, None) right
    after its contents."""
    try:
        with os.scandir(os.path.join(root, rel) if rel else root) as it:
            entries = [(e.name + "/" if e.is_dir(follow_symlinks=False) else e.name, e) for e in it]
    except (FileNotFoundError, NotADirectoryError):
        return
    entries.sort(key=lambda ne: ne[0])
    for name, e in entries:
        p = f"{rel}/{e.name}" if rel else e.name
        if name.endswith("/"):
            yield from _walk(root, p)
            yield p, None
        else:
            yield p, e.stat(follow_symlinks=False)


_PLACE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC


def place(root: str, rel: str, size: int, mtime_ns: int) -> None:
    """Write one placeholder (no directory bookkeeping: see reconcile); a directory in its way goes."""
    full = os.path.join(root, rel)
    try:
        fd = os.open(full, _PLACE_FLAGS, 0o644)
    except IsADirectoryError:
        shutil.rmtree(full)
        fd = os.open(full, _PLACE_FLAGS, 0o644)
    try:
        os.ftruncate(fd, size)
        os.utime(fd, ns=(mtime_ns, mtime_ns))
    finally:
        os.close(fd)


def reconcile(root: str, evicted: Iterable[tuple[str, int, int]]) -> ShadowReport:
    """Make the shadow tree at `root` hold exactly one placeholder per evicted (path, size, mtime_ns),
    `evicted` in path order (ArchiveIndex.evicted_by_path). Linear: one walk of the shadow tree merged
    with one pass over the rows."""
    os.makedirs(root, exist_ok=True)
    rep = ShadowReport()
    dirs = _Dirs(root)
    have = _walk(root)

    def advance() -> tuple[str, os.stat_result] | None:
        """The next placeholder of the walk; emptied directories on the way are removed."""
        for rel, st in have:
            if st is not None:
                return rel, st
            try:
                if not os.listdir(os.path.join(root, rel)):
                    dirs.touch(os.path.dirname(rel))
                    os.rmdir(os.path.join(root, rel))
                    dirs.gone(rel)
                    rep.dirs.add(os.path.dirname(rel))
            except FileNotFoundError:
                pass
        return None

    def remove(rel: str) -> None:
        dirs.touch(os.path.dirname(rel))
        try:
            os.unlink(os.path.join(root, rel))
            rep.removed += 1
            rep.dirs.add(os.path.dirname(rel))
        except (FileNotFoundError, NotADirectoryError):
            pass

    cur = advance()
    for path, size, mtime_ns in evicted:
        while cur is not None and cur[0] < path:
            remove(cur[0])
            cur = advance()
        if cur is not None and cur[0] == path:
            st = cur[1]
            cur = advance()
            if st.st_size == size and st.st_mtime_ns == mtime_ns and stat.S_ISREG(st.st_mode):
                rep.placeholders += 1
                continue
        parent = os.path.dirname(path)
        dirs.makedirs(parent)
        dirs.touch(parent)
        place(root, path, size, mtime_ns)
        rep.dirs.add(parent)
        rep.created += 1
        rep.placeholders += 1
    while cur is not None:
        remove(cur[0])
        cur = advance()
    dirs.restore()
    return rep


class Mover:
    """An eviction batch's files moved into the shadow tree as their own placeholders: `rename` from
    the mirror tree, then emptied (truncated to 0 and back to their size: sparse, no data blocks) and
    given back their mtime. This costs no new inode: creating half a million placeholders right after
    unlinking as many files was most of an eviction's time (a filesystem looks twice at inodes it
    freed moments ago before it reuses any). Only where the shadow tree is on the mirror's filesystem;
    `move` says False when the file was not moved (the caller unlinks it, `reconcile` places it).

    A crash between the rename and the emptying leaves a placeholder with its data: exact size and
    mtime, so still a correct placeholder, and eviction recovery (`empty_leftover`) empties it."""

    def __init__(self, root: str, tree: str):
        self.root = root
        os.makedirs(root, exist_ok=True)
        try:
            self.ok = os.lstat(root).st_dev == os.lstat(tree).st_dev
        except OSError:
            self.ok = False
        self.dirs = _Dirs(root)
        if self.ok:
            _forget(root)

    def move(self, full: str, rel: str) -> bool:
        """Move the mirror file `full` to placeholder `rel` (with its data still: `empty` follows);
        False when it was not moved (another filesystem, a directory in the way, ...)."""
        if not self.ok:
            return False
        parent = rel.rpartition("/")[0]
        try:
            self.dirs.makedirs(parent)
            self.dirs.touch(parent)
            os.rename(full, os.path.join(self.root, rel))
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                self.ok = False
            return False
        return True

    def empty(self, rel: str, size: int, mtime_ns: int, inode: int) -> None:
        """Free a moved file's data: sparse, of its size, with its mtime. A file somebody still has open
        (a download in flight) is unlinked instead, as a plain eviction would: the reader keeps its
        bytes, and reconcile places a new placeholder."""
        try:
            _empty(os.path.join(self.root, rel), size, mtime_ns, inode)
        except FileBusy:
            self._unlink(rel)
        except NoLeases as exc:
            log.info("shadow: %s: evicted files are unlinked from now on (placeholders made by the shadow pass)",
                     exc)
            self.ok = False
            self._unlink(rel)
        except OSError as exc:  # it left the mirror all the same; reconcile places it again
            log.warning("shadow: cannot empty %s (%s): removed, to be placed again", rel, exc.strerror)
            self._unlink(rel)

    def _unlink(self, rel: str) -> None:
        try:
            os.unlink(os.path.join(self.root, rel))
        except OSError:
            pass

    def close(self) -> None:
        """Put back the recorded mtimes of the shadow directories changed."""
        self.dirs.restore()


class FileBusy(ArchiveError):
    """The file is open elsewhere: emptying it in place would hand its reader zeros."""


class NoLeases(ArchiveError):
    """File leases cannot be taken here (not the files' owner without CAP_LEASE, or a filesystem
    without them): whether a file is open elsewhere cannot be told."""


def _empty(full: str, size: int, mtime_ns: int, inode: int | None = None) -> None:
    """Truncate to 0 and back to `size`, mtime back; never a file with another link (or not `inode`):
    its data stays (a placeholder with data is still a correct one). Never a file open elsewhere: a
    write lease (fcntl F_SETLEASE, granted only while no other descriptor or mapping holds the file,
    and holding back new opens while held) is taken first; FileBusy when it is refused."""
    fd = os.open(full, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if st.st_nlink != 1 or (inode is not None and st.st_ino != inode):
            log.warning("shadow: %s has another link or is another file: its data stays", full)
            return
        try:
            fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EBUSY):
                raise FileBusy(f"{full}: open elsewhere") from None
            raise NoLeases(f"{full}: no write lease ({exc.strerror})") from None
        try:
            os.ftruncate(fd, 0)
            os.ftruncate(fd, size)
            os.utime(fd, ns=(mtime_ns, mtime_ns))
        finally:
            fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
    finally:
        os.close(fd)


def empty_leftover(root: str, rel: str, size: int, mtime_ns: int) -> bool:
    """A placeholder a crash left with its data (moved in, not emptied yet) is emptied; True if it was."""
    full = os.path.join(root, rel)
    try:
        st = os.lstat(full)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_blocks == 0:
        return False
    try:
        _empty(full, size, mtime_ns)
    except (OSError, ArchiveError):  # open elsewhere, no leases, or failed: reconcile places it again
        os.unlink(full)
        _forget(root)
    return True


def _stamp_path(root: str) -> str:
    return root.rstrip("/") + ".stamp"


def _stamp(root: str, fingerprint: tuple[int, ...]) -> str:
    return f"{' '.join(map(str, fingerprint))} {os.lstat(root).st_ino}\n"


def reconcile_if_changed(root: str, fingerprint: tuple[int, ...],
                         evicted: Callable[[], Iterable[tuple[str, int, int]]]) -> ShadowReport | None:
    """reconcile(root, evicted()) unless the evicted set's fingerprint is the one the last pass ended
    with and nothing touched the tree since (drop() forgets the stamp); None when skipped."""
    stamp = _stamp_path(root)
    try:
        with open(stamp, encoding="utf-8") as f:
            if os.path.isdir(root) and f.read() == _stamp(root, fingerprint):
                return None
    except OSError:
        pass
    _forget(root)
    rep = reconcile(root, evicted())
    tmp = f"{stamp}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(_stamp(root, fingerprint))
    os.replace(tmp, stamp)
    return rep


def _forget(root: str) -> None:
    try:
        os.unlink(_stamp_path(root))
    except FileNotFoundError:
        pass


SHADOW_NAME = "evicted"  # beside the index: index_dir/<mirror>/evicted/


def shadow_beside(index_path: str | os.PathLike[str]) -> str:
    """The shadow tree of the mirror whose index is at `index_path`."""
    return os.path.join(os.path.dirname(os.fspath(index_path)), SHADOW_NAME)


def drop(root: str, rel: str) -> None:
    """Remove the placeholder of `rel` (a retrieved copy is about to be put in place), keeping its
    directory's recorded mtime."""
    full = os.path.join(root, rel)
    parent = os.path.dirname(full)
    _forget(root)
    try:
        ns = os.lstat(parent).st_mtime_ns
        os.unlink(full)
    except (FileNotFoundError, NotADirectoryError):
        return
    os.utime(parent, ns=(ns, ns), follow_symlinks=False)


@dataclass(frozen=True)
class DirCheck:
    rel: str  # directory relative to the mirror root ("" = the root)
    mirror_mtime_ns: int | None  # the mirror directory's mtime now (None: not there)
    reason: str  # "unverified" | "changed" | "young" | "missing" | "rotation"


def _rotation_slot(rel: str, slot: int, rotate: int) -> bool:
    return rotate > 0 and zlib.crc32(rel.encode("utf-8", "surrogateescape")) % rotate == slot % rotate


def dirs_to_check(root: str, tree: str, now_ns: int, *, slot: int = 0, rotate: int = ROTATE,
                  trust_mtimes: bool = True) -> tuple[list[DirCheck], int]:
    """Shadow directories holding placeholders whose evicted files must be asked about upstream, and
    how many directories were looked at. With trust_mtimes False (rsync does not keep directory
    times for this mirror) every one is."""
    out: list[DirCheck] = []
    seen = 0
    stack = [""]
    while stack:
        rel = stack.pop()
        full = os.path.join(root, rel) if rel else root
        files = False
        try:
            with os.scandir(full) as it:
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        stack.append(f"{rel}/{e.name}" if rel else e.name)
                    else:
                        files = True
            mine = os.lstat(full).st_mtime_ns
        except FileNotFoundError:
            continue
        if not files:
            continue
        seen += 1
        try:
            st = os.lstat(os.path.join(tree, rel) if rel else tree)
            theirs: int | None = st.st_mtime_ns if stat.S_ISDIR(st.st_mode) else None
        except (FileNotFoundError, NotADirectoryError):
            theirs = None
        if theirs is None:
            reason = "missing"
        elif not trust_mtimes or mine == UNVERIFIED:
            reason = "unverified"
        elif theirs != mine:
            reason = "changed"
        elif theirs > now_ns - YOUNG_NS:
            reason = "young"
        elif _rotation_slot(rel, slot, rotate):
            reason = "rotation"
        else:
            continue
        out.append(DirCheck(rel, theirs, reason))
    return out, seen


def confirm(root: str, check: DirCheck, now_ns: int) -> None:
    """Record that the evicted files of this directory were confirmed upstream while the mirror directory
    had `check.mirror_mtime_ns` (a directory changed too recently to trust stays unverified)."""
    ns = check.mirror_mtime_ns
    if ns is None or ns > now_ns - YOUNG_NS:
        ns = UNVERIFIED
    full = os.path.join(root, check.rel) if check.rel else root
    try:
        os.utime(full, ns=(ns, ns), follow_symlinks=False)
    except FileNotFoundError:
        pass
