"""Disk space reserved ahead of a file that grows by appends, as ``np.save`` reserves its
whole file with ``fallocate`` before its one write.

Writing into blocks that are already allocated skips the file system's block allocation on
every write, the largest single cost of a per-sample pack write after hashing (figures in
CHANGELOG, from ``benchmarks/bench_pack_write.py``). The space is reserved with
``FALLOC_FL_KEEP_SIZE`` (the file's size does not change, so HDF5 sees the file it wrote), and
what was not used is given back by :func:`release_unused`. Where the call does not exist (not
Linux) or the file system refuses it, nothing is reserved and the writes work as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_KEEP_SIZE = 1  # FALLOC_FL_KEEP_SIZE from <linux/falloc.h>


def _fallocate():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        call = libc.fallocate
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    call.restype = ctypes.c_int
    return call


_FALLOCATE = _fallocate()


class SpaceReserver:
    """Keeps at least ``step`` bytes allocated past the end of what was written to ``fd``."""

    def __init__(self, fd: int, step: int = 64 << 20):
        self.fd = fd
        self.step = step
        self.reserved = 0  # allocated through this offset
        self.enabled = _FALLOCATE is not None

    def written_through(self, end: int) -> None:
        """The file now holds data up to about ``end``: reserve the next step when it nears
        the end of what is reserved."""
        if not self.enabled or end + self.step // 4 < self.reserved:
            return
        start = max(self.reserved, end)
        if _FALLOCATE(self.fd, _KEEP_SIZE, start, self.step) != 0:
            self.enabled = False  # EOPNOTSUPP, ENOSPC …: the writes then allocate as usual
            return
        self.reserved = start + self.step


def release_unused(path: str | os.PathLike) -> None:
    """Give back the blocks reserved past the end of the closed file at ``path`` (a truncate to
    its own size frees them; HDF5 truncates only when its end differs from the file's)."""
    os.truncate(path, os.path.getsize(path))
