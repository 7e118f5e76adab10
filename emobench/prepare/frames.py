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

Active frame transforms (``--mask``) work on the sampled frames at native resolution, before
the resize; each extra variant they return is written beside ``face/frames``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emobench.datasets.coding_sheet import list_numbered_frames
from emobench.datasets.sample import Sample
from emobench.errors import InputError
from emobench.prepare.apex import is_coded_clip
from emobench.prepare.step import (
    ArraySpec,
    NativeFrames,
    PrepareStep,
    StepOutput,
    StepSettings,
    apply_frame_transforms,
    option,
    register_step,
    variant_key,
)
from emobench.prepare.video import (
    ClipFrames,
    ClipTooShort,
    check_declared,
    reduced_decode_side,
    resize_square,
    to_rgb,
    to_square_rgb,
)


@dataclass(frozen=True)
class SampledClip:
    frames: np.ndarray  # (T, size, size, 3) uint8 RGB
    source_frames: int  # frames in the clip
    indices: tuple[int, ...]  # frame indices that were kept
    window: int = 0  # source frames the sampling wants (T × stride); 0 for uniform sampling
    variants: dict[str, np.ndarray] = field(default_factory=dict)  # extra frame transform levels
    row: dict[str, Any] = field(default_factory=dict)  # the frame transforms' manifest columns

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


def decode_sampled(
    clip: ClipFrames, t: int, stride: int = 0
) -> tuple[np.ndarray, dict[int, np.ndarray], int]:
    """``(indices, decoded, n)``: the T source positions sampled over the clip (with repeats
    when padded), the decoded BGR frame at each distinct position, and the frames sampled over.

    A video is sampled by the frame count its container declares. When it decodes a few
    frames fewer the clip is sampled again over the frames that decode; when it decodes
    clearly fewer (:func:`~emobench.prepare.video.declared_slack`) it is refused, naming it."""
    n = clip.declared
    if n > 0:
        wanted = sample_indices(n, t, stride)
        try:
            return wanted, clip.read(wanted), n
        except ClipTooShort as short:
            check_declared(clip.name, short.decoded, n)
            n = short.decoded
    elif clip.video is not None:
        n = clip.length()
    if n <= 0:
        raise InputError(clip.name, "no decodable video frames")
    wanted = sample_indices(n, t, stride)
    return wanted, clip.read(wanted), n


def native_frames(clip: ClipFrames, decoded: dict[int, np.ndarray]) -> NativeFrames:
    """The decoded frames of a clip as RGB at native resolution, for frame transforms (new
    arrays: a transform may draw on them without touching the clip's decoded frames)."""
    positions = sorted(decoded)
    return NativeFrames(
        [to_rgb(decoded[p], clip.order) for p in positions],
        tuple(positions),
        clip.fps,
        str(clip.name),
    )


def _sampled(
    clip: ClipFrames,
    t: int,
    size: int,
    stride: int,
    transforms: Mapping[str, Any] | None = None,
    sample: Sample | None = None,
) -> SampledClip:
    wanted, decoded, n = decode_sampled(clip, t, stride)
    if not transforms:
        # the stack copies each frame: no copy of its own for a frame already at size
        rgb = {p: to_square_rgb(im, size, clip.order, copy=False) for p, im in decoded.items()}
        frames = np.stack([rgb[int(i)] for i in wanted])
        return SampledClip(frames, n, tuple(wanted.tolist()), t * stride)
    native = native_frames(clip, decoded)
    out = apply_frame_transforms(native, sample, transforms)
    where = {p: k for k, p in enumerate(native.indices)}
    variants = {
        name: np.stack([resize_square(frames[where[int(i)]], size) for i in wanted])
        for name, frames in out.frames.items()
    }
    main = variants.pop("")
    return SampledClip(main, n, tuple(wanted.tolist()), t * stride, variants, out.row)


def sample_video(
    path: str | Path,
    t: int = 8,
    size: int = 112,
    stride: int = 0,
    transforms: Mapping[str, Any] | None = None,
    sample: Sample | None = None,
) -> SampledClip:
    """T frames uniformly over a video (or at ``stride``), resized to size×size, RGB uint8;
    ``transforms`` (step → settings of active frame transforms) are applied to the sampled
    frames at native resolution first. Frames are picked as :func:`decode_sampled` says."""
    with ClipFrames(Path(path), rgb=True) as clip:
        return _sampled(clip, t, size, stride, transforms, sample)


def sample_frame_folder(
    folder: str | Path,
    t: int = 8,
    size: int = 112,
    stride: int = 0,
    transforms: Mapping[str, Any] | None = None,
    sample: Sample | None = None,
    min_side: int = 0,
) -> SampledClip:
    """T frames uniformly (or at ``stride``) over a folder of images in frame-number order
    (:func:`~emobench.datasets.coding_sheet.list_numbered_frames`), transformed as in
    :func:`sample_video`. ``min_side`` > 0: JPEGs are decoded reduced while their short side
    stays at least that (see :class:`~emobench.prepare.video.ClipFrames`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "frame folder not found")
    listing = list_numbered_frames(folder)
    problem = listing.problem()
    if problem:
        raise InputError(folder, problem)
    prefix = os.path.join(folder, "")  # the frames as strings: ClipFrames makes no path object
    with ClipFrames([prefix + name for name in listing.names], min_side, rgb=True) as clip:
        return _sampled(clip, t, size, stride, transforms, sample)


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
    decode: str = option(
        "full",
        "full: frame images decoded whole, then area-resized; reduced: JPEGs decoded at 1/2, "
        "1/4 or 1/8 scale by libjpeg while their short side stays at least 2 x --size, then "
        "area-resized (faster on large frames; the pixels differ slightly). Videos are "
        "decoded whole either way.",
        choices=("full", "reduced"),
    )

    @property
    def min_side(self) -> int:
        """The short side a reduced JPEG decode must keep (0: decode whole)."""
        return reduced_decode_side(self.size) if self.decode == "reduced" else 0


def frames_attrs(settings: FramesSettings) -> dict[str, Any]:
    """The attributes of a clip array sampled with these settings (also the ``streams``')."""
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
    decodes_frames = True
    media = ("face_video", "face_frames_dir")
    arrays = (ArraySpec("face/frames", frames_attrs),)

    def applies(self, sample: Sample) -> bool:
        return not is_coded_clip(sample) and any(key in sample.media for key in self.media)

    def run(
        self, root: Path, sample: Sample, settings: FramesSettings, used: Mapping[str, Any]
    ) -> StepOutput:
        s = settings
        if "face_video" in sample.media:
            path = root / sample.media["face_video"]
            clip = sample_video(path, s.frames, s.size, s.stride, used, sample)
        else:
            folder = root / sample.media["face_frames_dir"]
            clip = sample_frame_folder(folder, s.frames, s.size, s.stride, used, sample, s.min_side)
        arrays = {"face/frames": clip.frames}
        arrays.update({variant_key("face/frames", v): f for v, f in clip.variants.items()})
        return StepOutput(arrays, row=clip.row, padded=clip.padded)

    def variant(self, settings: FramesSettings) -> dict[str, Any]:
        parts: dict[str, Any] = {"frames": settings.frames, "size": settings.size}
        if settings.stride:
            parts["stride"] = settings.stride
        if settings.decode != "full":
            parts["decode"] = settings.decode
        return parts

    def dataset_defaults(self, adapter_cls: type) -> dict[str, Any]:
        frames = getattr(adapter_cls, "default_frames", None)
        return {} if frames is None else {"frames": int(frames)}
