"""What the doctor knows of one raw folder: the adapter's scan, and each media file probed once.

:class:`RawRelease` runs the adapter's ``scan()`` (an EmobenchError it raises is kept as a
finding, not raised: a clip listed twice is a defect of the release, which the doctor
reports), lists the media of the samples by kind, and probes every media file once — a video
decoded to its end, a frame folder listed and every frame read, a still image read, an eye
export read — keeping what the checks need (counts, problems, perceptual hashes of a few
sampled frames). Decoding and reading go through the readers ``prepare`` uses
(:class:`~emobench.prepare.video.ClipFrames`, :func:`~emobench.prepare.video.read_image`,
:func:`~emobench.prepare.thermal_images.read_thermal`,
:func:`~emobench.datasets.tobii.read_tobii_export`), which only ever open files for reading.

When the scan failed, the video and frame-folder checks still run on every video file and
every folder of numbered frames found under the root.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from emobench.datasets.coding_sheet import FRAME_SUFFIXES, VIDEO_SUFFIXES, list_numbered_frames
from emobench.datasets.sample import Sample, Skip
from emobench.errors import EmobenchError, InputError

Progress = Callable[[int, int, str], None]

# A media key's kind, by how the key ends (the naming rule of Sample.media).
MEDIA_KINDS: dict[str, str] = {
    "_video": "video",
    "_frames_dir": "frames",
    "_image": "image",
    "eye_table": "eye",
}
KINDS: tuple[str, ...] = ("video", "frames", "image", "eye")

# Frames per clip whose perceptual hashes are kept (evenly spread over the clip).
SAMPLED_FRAMES = 6


def media_kind(key: str) -> str | None:
    """``face_video`` → ``video``, ``face_frames_dir`` → ``frames``, ``visible_image`` →
    ``image``, ``eye_table`` → ``eye``; None for a key of no known kind."""
    for ending, kind in MEDIA_KINDS.items():
        if key.endswith(ending):
            return kind
    return None


def sample_positions(n: int, k: int = SAMPLED_FRAMES) -> list[int]:
    """``k`` frame positions spread evenly over ``n`` frames (the middle of each k-th)."""
    if n <= 0:
        return []
    return sorted({min(n - 1, int((i + 0.5) * n / k)) for i in range(k)})


_PHASH = None


def perceptual_hash(image: np.ndarray) -> int:
    """The 64-bit perceptual hash (OpenCV's ``img_hash.PHash``) of a BGR or grey image."""
    global _PHASH
    if _PHASH is None:
        _PHASH = cv2.img_hash.PHash_create()
    return int.from_bytes(_PHASH.compute(np.ascontiguousarray(image)).tobytes(), "big")


def pixel_digest(image: np.ndarray) -> str:
    """A digest of the decoded pixels (identical frames have identical digests)."""
    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()


@dataclass
class MediaProbe:
    """What probing one media file found.

    ``problems``: why it is unusable, in words (empty: it reads). For a video: ``declared``
    (the container's frame count) and ``decoded`` (frames that decode); for a frame folder:
    ``numbers`` (the frame numbers on disk), ``gaps`` (numbers missing between the first
    and the last) and ``unreadable`` (file names that do not decode). ``hashes`` and
    ``digests``: the perceptual hash and pixel digest of each sampled frame, in clip order.
    ``eye``: an eye export's reading (see ``eye_exports``).
    """

    rel: str
    kind: str
    problems: list[str] = field(default_factory=list)
    declared: int = 0
    decoded: int = 0
    numbers: tuple[int, ...] = ()
    gaps: tuple[int, ...] = ()
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    hashes: list[int] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    eye: Any = None


def _keep_frames(probe: MediaProbe, frames: Iterable[np.ndarray]) -> None:
    for frame in frames:
        probe.hashes.append(perceptual_hash(frame))
        probe.digests.append(pixel_digest(frame))


def probe_video(root: Path, rel: str) -> MediaProbe:
    """Decode a video once to its end, keeping the sampled frames' hashes."""
    from emobench.prepare.video import ClipFrames, ClipTooShort

    probe = MediaProbe(rel, "video")
    try:
        with ClipFrames(root / rel) as clip:
            probe.declared = clip.declared
            frames: dict[int, np.ndarray] = {}
            # a video cut short shows below: fewer frames decode than its container declares
            with contextlib.suppress(ClipTooShort):
                frames = clip.read(sample_positions(probe.declared))
            probe.decoded = clip.length()
            if not frames and probe.decoded > 0 and probe.declared == 0:
                frames = clip.read(sample_positions(probe.decoded))
            _keep_frames(probe, (frames[p] for p in sorted(frames)))
    except InputError as err:
        probe.problems.append(err.problem)
    return probe


def probe_frames(root: Path, rel: str) -> MediaProbe:
    """List a frame folder and read every frame once, keeping the sampled frames' hashes."""
    from emobench.prepare.video import read_image

    probe = MediaProbe(rel, "frames")
    folder = root / rel
    if not folder.is_dir():
        probe.problems.append("frame folder not found")
        return probe
    listing = list_numbered_frames(folder)
    problem = listing.problem()
    if problem:
        probe.problems.append(problem)
    probe.numbers = listing.numbers
    if listing.numbers:
        present = set(listing.numbers)
        probe.gaps = tuple(
            n for n in range(listing.numbers[0], listing.numbers[-1] + 1) if n not in present
        )
    keep = set(sample_positions(len(listing.names)))
    kept = []
    for position, name in enumerate(listing.names):
        # frames not hashed are decoded at 1/8 of their size: every byte of a JPEG is still
        # entropy-decoded (damage shows), the inverse transform is mostly skipped
        flag = cv2.IMREAD_COLOR if position in keep else cv2.IMREAD_REDUCED_GRAYSCALE_8
        try:
            image = read_image(folder / name, flag)
        except InputError as err:
            probe.unreadable.append((name, err.problem))
            continue
        if position in keep:
            kept.append(image)
    probe.decoded = len(listing.names) - len(probe.unreadable)
    _keep_frames(probe, kept)
    return probe


def probe_image(root: Path, rel: str, key: str) -> MediaProbe:
    """Read a still image (a thermal one with the thermal reader) and hash it."""
    from emobench.prepare.thermal_images import read_thermal
    from emobench.prepare.video import read_image

    probe = MediaProbe(rel, "image")
    path = root / rel
    try:
        if key.startswith("thermal"):
            values = read_thermal(path).values
            image = cv2.normalize(values, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
        else:
            if not path.is_file():
                raise InputError(path, "image file not found")
            image = read_image(path)
    except InputError as err:
        probe.problems.append(err.problem)
        return probe
    probe.decoded = 1
    _keep_frames(probe, [image])
    return probe


def probe_eye(root: Path, rel: str) -> MediaProbe:
    """Read an eye-tracker export with the Tobii reader (see ``eye_exports``)."""
    from emobench.doctor.eye_exports import read_export

    probe = MediaProbe(rel, "eye")
    probe.eye = read_export(root, rel)
    if probe.eye.problem:
        probe.problems.append(probe.eye.problem)
    return probe


@dataclass(frozen=True)
class MediaRef:
    """One media file of the release: its kind, the Sample.media key (empty for a file found
    on disk when there was no scan), the path relative to the root, and its sample."""

    kind: str
    key: str
    rel: str
    sample: Sample | None


class RawRelease:
    """One raw folder as the checks see it (see the module docstring)."""

    def __init__(self, dataset: str, root: Path, adapter: Any):
        self.dataset = dataset
        self.root = Path(root)
        self.adapter = adapter
        self.samples: list[Sample] = []
        self.skips: list[Skip] = []
        self.scan_error: EmobenchError | None = None
        try:
            self.samples, self.skips = adapter.scan()
        except EmobenchError as err:
            self.scan_error = err
        self.excluded: Mapping[str, int] = dict(getattr(adapter, "excluded", {}) or {})
        self._refs = self._sample_media() if self.scan_error is None else self._disk_media()
        self.probes: dict[str, MediaProbe] = {}

    @property
    def scan_failed(self) -> bool:
        return self.scan_error is not None

    def relative(self, path: str | Path) -> str:
        """``path`` relative to the root where it lies under it, else as given."""
        try:
            return Path(path).resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)

    # ---- media ---------------------------------------------------------------------------
    def _sample_media(self) -> list[MediaRef]:
        """The media of every sample, then the videos and frame folders that skips name (a
        clip skipped for frames missing between its onset and offset is still checked)."""
        refs = []
        for sample in self.samples:
            for key, rel in sample.media.items():
                kind = media_kind(key)
                if kind is not None:
                    refs.append(MediaRef(kind, key, rel, sample))
        seen = {ref.rel for ref in refs}
        for skip in self.skips:
            path = self.root / skip.path
            if skip.path in seen or not path.exists():
                continue
            seen.add(skip.path)
            if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
                refs.append(MediaRef("video", "", skip.path, None))
            elif path.is_dir() and list_numbered_frames(path).numbers:
                refs.append(MediaRef("frames", "", skip.path, None))
        return refs

    def _disk_media(self) -> list[MediaRef]:
        """Every video file and every folder holding frame images under the root."""
        refs = []
        for folder, dirs, files in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            base = Path(folder)
            rel_dir = base.relative_to(self.root).as_posix()
            names = sorted(f for f in files if not f.startswith("."))
            if base != self.root and any(Path(f).suffix.lower() in FRAME_SUFFIXES for f in names):
                refs.append(MediaRef("frames", "", rel_dir, None))
            for name in names:
                if Path(name).suffix.lower() in VIDEO_SUFFIXES:
                    rel = name if base == self.root else f"{rel_dir}/{name}"
                    refs.append(MediaRef("video", "", rel, None))
        return refs

    def media(self, kind: str) -> list[MediaRef]:
        """The media of one kind, in sample order."""
        return [ref for ref in self._refs if ref.kind == kind]

    def annotation_key(self, keys: Iterable[str]) -> str | None:
        """The first of ``keys`` that the samples carry as an annotation, or None."""
        for key in keys:
            if any(key in s.annotations for s in self.samples):
                return key
        return None

    def probe_all(self, kinds: Iterable[str], progress: Progress | None = None) -> None:
        """Probe every media file of the given kinds once (``progress(done, total, file)``)."""
        wanted = set(kinds)
        todo: dict[str, MediaRef] = {}
        for ref in self._refs:
            if ref.kind in wanted:
                todo.setdefault(ref.rel, ref)
        total = len(todo)
        for done, ref in enumerate(todo.values(), start=1):
            if ref.rel not in self.probes:
                self.probes[ref.rel] = self._probe(ref)
            if progress is not None:
                progress(done, total, ref.rel)

    def probe(self, ref: MediaRef) -> MediaProbe:
        """The probe of one media file (probed now if it was not yet)."""
        if ref.rel not in self.probes:
            self.probes[ref.rel] = self._probe(ref)
        return self.probes[ref.rel]

    def _probe(self, ref: MediaRef) -> MediaProbe:
        if ref.kind == "video":
            return probe_video(self.root, ref.rel)
        if ref.kind == "frames":
            return probe_frames(self.root, ref.rel)
        if ref.kind == "image":
            return probe_image(self.root, ref.rel, ref.key)
        return probe_eye(self.root, ref.rel)
