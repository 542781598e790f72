"""The outbound HTTP edge: big socket reads reuse memory instead of faulting in fresh pages."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# asyncio's pattern: recv(1 MiB) into a new buffer, shrunk to the 150 KiB that arrived, kept a while.
READS = """
import resource, socket, sys
if sys.argv[1] == "tuned":
    from tunasync.filecoin.http import recycle_read_buffers
    recycle_read_buffers()
    recycle_read_buffers()  # idempotent
a, b = socket.socketpair()
chunk, keep = b"x" * (150 << 10), []  # fits a default socket buffer: one thread can send and read
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(400):
    a.sendall(chunk)
    got = 0
    while got < len(chunk):
        keep.append(b.recv(1 << 20))
        got += len(keep[-1])
        del keep[:-8]
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the tuning is for glibc's malloc")
def test_socket_reads_are_recycled_not_faulted_in():
    def faults(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", READS, mode], capture_output=True, text=True, check=True)
        return int(out.stdout)

    plain, tuned = faults("plain"), faults("tuned")
    assert plain > 10_000  # ~38 pages per read: every byte on a fresh page
    assert tuned < plain / 4
