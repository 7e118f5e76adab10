"""The ``apex`` step: which frame of an onset → apex → offset clip shows the expression at its
peak, and the two inputs cut from it.

The apex-frame paradigm (DSID, arXiv 2603.16760) classifies the true emotion from the apex
frame, where a disguise is stable, instead of from an onset → apex clip, where the onset frames
may still leak the true emotion. This step finds the apex with a pluggable *strategy* and cuts
both inputs, so the two paradigms can be compared on the same samples. It applies to the
samples whose sheet codes onset, apex and offset frames (the ``frames`` step takes the others).

Frames are addressed by the sheet's frame numbers: for a folder of numbered images the ``N`` of
``img<N>.jpg`` (:func:`emobench.datasets.coding_sheet.frame_number`); for a video the 1-based
frame index. ``first_frame`` is the number of the first frame on disk, so a frame number ``N``
sits at position ``N - first_frame`` of the clip.

Strategies (``@register_apex_strategy(name)``; each gets an :class:`ApexQuery`):

- ``annotated`` — the sheet's apex.
- ``motion`` — the frame of peak facial change relative to the onset frame, between onset and
  offset. The face is found on the onset frame by :mod:`emobench.prepare.faces` (without a
  face, its central fallback region is used and :attr:`ApexResult.face_found` says so). Every
  frame's region is cut, turned grey and resized to ``MOTION_SIDE`` pixels. The change of a
  frame is the mean absolute grey-level difference to the onset region after both are
  standardised (zero mean, unit variance: a change of lighting gain or offset cancels) and the
  frame is aligned onto the onset by an affine ECC fit (``cv2.findTransformECC``: head
  translation, roll and scale cancel). The curve is smoothed by a 3-frame moving average; its
  argmax is the peak (the first one on a tie; on a held plateau it lands wherever the noise
  puts it), and the apex is the frame with the largest raw value within ±1 frame of it (the
  smoothed peak leans one frame towards the slower side of an asymmetric rise and fall).
  ``score`` is the smoothed peak.
- ``motion-flow`` — the same, measured as the mean magnitude of dense Farneback optical flow
  from the onset frame (minus the median flow vector, i.e. a head translation). Dense flow is
  ill-posed on uniform image patches (the aperture problem) and an unaligned measure reads head
  motion as expression, which is why ``motion`` aligns and differences instead; ``motion-flow``
  is there to compare on textured, real faces.

:func:`prepare_apex_sample` cuts the pack arrays ``face/apex`` (the chosen apex frame) and
``face/clip`` (``t`` frames from the onset to the chosen apex, both ends included). Frame files
are decoded at 1/2, 1/4 or 1/8 of their size when the short side stays at least
``2 · max(size, MOTION_SIDE)`` (:class:`~emobench.prepare.video.ClipFrames`): what is kept is
``size`` px and motion is measured on ``MOTION_SIDE`` px of a face that fills at least half the
frame, so nothing is lost. Frames are resized whole to ``size × size`` (as the ``frames`` step
does); the face box only delimits where motion is measured. :func:`spotting_errors` scores
detected apex frames against annotated ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from emobench.datasets import coding_sheet
from emobench.datasets.sample import Sample
from emobench.errors import InputError
from emobench.prepare.faces import FacesSettings, face_region
from emobench.prepare.step import (
    ArraySpec,
    PrepareStep,
    StepOutput,
    StepSettings,
    option,
    register_step,
)
from emobench.prepare.video import ClipFrames, reduced_decode_side, to_square_rgb
from emobench.registry import Registry

MOTION_SIDE = 96  # side of the grey face region the motion is measured on
SMOOTHING = 3  # frames in the moving average of the motion curve
MEASURES = ("diff", "flow")
# ECC alignment: stop after 20 iterations or a correlation change below 1e-3; 5-px Gaussian blur
ECC_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 1e-3)
ECC_BLUR = 5
# Farneback: pyramid scale, levels, window, iterations, poly_n, poly_sigma, flags
FARNEBACK = (0.5, 3, 15, 3, 5, 1.2, 0)


@dataclass(frozen=True)
class ApexResult:
    """The chosen apex of one clip.

    ``index`` is the 0-based position in the clip as stored (``frame_number - first_frame``);
    ``score`` the strategy's value at the apex (the smoothed motion for ``motion``, 1.0 for
    ``annotated``); ``curve`` the strategy's per-frame values from onset to offset (``None``
    when it has none). ``region`` is the ``(x, y, w, h)`` box motion was measured in, and
    ``face_found`` whether it came from a detected face (``False``: the central-80 % fallback);
    both are ``None`` for strategies that do not look at the image.
    """

    index: int
    frame_number: int
    score: float
    strategy: str
    curve: np.ndarray | None = None
    region: tuple[int, int, int, int] | None = None
    face_found: bool | None = None


@dataclass(frozen=True)
class ApexQuery:
    """One clip and its sheet row, checked: positions are 0-based and on disk. ``faces``
    says how a strategy that looks at the image finds the face."""

    clip: ClipFrames
    onset: int  # sheet frame numbers
    apex: int
    offset: int
    first_frame: int
    faces: FacesSettings = field(default_factory=FacesSettings)

    def position(self, frame_number: int) -> int:
        return frame_number - self.first_frame

    def frame_number(self, position: int) -> int:
        return position + self.first_frame

    @classmethod
    def checked(
        cls,
        frames: Sequence[Path] | Path | str,
        onset: int,
        apex: int,
        offset: int,
        first_frame: int,
        min_side: int = 0,
        faces: FacesSettings | None = None,
    ) -> ApexQuery:
        """``min_side``: see :class:`ClipFrames` (0: decode frames whole)."""
        clip = ClipFrames(frames, min_side)
        name = clip.name
        onset, apex, offset, first_frame = int(onset), int(apex), int(offset), int(first_frame)
        if onset > offset:
            raise InputError(name, f"onset frame {onset} comes after the offset frame {offset}")
        if not onset <= apex <= offset:
            raise InputError(
                name, f"apex frame {apex} lies outside onset..offset {onset}..{offset}"
            )
        if onset < first_frame:
            raise InputError(
                name, f"onset frame {onset} comes before the first frame on disk ({first_frame})"
            )
        query = cls(clip, onset, apex, offset, first_frame, faces or FacesSettings())
        n = clip.on_disk
        if n is not None:
            last = first_frame + n - 1
            if offset > last:
                raise InputError(
                    name,
                    f"{n} frames on disk (numbers {first_frame}..{last}), fewer than the "
                    f"offset frame {offset} needs",
                )
            for number in (onset, apex, offset):
                path = Path(clip.paths[query.position(number)])
                if coding_sheet.frame_number(path.name) != number:
                    raise InputError(
                        path,
                        f"expected frame number {number} at this position; frame numbers on "
                        "disk are not contiguous from the first frame",
                    )
        return query


ApexStrategy = Callable[[ApexQuery], ApexResult]
STRATEGIES: Registry[ApexStrategy] = Registry("apex strategy", ("emobench.prepare",))


def register_apex_strategy(name: str) -> Callable[[ApexStrategy], ApexStrategy]:
    """Register ``fn(query: ApexQuery) -> ApexResult`` under ``name``."""
    return STRATEGIES.register(name)


def apex_strategy_names() -> list[str]:
    return STRATEGIES.names()


def get_apex_strategy(name: str) -> ApexStrategy:
    """The strategy registered as ``name``; an EmobenchError lists the known ones."""
    return STRATEGIES.get(name)


def find_apex(
    frames: Sequence[Path] | Path | str,
    onset: int,
    apex: int,
    offset: int,
    first_frame: int = 1,
    *,
    strategy: str = "annotated",
    faces: FacesSettings | None = None,
) -> ApexResult:
    """The apex of one clip by ``strategy``. Raises InputError naming the file."""
    fn = get_apex_strategy(strategy)
    query = ApexQuery.checked(frames, onset, apex, offset, first_frame, faces=faces)
    with query.clip:
        return fn(query)


@register_apex_strategy("annotated")
def annotated_apex(query: ApexQuery) -> ApexResult:
    """The apex frame given by the sheet."""
    return ApexResult(
        index=query.position(query.apex),
        frame_number=query.apex,
        score=1.0,
        strategy="annotated",
    )


def _grey_region(frame_bgr: np.ndarray, region: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = region
    gray = frame_bgr if frame_bgr.ndim == 2 else cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    crop = gray[y : y + h, x : x + w]
    interp = cv2.INTER_AREA if min(crop.shape) >= MOTION_SIDE else cv2.INTER_LINEAR
    return cv2.resize(crop, (MOTION_SIDE, MOTION_SIDE), interpolation=interp)


def smooth(curve: np.ndarray, window: int = SMOOTHING) -> np.ndarray:
    """Centred moving average over ``window`` frames (odd); at the ends, the mean of the
    neighbours that exist."""
    curve = np.asarray(curve, dtype=np.float64)
    if window < 1 or window % 2 == 0:
        raise ValueError(f"the smoothing window must be a positive odd number, got {window}")
    n = curve.size
    half = window // 2
    sums = np.concatenate([[0.0], np.cumsum(curve)])
    centre = np.arange(n)
    lo, hi = np.maximum(centre - half, 0), np.minimum(centre + half + 1, n)
    return (sums[hi] - sums[lo]) / (hi - lo)


def _standardised(region: np.ndarray) -> np.ndarray:
    x = region.astype(np.float32)
    return (x - x.mean()) / max(float(x.std()), 1e-6)


def _aligned_to(reference: np.ndarray, image: np.ndarray, warp: np.ndarray) -> np.ndarray:
    """Fit an affine ``warp`` (in place; the start guess) mapping ``image`` onto ``reference``
    by ECC maximisation, and return ``image`` warped. A fit that fails keeps the start guess.
    """
    try:
        _, fitted = cv2.findTransformECC(
            reference, image, warp.copy(), cv2.MOTION_AFFINE, ECC_CRITERIA, None, ECC_BLUR
        )
        warp[:] = fitted
    except cv2.error:
        pass
    return cv2.warpAffine(
        image,
        warp,
        image.shape[::-1],
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT,
    )


def motion_curve(regions: list[np.ndarray], measure: str = "diff") -> np.ndarray:
    """Raw motion of every grey region relative to the first one (the onset): 0 for the first.

    ``measure="diff"``: each region is standardised (zero mean, unit variance: a change of
    lighting gain or offset cancels) and aligned onto the onset region by an affine ECC fit
    (head translation, roll and scale cancel; each fit starts from the previous frame's), and
    the mean absolute difference to the onset region is taken.
    ``measure="flow"``: mean magnitude of the Farneback flow from the onset region (pixels at
    ``MOTION_SIDE``), after removing the median flow vector (a head translation).
    """
    if measure not in MEASURES:
        raise ValueError(f"unknown motion measure {measure!r}; choose one of {MEASURES}")
    values = np.zeros(len(regions))
    if measure == "flow":
        for i, region in enumerate(regions[1:], start=1):
            flow = cv2.calcOpticalFlowFarneback(regions[0], region, None, *FARNEBACK)
            flow = flow - np.median(flow.reshape(-1, 2), axis=0)
            values[i] = float(np.sqrt((flow**2).sum(axis=2)).mean())
        return values
    reference = _standardised(regions[0])
    warp = np.eye(2, 3, dtype=np.float32)
    for i, region in enumerate(regions[1:], start=1):
        aligned = _aligned_to(reference, _standardised(region), warp)
        values[i] = float(np.abs(aligned - reference).mean())
    return values


def motion_apex_from_frames(
    frames_bgr: list[np.ndarray], measure: str = "diff", faces: FacesSettings | None = None
) -> tuple[int, float, np.ndarray, tuple[int, int, int, int], bool]:
    """Peak-motion position in ``frames_bgr`` (onset first): index, score (the smoothed peak),
    smoothed curve, region, face found.

    The index is the largest raw value within the smoothing window around the smoothed peak.
    """
    first = frames_bgr[0]
    gray = first if first.ndim == 2 else cv2.cvtColor(first, cv2.COLOR_BGR2GRAY)
    region, face_found = face_region(gray, faces)
    raw = motion_curve([_grey_region(f, region) for f in frames_bgr], measure)
    curve = smooth(raw)
    peak = int(np.argmax(curve))
    # the smoothed peak is robust to noise but leans towards the slower side of an asymmetric
    # rise/fall; the raw maximum inside the smoothing window puts it back on the frame
    lo, hi = max(0, peak - SMOOTHING // 2), min(raw.size, peak + SMOOTHING // 2 + 1)
    index = lo + int(np.argmax(raw[lo:hi]))
    return index, float(curve[peak]), curve, region, face_found


def _motion_strategy(query: ApexQuery, name: str, measure: str) -> ApexResult:
    start, stop = query.position(query.onset), query.position(query.offset)
    frames = query.clip.read(range(start, stop + 1))
    peak, score, curve, region, face_found = motion_apex_from_frames(
        [frames[p] for p in range(start, stop + 1)], measure, query.faces
    )
    k = query.clip.reduction or 1  # a reduced decode: the box in the frame's own pixels
    region = (region[0] * k, region[1] * k, region[2] * k, region[3] * k)
    return ApexResult(
        index=start + peak,
        frame_number=query.frame_number(start + peak),
        score=score,
        strategy=name,
        curve=curve,
        region=region,
        face_found=face_found,
    )


@register_apex_strategy("motion")
def motion_apex(query: ApexQuery) -> ApexResult:
    """Peak facial change from the onset frame (aligned, standardised grey-level difference)."""
    return _motion_strategy(query, "motion", "diff")


@register_apex_strategy("motion-flow")
def motion_flow_apex(query: ApexQuery) -> ApexResult:
    """Peak facial motion from the onset frame measured by Farneback optical flow."""
    return _motion_strategy(query, "motion-flow", "flow")


def clip_positions(start: int, stop: int, t: int) -> np.ndarray:
    """``t`` positions spread evenly over ``start..stop`` with both ends included.

    Unlike ``uniform_indices`` (segment centres), the onset frame itself and the apex frame
    itself are always kept: the onset → apex paradigm is about what those frames show.
    Fewer than ``t`` frames repeat positions.
    """
    if t < 1:
        raise ValueError(f"t must be positive, got {t}")
    if stop < start:
        raise ValueError(f"stop {stop} before start {start}")
    if t == 1:
        return np.array([stop], dtype=np.int64)
    return np.rint(np.linspace(start, stop, t)).astype(np.int64)


def prepare_apex_sample(
    frames: Sequence[Path] | Path,
    onset: int,
    apex: int,
    offset: int,
    first_frame: int,
    *,
    strategy: str,
    t: int,
    size: int,
    faces: FacesSettings | None = None,
) -> tuple[dict[str, np.ndarray], ApexResult]:
    """The apex image and the onset → apex clip of one sample, and how the apex was chosen.

    Arrays: ``face/apex`` (1, size, size, 3) and ``face/clip`` (t, size, size, 3), uint8 RGB;
    the clip runs from the onset frame to the chosen apex frame, both included
    (:func:`clip_positions`). Raises InputError naming the file (a frame that does not decode,
    an apex outside onset..offset, onset after offset, fewer frames on disk than the offset).
    """
    find = get_apex_strategy(strategy)
    min_side = reduced_decode_side(max(size, MOTION_SIDE))
    query = ApexQuery.checked(frames, onset, apex, offset, first_frame, min_side, faces)
    with query.clip:
        result = find(query)
        positions = clip_positions(query.position(query.onset), result.index, t)
        wanted = [*positions.tolist(), result.index]
        if query.clip.video is not None:  # a video's length is known only by decoding
            wanted.append(query.position(query.offset))
        decoded = query.clip.read(wanted)
    rgb = {pos: to_square_rgb(image, size) for pos, image in decoded.items()}
    arrays = {
        "face/apex": rgb[result.index][None],
        "face/clip": np.stack([rgb[int(p)] for p in positions]),
    }
    return arrays, result


# ----------------------------------------------------------------------------------------------
# The prepare step.


def is_coded_clip(sample: Sample) -> bool:
    """Whether a sample's sheet codes its onset, apex and offset frames (the apex step's)."""
    return all(phase in sample.annotations for phase in coding_sheet.PHASES)


@dataclass(frozen=True)
class ApexSettings(StepSettings):
    strategy: str = option(
        "annotated",
        "Apex strategy for onset/apex/offset-coded clips.",
        name="apex",
        choices=apex_strategy_names,
    )
    frames: int = option(8, "Frames of the onset → apex clip (face/clip).", minimum=1)
    size: int = option(112, "Frame side in pixels; frames are resized whole.", minimum=8)


def _apex_attrs(settings: ApexSettings) -> dict[str, Any]:
    return {"layout": "1,H,W,C", "color": "RGB", "strategy": settings.strategy}


def _clip_attrs(settings: ApexSettings) -> dict[str, Any]:
    return {
        "layout": "T,H,W,C",
        "color": "RGB",
        "frames": settings.frames,
        "sampling": "onset to chosen apex, both included, evenly spaced",
    }


@register_step("apex")
class ApexStep(PrepareStep):
    """Onset/apex/offset-coded clips → ``face/apex`` and ``face/clip``, with the chosen apex
    in the sample table (``apex_frame``, ``apex_index``, ``apex_strategy``, ``apex_score``,
    ``apex_face_found``: empty for strategies that do not look at the image)."""

    settings = ApexSettings
    order = 20
    media = ("face_frames_dir", "face_video")
    uses = ("faces",)
    arrays = (ArraySpec("face/apex", _apex_attrs), ArraySpec("face/clip", _clip_attrs))

    def applies(self, sample: Sample) -> bool:
        return is_coded_clip(sample) and any(key in sample.media for key in self.media)

    def run(
        self, root: Path, sample: Sample, settings: ApexSettings, used: Mapping[str, Any]
    ) -> StepOutput:
        a = sample.annotations
        if "face_frames_dir" in sample.media:
            folder = root / sample.media["face_frames_dir"]
            listing = coding_sheet.list_numbered_frames(folder)
            frames: list[Path] | Path = [folder / name for name in listing.names]
            first = listing.numbers[0] if listing.numbers else 1
        else:
            frames, first = root / sample.media["face_video"], 1
        arrays, result = prepare_apex_sample(
            frames,
            int(a["onset"]),
            int(a["apex"]),
            int(a["offset"]),
            int(a.get("first_frame", first)),
            strategy=settings.strategy,
            t=settings.frames,
            size=settings.size,
            faces=used.get("faces"),
        )
        row = {
            "apex_frame": result.frame_number,
            "apex_index": result.index,
            "apex_strategy": result.strategy,
            "apex_score": float(result.score),
            "apex_face_found": "" if result.face_found is None else str(result.face_found),
        }
        return StepOutput(arrays, row)

    def variant(self, settings: ApexSettings) -> dict[str, Any]:
        return {"frames": settings.frames, "size": settings.size, "apex": settings.strategy}


def spotting_errors(predicted: np.ndarray, annotated: np.ndarray) -> dict:
    """How far detected apex frames fall from annotated ones (frame numbers, one per clip).

    Returns ``n``, ``mae`` (mean absolute error in frames) and ``within_1`` / ``within_2`` /
    ``within_3`` (share of clips whose error is at most 1, 2, 3 frames).
    """
    predicted = np.asarray(predicted, dtype=np.float64).reshape(-1)
    annotated = np.asarray(annotated, dtype=np.float64).reshape(-1)
    if predicted.shape != annotated.shape:
        raise ValueError(
            f"{predicted.size} predicted apex frames for {annotated.size} annotated ones"
        )
    if predicted.size == 0:
        raise ValueError("no apex frames to compare")
    error = np.abs(predicted - annotated)
    result: dict = {"n": int(error.size), "mae": float(error.mean())}
    for k in (1, 2, 3):
        result[f"within_{k}"] = float((error <= k).mean())
    return result
