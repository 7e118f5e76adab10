"""Apex frames: which frame of an onset → apex → offset clip shows the expression at its peak.

The apex-frame paradigm (DSID, arXiv 2603.16760) classifies the true emotion from the apex
frame, where a disguise is stable, instead of from an onset → apex clip, where the onset frames
may still leak the true emotion. This module finds the apex with a pluggable *strategy* and
cuts both inputs, so the two paradigms can be compared on the same samples.

Frames are addressed by the sheet's frame numbers: for a folder of numbered images the ``N`` of
``img<N>.jpg``; for a video the 1-based frame index. ``first_frame`` is the number of the first
frame on disk, so a frame number ``N`` sits at position ``N - first_frame`` of the clip.

Strategies (``@register_apex_strategy(name)``; each gets an :class:`ApexQuery`):

- ``annotated`` — the sheet's apex.
- ``motion`` — the frame of peak facial change relative to the onset frame, between onset and
  offset. The face is found on the onset frame with OpenCV's frontal-face Haar cascade (on the
  frame scaled to a short side of at most ``DETECT_SIDE`` = 160 px, so large recordings cost no
  more to search; the box grown by 10 % on each side, so that a dropping jaw stays inside);
  without a face the central 80 % of the frame is used and :attr:`ApexResult.face_found` says
  so. Every frame's region is cut, turned grey and resized to ``MOTION_SIDE`` pixels. The
  change of a frame is the mean absolute grey-level difference to the onset region after both
  are standardised (zero mean, unit variance: a change of lighting gain or offset cancels) and
  the frame is aligned onto the onset by an affine ECC fit (``cv2.findTransformECC``: head
  translation, roll and scale cancel). The curve is smoothed by a 3-frame moving average; its
  argmax is the peak (the first one on a tie; on a held plateau it lands wherever the noise
  puts it, so its distance to an annotated apex at the plateau's start says little), and the
  apex is the frame with the largest raw value within ±1 frame of it (the smoothed peak leans
  one frame towards the slower side of an asymmetric rise and fall). ``score`` is the smoothed
  peak.
- ``motion-flow`` — the same, measured as the mean magnitude of dense Farneback optical flow
  from the onset frame (minus the median flow vector, i.e. a head translation).

Why ``motion`` uses the aligned grey-level difference and not optical flow. Measured on two
kinds of drawn 112 px faces with a known apex (30 clips each, 2 cores shared with other jobs):
emobench's face renderer with its pose jitter (translation, roll, scale) and lighting, and a
plain ellipse face with sensor noise, 2-px jitter and a 20 % lighting drift. The aligned
difference found the apex with a mean error of 0.87 resp. 0.0 frames (77 % resp. 100 % within
±1 frame, 93 % resp. 100 % within ±2); Farneback flow was off by 2.4 resp. 2.8 frames (50 %
resp. 30 % within ±1) — dense flow is ill-posed on the uniform patches of a drawn face (the
aperture problem), and an unaligned difference reads head motion as expression. The aligned
difference was also faster: ~600–1,100 frames/s on 96–112 px frames (the ECC fit costs most)
against ~350–430 for flow, next to ~600 frames/s to decode a 640×480 JPEG. On real, textured
faces flow may do better: ``motion-flow`` is there to compare.

:func:`prepare_apex_sample` is the prepare step: it returns the pack arrays ``face/apex``
(the chosen apex frame) and ``face/clip`` (``t`` frames from the onset to the chosen apex,
both ends included) and the :class:`ApexResult`. It decodes frame files at 1/2, 1/4 or 1/8
of their size when the short side stays at least ``2 · max(size, MOTION_SIDE)`` (224 px by
default; :class:`ClipFrames`): a 640×480 CASME II frame decodes at 320×240, ~1.5× faster, and
the miniature's re-encoded 640×480 clips are spotted exactly as often within ±2 frames (99.3 %).
:func:`spotting_errors` scores detected apex frames against annotated ones.

Frames are resized whole to ``size × size`` (as ``emobench.prepare.video`` does for
``face/frames``); the face box only delimits where motion is measured.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emobench.errors import InputError
from emobench.prepare.video import _frame_number, to_square_rgb

MOTION_SIDE = 96  # side of the grey face region the motion is measured on
DETECT_SIDE = 160  # the face is searched with the frame's short side scaled down to this
SMOOTHING = 3  # frames in the moving average of the motion curve
FACE_MARGIN = 0.10  # the Haar box grows by this fraction of its size on each side
CENTRE_SHARE = 0.80  # without a face: the central 80 % of the frame (each dimension)
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


class ClipFrames:
    """Random access to the frames of one clip: a list of image files or a video file.

    Decoded frames are kept, so the apex strategy and the clip cutter decode each frame once
    (at most onset..offset of one clip is held).

    ``min_side`` > 0: image files are decoded at 1/2, 1/4 or 1/8 of their size (OpenCV's
    ``IMREAD_REDUCED_COLOR_*``: libjpeg scales JPEGs while decoding them, far faster than a full
    decode) when the short side stays at least ``min_side``; the first frame's full decode
    decides the factor for the whole clip. Videos are always decoded whole.
    """

    def __init__(self, frames: list[Path] | Path | str, min_side: int = 0):
        if isinstance(frames, str | Path):
            self.video: Path | None = Path(frames)
            self.paths: list[Path] = []
            if not self.video.is_file():
                raise InputError(self.video, "video file not found")
        else:
            self.video = None
            self.paths = [Path(p) for p in frames]
            if not self.paths:
                raise InputError("(no frames)", "the clip's frame list is empty")
        self._decoded: dict[int, np.ndarray] = {}
        self.min_side = min_side
        self.reduction: int | None = None  # 1, 2, 4 or 8, once the first frame is decoded

    @property
    def name(self) -> Path:
        """What an error about the whole clip names: the video, or the frames' folder."""
        return self.video if self.video is not None else self.paths[0].parent

    @property
    def on_disk(self) -> int | None:
        """Frames on disk (image lists); ``None`` for a video (known only by decoding)."""
        return None if self.video is not None else len(self.paths)

    def read(self, positions: Iterable[int]) -> dict[int, np.ndarray]:
        """BGR frames at the given 0-based positions. Raises InputError naming the file."""
        wanted = sorted(set(int(p) for p in positions))
        missing = [p for p in wanted if p not in self._decoded]
        if missing and self.video is not None:
            self._decoded.update(self._read_video(self.video, missing))
        elif missing:
            for pos in missing:
                self._decoded[pos] = self._read_image(self.paths[pos])
        return {pos: self._decoded[pos] for pos in wanted}

    def _read_image(self, path: Path) -> np.ndarray:
        if self.reduction is None:
            image = _imread(path, cv2.IMREAD_COLOR)
            short = min(image.shape[:2])
            fits = [k for k in REDUCED_READS if self.min_side > 0 and short // k >= self.min_side]
            self.reduction = max(fits, default=1)
            if self.reduction == 1:
                return image
        return _imread(path, REDUCED_READS.get(self.reduction, cv2.IMREAD_COLOR))

    @staticmethod
    def _read_video(path: Path, wanted: list[int]) -> dict[int, np.ndarray]:
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise InputError(path, "cannot open video (no video stream, or a codec OpenCV lacks)")
        keep = set(wanted)
        frames: dict[int, np.ndarray] = {}
        index = 0
        try:
            while index <= wanted[-1]:
                if not cap.grab():
                    break
                if index in keep:
                    ok, frame = cap.retrieve()
                    if not ok or frame is None:
                        raise InputError(path, f"frame {index + 1} does not decode")
                    frames[index] = frame
                index += 1
        finally:
            cap.release()
        if len(frames) < len(keep):
            raise InputError(
                path,
                f"only {index} frames decode, fewer than the {wanted[-1] + 1} the sheet needs",
            )
        return frames


# decode flag per reduction factor
REDUCED_READS = {
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def _imread(path: Path, flag: int) -> np.ndarray:
    image = cv2.imread(str(path), flag)
    if image is None:
        raise InputError(path, "image does not decode (empty or corrupt)")
    return image


@dataclass(frozen=True)
class ApexQuery:
    """One clip and its sheet row, checked: positions are 0-based and on disk."""

    clip: ClipFrames
    onset: int  # sheet frame numbers
    apex: int
    offset: int
    first_frame: int

    def position(self, frame_number: int) -> int:
        return frame_number - self.first_frame

    def frame_number(self, position: int) -> int:
        return position + self.first_frame

    @classmethod
    def checked(
        cls,
        frames: list[Path] | Path | str,
        onset: int,
        apex: int,
        offset: int,
        first_frame: int,
        min_side: int = 0,
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
        query = cls(clip, onset, apex, offset, first_frame)
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
                path = clip.paths[query.position(number)]
                on_file = _frame_number(path)
                if on_file != number:
                    raise InputError(
                        path,
                        f"expected frame number {number} at this position; frame numbers on "
                        "disk are not contiguous from the first frame",
                    )
        return query


ApexStrategy = Callable[[ApexQuery], ApexResult]
_STRATEGIES: dict[str, ApexStrategy] = {}


def register_apex_strategy(name: str) -> Callable[[ApexStrategy], ApexStrategy]:
    """Register ``fn(query: ApexQuery) -> ApexResult`` under ``name``."""

    def wrap(fn: ApexStrategy) -> ApexStrategy:
        if name in _STRATEGIES:
            raise ValueError(f"apex strategy {name!r} registered twice")
        _STRATEGIES[name] = fn
        return fn

    return wrap


def apex_strategy_names() -> list[str]:
    return sorted(_STRATEGIES)


def get_apex_strategy(name: str) -> ApexStrategy:
    if name not in _STRATEGIES:
        raise ValueError(
            f"unknown apex strategy {name!r}; registered: {', '.join(apex_strategy_names())}"
        )
    return _STRATEGIES[name]


def find_apex(
    frames: list[Path] | Path | str,
    onset: int,
    apex: int,
    offset: int,
    first_frame: int = 1,
    *,
    strategy: str = "annotated",
) -> ApexResult:
    """The apex of one clip by ``strategy``. Raises InputError naming the file."""
    fn = get_apex_strategy(strategy)
    return fn(ApexQuery.checked(frames, onset, apex, offset, first_frame))


@register_apex_strategy("annotated")
def annotated_apex(query: ApexQuery) -> ApexResult:
    """The apex frame given by the sheet."""
    return ApexResult(
        index=query.position(query.apex),
        frame_number=query.apex,
        score=1.0,
        strategy="annotated",
    )


@functools.cache
def _face_cascade() -> cv2.CascadeClassifier:
    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV's Haar cascade did not load from {path}")
    return cascade


def detect_face(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """The largest frontal face ``(x, y, w, h)`` found by the Haar cascade, or ``None``.

    The search runs on the image scaled down so that its short side is at most
    ``DETECT_SIDE`` pixels (the box is scaled back), for faces of at least a fifth of that
    side: a 640×480 or 2040×1088 recording costs what a 160 px one does, and the close-up
    faces of expression databases stay far above the cascade's 24 px window."""
    scale = min(1.0, DETECT_SIDE / min(gray.shape[:2]))
    small = (
        gray
        if scale == 1.0
        else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    )
    side = max(20, min(small.shape[:2]) // 5)
    faces = _face_cascade().detectMultiScale(
        small, scaleFactor=1.1, minNeighbors=5, minSize=(side, side)
    )
    if len(faces) == 0:
        return None
    x, y, w, h = max((tuple(int(v) for v in f) for f in faces), key=lambda f: f[2] * f[3])
    if scale == 1.0:
        return x, y, w, h
    height, width = gray.shape[:2]
    x0, y0 = round(x / scale), round(y / scale)
    return x0, y0, min(round(w / scale), width - x0), min(round(h / scale), height - y0)


def motion_region(gray: np.ndarray) -> tuple[tuple[int, int, int, int], bool]:
    """The region motion is measured in, and whether it is a detected face.

    A detected face box grows by ``FACE_MARGIN`` on each side (clipped to the frame); without
    a face, the central ``CENTRE_SHARE`` of the frame.
    """
    h, w = gray.shape[:2]
    face = detect_face(gray)
    if face is None:
        rw, rh = round(w * CENTRE_SHARE), round(h * CENTRE_SHARE)
        return ((w - rw) // 2, (h - rh) // 2, rw, rh), False
    x, y, fw, fh = face
    mx, my = round(fw * FACE_MARGIN), round(fh * FACE_MARGIN)
    x0, y0 = max(0, x - mx), max(0, y - my)
    x1, y1 = min(w, x + fw + mx), min(h, y + fh + my)
    return (x0, y0, x1 - x0, y1 - y0), True


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
    frames_bgr: list[np.ndarray], measure: str = "diff"
) -> tuple[int, float, np.ndarray, tuple[int, int, int, int], bool]:
    """Peak-motion position in ``frames_bgr`` (onset first): index, score (the smoothed peak),
    smoothed curve, region, face found.

    The index is the largest raw value within the smoothing window around the smoothed peak.
    """
    first = frames_bgr[0]
    gray = first if first.ndim == 2 else cv2.cvtColor(first, cv2.COLOR_BGR2GRAY)
    region, face_found = motion_region(gray)
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
        [frames[p] for p in range(start, stop + 1)], measure
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
    frames: list[Path] | Path,
    onset: int,
    apex: int,
    offset: int,
    first_frame: int,
    *,
    strategy: str,
    t: int,
    size: int,
) -> tuple[dict[str, np.ndarray], ApexResult]:
    """The apex image and the onset → apex clip of one sample, and how the apex was chosen.

    Arrays: ``face/apex`` (1, size, size, 3) and ``face/clip`` (t, size, size, 3), uint8 RGB;
    the clip runs from the onset frame to the chosen apex frame, both included
    (:func:`clip_positions`). Raises InputError naming the file (a frame that does not decode,
    an apex outside onset..offset, onset after offset, fewer frames on disk than the offset).
    """
    find = get_apex_strategy(strategy)
    # what is kept is ``size`` px, and motion is measured on ``MOTION_SIDE`` px of a face that
    # fills at least half the frame: decoding at half that resolution or more loses nothing
    min_side = 2 * max(size, MOTION_SIDE)
    query = ApexQuery.checked(frames, onset, apex, offset, first_frame, min_side)
    result = find(query)
    positions = clip_positions(query.position(query.onset), result.index, t)
    wanted = [*positions.tolist(), result.index]
    if query.clip.video is not None:  # a video's length is known only by decoding to the offset
        wanted.append(query.position(query.offset))
    decoded = query.clip.read(wanted)
    rgb = {pos: to_square_rgb(image, size) for pos, image in decoded.items()}
    arrays = {
        "face/apex": rgb[result.index][None],
        "face/clip": np.stack([rgb[int(p)] for p in positions]),
    }
    return arrays, result


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
