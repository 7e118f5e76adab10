"""The per-sample array digest: what it covers, its algorithms, and names it refuses."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import xxhash

from emobench.array_hash import ALGORITHMS, DEFAULT, LEGACY, array_digest, check_algorithm
from emobench.errors import PackError


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_dtype_shape_and_every_byte_change_the_digest(algorithm):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    base = array_digest(a, algorithm)
    flipped = a.copy()
    flipped[1, 2, 3] ^= 1
    assert array_digest(a.copy(), algorithm) == base
    assert array_digest(flipped, algorithm) != base
    assert array_digest(a.reshape(6, 4), algorithm) != base  # same bytes, other shape
    assert array_digest(a.view(np.int8), algorithm) != base  # same bytes, other dtype


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_strided_view_hashes_as_its_c_ordered_copy(algorithm):
    a = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    view = a[:, ::2, 1:]
    assert not view.flags.c_contiguous
    assert array_digest(view, algorithm) == array_digest(np.ascontiguousarray(view), algorithm)


def test_the_digests_are_the_named_algorithms_over_the_header_and_the_bytes():
    a = np.arange(6, dtype="<i4").reshape(2, 3)
    header = b"<i4|(2, 3)|"
    assert array_digest(a, "sha256") == hashlib.sha256(header + a.tobytes()).hexdigest()
    assert array_digest(a, "xxh3-128") == xxhash.xxh3_128(header + a.tobytes()).hexdigest()
    assert array_digest(a) == array_digest(a, DEFAULT) and DEFAULT == "xxh3-128"
    assert LEGACY == "sha256"


def test_an_unknown_algorithm_is_a_named_error():
    assert check_algorithm("sha256", "p.h5") == "sha256"
    with pytest.raises(PackError, match="p.h5: array hash 'md5' is not one emobench knows"):
        check_algorithm("md5", "p.h5")
