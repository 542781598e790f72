"""Checks of a config's exposure that `--check` reports as warnings (docs/security.md).

A warning never fails `--check` (its exit code stays 0 unless there is an error): these settings can
be right on purpose (a worker on an isolated VLAN, a token file shared with a `tunasync` group), but
nobody should run them without having been told.
"""

from __future__ import annotations

import ipaddress
import os
import stat

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def readable_by_others(path: str) -> int | None:
    """The file's mode when its group or others may read it; None when private (or unreadable)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    mode = stat.S_IMODE(st.st_mode)
    return mode if mode & 0o044 else None


def mode_text(mode: int) -> str:
    who = " and ".join(w for w, bit in (("its group", 0o040), ("every user", 0o004)) if mode & bit)
    return f"mode {mode:04o}: {who} can read it"


def is_loopback(addr: str) -> bool:
    """Does binding `addr` keep a server on this machine? "" and 0.0.0.0 / :: mean every interface."""
    host = addr.strip().strip("[]")
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # "" (all interfaces) or a host name that resolves who knows where


def inline_secret_warning(file: str, key: str, what: str) -> str | None:
    """Reason text when `file` (holding the secret at `key`) is readable by others; None when private."""
    mode = readable_by_others(file)
    if mode is None:
        return None
    return (f"holds {what} inline and the file has {mode_text(mode)}; chmod 600 {file} "
            f"(or move the secret to a 0600 file / the environment)")
