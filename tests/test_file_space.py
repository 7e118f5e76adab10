"""Disk space reserved ahead of a growing file, and given back."""

from __future__ import annotations

import os

from emobench.file_space import SpaceReserver, release_unused


def test_space_is_reserved_past_the_end_without_changing_the_size_then_given_back(tmp_path):
    path = tmp_path / "grow.bin"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        os.write(fd, b"x" * 1000)
        space = SpaceReserver(fd, step=8 << 20)
        space.written_through(1000)
        if not space.enabled:  # a file system without fallocate: nothing to check
            return
        st = os.fstat(fd)
        assert st.st_size == 1000
        assert st.st_blocks * 512 >= 8 << 20
        assert space.reserved == 1000 + (8 << 20)
        space.written_through(2000)  # far from the reserved end: no new call
        assert space.reserved == 1000 + (8 << 20)
        space.written_through(7 << 20)  # within a quarter step of it: the next step
        assert space.reserved == 1000 + 2 * (8 << 20)
    finally:
        os.close(fd)
    release_unused(path)
    st = os.stat(path)
    assert st.st_size == 1000 and st.st_blocks * 512 < 1 << 20
    assert path.read_bytes() == b"x" * 1000


def test_a_descriptor_that_refuses_is_left_to_allocate_as_usual(tmp_path):
    read, write = os.pipe()  # fallocate on a pipe fails (ESPIPE)
    try:
        space = SpaceReserver(write)
        space.written_through(10)
        assert not space.enabled and space.reserved == 0
        space.written_through(10 << 30)  # once refused, never asked again
    finally:
        os.close(read)
        os.close(write)
