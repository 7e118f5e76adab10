"""The per-sample digest a pack stores for every array (DESIGN §3.2), by algorithm name.

A pack records which algorithm made its array digests in the root attribute ``array_hash``;
a pack without that attribute was written before 2026-12-02 and holds sha256 digests, which
still verify. New packs use XXH3-128: it is a checksum against damaged, truncated or swapped
bytes, not against a deliberate forgery, and it runs at memory speed, where sha256 cost more
than the whole HDF5 write of a sample (figures in CHANGELOG). The pack's content digest stays
sha256, over these per-sample digests and everything else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import xxhash

from emobench.errors import PackError

DEFAULT = "xxh3-128"
# The algorithm of every pack written before ``array_hash`` was recorded.
LEGACY = "sha256"

_HASHERS: dict[str, Callable[[], object]] = {
    "xxh3-128": xxhash.xxh3_128,
    "sha256": hashlib.sha256,
}
ALGORITHMS = tuple(_HASHERS)


def check_algorithm(name: str, where: str) -> str:
    """``name`` when it is a known array hash, else a PackError naming ``where``."""
    if name not in _HASHERS:
        raise PackError(
            f"{where}: array hash {name!r} is not one emobench knows ({', '.join(ALGORITHMS)})"
        )
    return name


def array_digest(array: np.ndarray, algorithm: str = DEFAULT) -> str:
    """Hex digest over dtype, shape and the C-ordered bytes of one sample's array (read in
    place, without a copy, when the array is C-contiguous)."""
    a = np.ascontiguousarray(array)
    h = _HASHERS[algorithm]()
    h.update(f"{a.dtype.str}|{a.shape}|".encode())
    h.update(a.data if a.dtype.kind != "O" and a.ndim else a.tobytes())
    return h.hexdigest()
