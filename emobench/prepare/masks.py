"""The ``masks`` step: face masks drawn on each clip's frames before they are cropped.

A frame transform (see :mod:`emobench.prepare.step`), not a reader of media: with ``--mask``
given, every step that decodes clips (``frames``, ``streams``) hands it the clip's frames at
native resolution, and it draws the mask on each frame where MediaPipe's face landmarker
(:func:`~emobench.prepare.face_landmarks.face_track`, one tracked pass per clip, shared with
the other steps) finds a face. A frame without a face is kept unmasked and counted, never
dropped (the paper code dropped such frames, which shortened its videos).

``--coverage`` chooses how much of the face the mask hides (``full``, ``nose_exposed``,
``chin_only``, see :mod:`~emobench.prepare.mask_drawing`); ``levels`` keeps the main frames
unmasked and adds one variant per coverage level (``face_full/frames``,
``face_nose_exposed/frames``, ``face_chin_only/frames``: the inputs ``face_full`` …), so that a
robustness protocol trains on clean faces and tests on each level from one pack.

Each sample's mask look (colour, texture) comes from its own seed, drawn from
``numpy.random.default_rng([--mask-seed, crc32(sample id)])`` — stable across processes and
runs, unlike Python's ``hash`` — and recorded in ``/samples`` as ``mask_seed``:
``mask_look(style, numpy.random.default_rng(mask_seed))`` gives the look again. One look serves
every frame of a clip and every coverage level, so a mask does not flicker. Each row also
records ``mask_style``, ``mask_coverage``, ``mask_frames_share`` (share of frames masked),
``mask_face_covered`` (mean share of the face area hidden over the masked frames; with
``levels``, that of ``full``, and ``mask_face_covered_<level>`` for each level) and
``face_found_share`` (share of frames with a face). ``--min-face-share`` turns a sample whose
share of frames with a face is below it into a listed skip.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from emobench.datasets.sample import Sample
from emobench.errors import InputError
from emobench.modalities import Modality, register_modality
from emobench.prepare.face_landmarks import face_track, landmarker_model_path, landmarker_ready
from emobench.prepare.mask_drawing import COVERAGES, MASK_STYLES, mask_look, paint_mask
from emobench.prepare.step import (
    FrameVariants,
    NativeFrames,
    PrepareStep,
    StepSettings,
    option,
    register_step,
)

if TYPE_CHECKING:
    from emobench.pack import Pack

LEVELS = "levels"

MASKED_FACES = {
    c: register_modality(
        Modality(
            f"face_{c}",
            f"face_{c}/frames",
            "frames",
            f"T face frames with a {c.replace('_', ' ')} mask drawn (RGB; --coverage levels)",
        )
    )
    for c in COVERAGES
}


NO_MASK = "none"  # --mask none: frames are left as they are


@dataclass(frozen=True)
class MasksSettings(StepSettings):
    mask: str = option(
        NO_MASK,
        "Draw a face mask of this style on every frame with a face (default: none).",
        choices=(NO_MASK, *MASK_STYLES),
    )
    coverage: str = option(
        "full",
        "How much of the face the mask hides; 'levels': main frames unmasked plus one "
        "variant per level (face_full, face_nose_exposed, face_chin_only).",
        choices=(*COVERAGES, LEVELS),
    )
    mask_seed: int = option(
        0, "Seed of the mask looks (each sample's own seed derives from it).", minimum=0
    )
    min_face_share: float = option(
        0.0,
        "Skip a sample whose share of frames with a face found is below this (0..1).",
        minimum=0.0,
        maximum=1.0,
    )


def sample_seed(mask_seed: int, sample_id: str) -> int:
    """The seed of one sample's mask look: drawn from ``default_rng([mask_seed,
    crc32(id)])``, so it depends on the sample's id and the run's seed only."""
    rng = np.random.default_rng([mask_seed, zlib.crc32(sample_id.encode("utf-8"))])
    return int(rng.integers(0, 2**31 - 1))


@register_step("masks")
class MasksStep(PrepareStep):
    """Face masks on decoded frames (a frame transform); applies to no sample on its own."""

    settings = MasksSettings
    order = 6
    transforms_frames = True

    def applies(self, sample: Sample) -> bool:
        return False

    def active(self, settings: MasksSettings) -> bool:
        return settings.mask != NO_MASK

    def preflight(self, settings: MasksSettings) -> None:
        if self.active(settings):  # the landmark model, or what to install
            landmarker_model_path()
            landmarker_ready()

    def transform(
        self, clip: NativeFrames, sample: Sample, settings: MasksSettings
    ) -> FrameVariants:
        s = settings
        if not self.active(s):
            return FrameVariants({"": clip.frames})
        tracked = face_track(clip)
        n = len(clip.frames)
        found = sum(points is not None for points in tracked)
        found_share = found / n if n else 0.0
        if found_share < s.min_face_share:
            raise InputError(
                clip.name,
                f"a face was found in {found} of {n} frames ({found_share:.0%}), "
                f"below --min-face-share {s.min_face_share:g}",
            )
        seed = sample_seed(s.mask_seed, sample.id)
        look = mask_look(s.mask, np.random.default_rng(seed))
        levels = COVERAGES if s.coverage == LEVELS else (s.coverage,)
        variants: dict[str, list[np.ndarray]] = {}
        covered: dict[str, list[float]] = {}
        for level in levels:
            frames: list[np.ndarray] = []
            shares: list[float] = []
            for frame, points in zip(clip.frames, tracked, strict=True):
                if points is None:
                    frames.append(frame)
                    continue
                masked, share = paint_mask(frame, points, look, level)
                frames.append(masked)
                if share > 0:
                    shares.append(share)
            variants[level if s.coverage == LEVELS else ""] = frames
            covered[level] = shares
        if s.coverage == LEVELS:
            variants[""] = clip.frames
        main = covered["full" if s.coverage == LEVELS else s.coverage]
        row: dict[str, Any] = {
            "mask_style": s.mask,
            "mask_coverage": s.coverage,
            "mask_seed": seed,
            "mask_frames_share": len(main) / n if n else 0.0,
            "mask_face_covered": float(np.mean(main)) if main else 0.0,
            "face_found_share": found_share,
        }
        if s.coverage == LEVELS:
            for level, shares in covered.items():
                row[f"mask_face_covered_{level}"] = float(np.mean(shares)) if shares else 0.0
        return FrameVariants(variants, row)

    def variant(self, settings: MasksSettings) -> dict[str, Any]:
        if not self.active(settings):
            return {}
        return {"mask": f"{settings.mask}/{settings.coverage}"}

    def audit(self, pack: Pack, settings: Mapping[str, Any]) -> tuple[list[str], list[str]]:
        if settings.get("mask", NO_MASK) in (NO_MASK, None):
            return ["no masks drawn"], []
        samples = pack.samples
        needed = {"mask_frames_share", "mask_face_covered", "face_found_share"}
        if not needed <= set(samples.columns):
            missing = sorted(needed - set(samples.columns))
            return [], [f"{pack.path}: masks were drawn, but /samples lacks {missing}"]
        lines = [
            f"{settings['mask']} masks at {settings.get('coverage', 'full')} coverage, "
            f"seed {settings.get('mask_seed', 0)}",
            f"faces found in {samples['face_found_share'].mean():.1%} of frames; "
            f"masked frames {samples['mask_frames_share'].mean():.1%}; "
            f"the mask hides {samples['mask_face_covered'].mean():.1%} of the face area",
        ]
        problems = []
        out_of_range = samples[~samples["mask_face_covered"].between(0.0, 1.0)]
        if len(out_of_range):
            problems.append(
                f"{pack.path}: mask_face_covered outside 0..1 for {len(out_of_range)} samples"
            )
        return lines, problems
