"""The record every dataset adapter yields (DESIGN §3.1), and the record of a skipped sample."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Sample:
    """One sample of a raw dataset.

    ``media`` maps a modality name (``face_video``, ``eye_table``, ``face_frames_dir`` ...) to a
    path *relative to the raw root*; ``labels`` maps label names (``er7``, ``fer3``, ``er_valence``
    ...) to values; ``annotations`` holds everything else the adapter read (fold, onset/apex ...).
    """

    id: str
    subject: str
    source: str
    media: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, Any] = field(default_factory=dict)
    annotations: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "media", _frozen(self.media))
        object.__setattr__(self, "labels", _frozen(self.labels))
        object.__setattr__(self, "annotations", _frozen(self.annotations))


@dataclass(frozen=True)
class Skip:
    """A sample left out, with the file that caused it and why. Skips are listed, never silent."""

    sample_id: str
    path: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"sample_id": self.sample_id, "path": self.path, "reason": self.reason}


def unique_skips(skips: list[Skip]) -> list[Skip]:
    """Skips without repeats of the same (sample, reason), in first-seen order."""
    seen, out = set(), []
    for skip in skips:
        key = (skip.sample_id, skip.reason)
        if key not in seen:
            seen.add(key)
            out.append(skip)
    return out
