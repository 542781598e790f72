"""Content types for mirror files.

Python's built-in table (not the host's /etc/mime.types, so every machine answers alike) plus the
types mirrors are full of. A compressed file is served as what it is (`x.tar.gz` is application/gzip),
never with `Content-Encoding`: clients must get the exact bytes, as apt and pip expect.
"""

from __future__ import annotations

import mimetypes

FALLBACK = "application/octet-stream"

MIRROR_TYPES = {
    ".deb": "application/vnd.debian.binary-package",
    ".udeb": "application/vnd.debian.binary-package",
    ".ddeb": "application/vnd.debian.binary-package",
    ".dsc": "text/plain",
    ".changes": "text/plain",
    ".buildinfo": "text/plain",
    ".rpm": "application/x-rpm",
    ".srpm": "application/x-rpm",
    ".iso": "application/x-iso9660-image",
    ".img": "application/octet-stream",
    ".gz": "application/gzip",
    ".tgz": "application/gzip",
    ".xz": "application/x-xz",
    ".txz": "application/x-xz",
    ".bz2": "application/x-bzip2",
    ".zst": "application/zstd",
    ".lz4": "application/x-lz4",
    ".lzma": "application/x-lzma",
    ".br": "application/x-brotli",
    ".Z": "application/x-compress",
    ".whl": "application/zip",
    ".jar": "application/java-archive",
    ".apk": "application/vnd.android.package-archive",
    ".asc": "application/pgp-signature",
    ".sig": "application/pgp-signature",
    ".gpg": "application/pgp-signature",
    ".sha256": "text/plain",
    ".sha512": "text/plain",
    ".md5": "text/plain",
    ".torrent": "application/x-bittorrent",
}

_TABLE = mimetypes.MimeTypes()  # the built-in defaults only
_TABLE.encodings_map.clear()  # ".gz" is a type here, not an encoding


def content_type(name: str) -> str:
    """The Content-Type for a file name (its last path segment)."""
    dot = name.rfind(".")
    if dot > 0:
        ext = name[dot:]
        known = MIRROR_TYPES.get(ext) or MIRROR_TYPES.get(ext.lower())
        if known:
            return known
    guessed, _ = _TABLE.guess_type(name, strict=False)
    return guessed or FALLBACK
