"""glibc ``malloc`` settings for processes that decode one large frame after another (prepare).

By default glibc hands out each block of 128 KiB or more as a mapping of its own and gives
it back to the kernel when it is freed (the threshold then rises to the largest block freed,
up to 32 MiB), and it trims the top of its heap once 128 KiB there are free. A clip's frames
are decoded into fresh arrays, held until the clip is sampled, and freed together, so every
frame of the next clip was again a new mapping: the kernel zeroes and maps each of its pages
(225 for a 640x480 frame) on first touch, a large part of a prepare worker's time on such
clips (figures in CHANGELOG). :func:`keep_large_blocks` raises both thresholds, so freed
frames stay in the heap and the next clip reuses them.

Only glibc has ``mallopt``; elsewhere (musl, macOS, Windows) nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD = -1  # from <malloc.h>
_M_MMAP_THRESHOLD = -3

# Blocks below this come from the heap: a 16-frame 640x480 clip (14.7 MB) and a 1080p frame
# (6.2 MB) among them. 32 MiB is the largest value glibc accepts on 64-bit systems.
MMAP_THRESHOLD = 32 << 20
# Free memory the heap keeps at its top before it gives any back: a clip's frames and their
# stack, with room to spare, without letting a long prepare hold on to much more.
TRIM_THRESHOLD = 128 << 20


def _mallopt():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        call = libc.mallopt
    except (OSError, AttributeError, TypeError):  # no C library by that name, or no mallopt
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int]
    call.restype = ctypes.c_int
    return call


def keep_large_blocks() -> bool:
    """Have this process's ``malloc`` keep freed blocks up to :data:`MMAP_THRESHOLD` in its
    heap, and up to :data:`TRIM_THRESHOLD` of free memory at the heap's top, for reuse. The
    setting lasts for the process and is inherited by a fork. Returns whether it took (False
    without glibc)."""
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
