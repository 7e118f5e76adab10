"""What the adapters of paired visible/thermal databases share (``vt-pairs``, ``tufts``): the
media keys of a capture, the natural order their listings are read in, and the source digest
of layouts without a list file."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

from emobench.datasets.sample import Sample

MEDIA_KEYS: dict[str, str] = {"visible": "visible_image", "thermal": "thermal_image"}

_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple:
    """Sort key that orders digit runs by value: ``s2`` before ``s10``, ``7`` before ``26``."""
    return tuple(
        (0, int(part), part) if part.isdigit() else (1, 0, part)
        for part in _DIGITS.split(text)
        if part
    )


def media_digest(root: Path, samples: Iterable[Sample], head: bytes = b"") -> str:
    """sha256 over ``head`` and every media path of ``samples`` with its size in bytes."""
    h = hashlib.sha256(head)
    for sample in samples:
        for rel in sorted(sample.media.values()):
            h.update(f"{rel}|{(Path(root) / rel).stat().st_size}\n".encode())
    return h.hexdigest()
