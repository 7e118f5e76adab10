"""The ``frames`` step: T face frames sampled from each clip → ``face/frames``.

It applies to every sample with a face video or frame folder whose sheet does not code onset,
apex and offset frames (those are the ``apex`` step's). Frames are decoded by
:class:`~emobench.prepare.video.ClipFrames` and resized whole to ``size × size`` RGB.

``uniform_indices`` (``stride`` = 0) picks the centre frame of T equal segments of the clip
(deterministic; the same at training and test time). ``strided_indices`` (``stride`` > 0, e.g.
MAFW's 32 frames at stride 2) takes every ``stride``-th frame of a window of T × stride source
frames centred on the clip. Clips shorter than what the sampling wants are padded by repeating
frames and counted, so that ``prepare`` can report them.

A video is sampled by the frame count its container declares. When fewer frames decode, the
clip is re-sampled over the frames that do — unless the shortfall is more than a container's
rounding (:func:`~emobench.prepare.video.declared_slack`): then the file is cut short or
damaged and the sample is skipped, never sampled from its first part.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emobench.datasets.coding_sheet import list_numbered_frames
from emobench.datasets.sample import Sample
from emobench.errors import InputError
from emobench.prepare.apex import is_coded_clip
from emobench.prepare.step import (
    ArraySpec,
    PrepareStep,
    StepOutput,
    StepSettings,
    option,
    register_step,
)
from emobench.prepare.video import ClipFrames, ClipTooShort, check_declared, to_square_rgb


@dataclass(frozen=True)
class SampledClip:
    frames: np.ndarray  # (T, size, size, 3) uint8 RGB
    source_frames: int  # frames in the clip
    indices: tuple[int, ...]  # frame indices that were kept
    window: int = 0  # source frames the sampling wants (T × stride); 0 for uniform sampling

    @property
    def padded(self) -> bool:
        return self.source_frames < max(len(self.indices), self.window)


def uniform_indices(n_frames: int, t: int) -> np.ndarray:
    """Centre of each of t equal segments of [0, n_frames); repeats frames when n_frames < t."""
    if n_frames <= 0:
        raise ValueError("n_frames must be positive")
    return np.minimum(((np.arange(t) + 0.5) * n_frames / t).astype(np.int64), n_frames - 1)


def strided_indices(n_frames: int, t: int, stride: int) -> np.ndarray:
    """Every ``stride``-th frame of a window of ``t * stride`` frames centred on the clip.

    A clip shorter than the window is first stretched to it by repeating frames (window
    position j shows frame ⌊j · n_frames / window⌋), so the t frames still span the clip."""
    if n_frames <= 0:
        raise ValueError("n_frames must be positive")
    if stride < 1:
        raise ValueError("stride must be at least 1")
    window = t * stride
    positions = stride * np.arange(t, dtype=np.int64)
    if n_frames >= window:
        return (n_frames - window) // 2 + positions
    return positions * n_frames // window


def sample_indices(n_frames: int, t: int, stride: int = 0) -> np.ndarray:
    """``uniform_indices`` when ``stride`` is 0, else ``strided_indices``."""
    return strided_indices(n_frames, t, stride) if stride else uniform_indices(n_frames, t)


def _sampled(clip: ClipFrames, n: int, t: int, size: int, stride: int) -> SampledClip:
    wanted = sample_indices(n, t, stride)
    rgb = {pos: to_square_rgb(image, size) for pos, image in clip.read(wanted).items()}
    frames = np.stack([rgb[int(i)] for i in wanted])
    return SampledClip(frames, n, tuple(wanted.tolist()), t * stride)


def sample_video(path: str | Path, t: int = 8, size: int = 112, stride: int = 0) -> SampledClip:
    """T frames uniformly over a video (or at ``stride``), resized to size×size, RGB uint8.

    The declared frame count picks the frames; a video that decodes a few frames fewer is
    sampled over the frames that decode, one that decodes clearly fewer is refused."""
    with ClipFrames(Path(path)) as clip:
        declared = clip.declared
        if declared > 0:
            try:
                return _sampled(clip, declared, t, size, stride)
            except ClipTooShort as short:
                check_declared(clip.name, short.decoded, declared)
                n = short.decoded
        else:
            n = clip.length()
        if n <= 0:
            raise InputError(path, "no decodable video frames")
        return _sampled(clip, n, t, size, stride)


def sample_frame_folder(
    folder: str | Path, t: int = 8, size: int = 112, stride: int = 0
) -> SampledClip:
    """T frames uniformly (or at ``stride``) over a folder of images in frame-number order
    (:func:`~emobench.datasets.coding_sheet.list_numbered_frames`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "frame folder not found")
    listing = list_numbered_frames(folder)
    problem = listing.problem()
    if problem:
        raise InputError(folder, problem)
    with ClipFrames([folder / name for name in listing.names]) as clip:
        return _sampled(clip, len(listing.names), t, size, stride)


# ----------------------------------------------------------------------------------------------
# The prepare step.


@dataclass(frozen=True)
class FramesSettings(StepSettings):
    frames: int = option(
        8, "Face frames per clip (default: 8; the dataset's own where it has one).", minimum=1
    )
    size: int = option(112, "Frame side in pixels; frames are resized whole.", minimum=8)
    stride: int = option(
        0,
        "0: frames uniformly over the clip; k: every k-th frame of a centred window "
        "(MAFW: --frames 32 --stride 2).",
        minimum=0,
    )


def _frames_attrs(settings: FramesSettings) -> dict[str, Any]:
    s = settings
    sampling = (
        f"stride {s.stride}: one frame in {s.stride} of a centred window of "
        f"{s.frames * s.stride} frames; shorter clips stretched by repeating frames"
        if s.stride
        else "uniform, centre frame of T equal segments"
    )
    return {
        "layout": "T,H,W,C",
        "color": "RGB",
        "frames": s.frames,
        "size": s.size,
        "stride": s.stride,
        "sampling": sampling,
    }


@register_step("frames")
class FramesStep(PrepareStep):
    """A face video or frame folder → ``face/frames`` (T, size, size, 3) uint8 RGB."""

    settings = FramesSettings
    order = 10
    media = ("face_video", "face_frames_dir")
    arrays = (ArraySpec("face/frames", _frames_attrs),)

    def applies(self, sample: Sample) -> bool:
        return not is_coded_clip(sample) and any(key in sample.media for key in self.media)

    def run(
        self, root: Path, sample: Sample, settings: FramesSettings, used: Mapping[str, Any]
    ) -> StepOutput:
        s = settings
        if "face_video" in sample.media:
            clip = sample_video(root / sample.media["face_video"], s.frames, s.size, s.stride)
        else:
            folder = root / sample.media["face_frames_dir"]
            clip = sample_frame_folder(folder, s.frames, s.size, s.stride)
        return StepOutput({"face/frames": clip.frames}, padded=clip.padded)

    def variant(self, settings: FramesSettings) -> dict[str, Any]:
        parts: dict[str, Any] = {"frames": settings.frames, "size": settings.size}
        if settings.stride:
            parts["stride"] = settings.stride
        return parts

    def dataset_defaults(self, adapter_cls: type) -> dict[str, Any]:
        frames = getattr(adapter_cls, "default_frames", None)
        return {} if frames is None else {"frames": int(frames)}
