"""Masked-expression miniature: a felt emotion leaks, then a required expression covers it.

The world mirrors the claim of Wei et al. ("Dual Stream Independence Decoupling for True
Emotion Recognition under Masked Expressions", arXiv 2603.16760) on an MFED-like design
(6 true emotions × 6 required expressions, leave-one-subject-out). In every clip:

1. frames up to the onset (``OnsetFrame`` 3–5) are neutral;
2. right after the onset the TRUE emotion shows briefly — a leak over ``LEAK_FRAMES`` frames,
   peaking two frames after the onset, strong enough to change the face by 0.6–0.9
   (``LEAK_SHARE``) of what the apex frame changes;
3. the DISPLAYED (required) expression then rises and dominates: it peaks at the annotated
   ``ApexFrame`` (13–17), the unique frame of peak displayed intensity, with a plateau at
   ``PLATEAU`` = 0.9 two frames either side, and is gone by ``OffsetFrame`` (20–23);
4. while the displayed expression is held, a trace of the true emotion shows through in the
   UPPER face: its prototype's brow, lid, cheek and nose-root units (``LEAKY_AUS`` =
   AU1/2/4/5/6/7/9) at ``TRACE_INTENSITY`` = 0.5 of the full expression at the apex, rising
   and fading with the displayed expression (so the apex stays the frame of largest change).
   The required expression is *posed*, and a posed expression under-recruits exactly those
   units (Ekman's "reliable" muscles, hard to move at will and hard to hold still when an
   emotion is felt; the posed, non-Duchenne smile without AU6 is the classic case): the
   displayed prototype's ``LEAKY_AUS`` reach only ``POSED_LEAKY`` = 0.3 of full intensity, its
   lower-face units their full intensity. Every true emotion has at least one leaky unit
   (happiness AU6, disgust AU9), so the apex carries all six, faintly, under a dominant lower
   face that shows the displayed expression.

So a clip from its onset shows the true emotion, while the apex frame alone shows it only
faintly — the paper's "apex-frame paradigm". Head-pose jitter, lighting and sensor noise are
drawn per clip and carry no emotion; identity is drawn per subject. The annotated apex is the
frame of largest facial change since the onset, so a motion-based spotter finds it: for that
the jitter is kept sub-pixel (``POSE_JITTER``, a tenth of the EMER world's), and intensities
are measured as facial change (``facial_change``: mean absolute grey-level difference from
the neutral face) rather than in action-unit units:

- a "full" expression is its EMFACS prototype scaled, per identity, so that all six change the
  face as much as the least visible full prototype (``expression_scales``; the renderer's full
  surprise moves the face about three times more than a full smile);
- the leak's peak is set per clip by bisection to its share of the apex frame's change
  (``leak_peak_intensity``), whatever the pair (a brow-lowering trace under a brow-raising
  expression makes the apex change less, for example).

Layout written (read by ``emobench.datasets.masked``)::

    coding.csv                               Subject, Clip, OnsetFrame, ApexFrame, OffsetFrame,
                                             TrueEmotion, Expression
    sub<NN>/clip<KK>/img1.jpg .. img24.jpg   96×96 frames, JPEG quality 92

Design: each subject records ``CLIPS_PER_SUBJECT`` = 12 clips, every true emotion twice, with
the displayed expressions rotated by the subject number (and by three more for the second
clip), so that any 3 consecutive subjects cover all 36 (true, displayed) combinations and the
default 24 subjects record each combination 8 times. Clip numbers are shuffled so they do not
reveal the labels. Everything derives from ``seed``; each clip's randomness from (seed,
subject, clip), so bytes do not depend on the order in which clips are written.
"""

from __future__ import annotations

import functools
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emobench.datasets.masked import CLASSES, COLUMNS
from emobench.datasets.registry import register_synth
from emobench.datasets.synth.face_renderer import (
    Identity,
    Lighting,
    combine_aus,
    expression_aus,
    pose_track,
    render_face,
)
from emobench.errors import EmobenchError, InputError

SHEET_FILE = "coding.csv"
SHEET_COLUMNS: tuple[str, ...] = tuple(aliases[0] for aliases in COLUMNS.values())
COMBINATIONS: tuple[tuple[str, str], ...] = tuple((t, d) for t in CLASSES for d in CLASSES)

CLIPS_PER_SUBJECT = 12
N_FRAMES = 24
FRAME_SIZE = 96
JPEG_QUALITY = 92
ONSET_RANGE = (3, 5)  # frame numbers (1-based), inclusive
APEX_RANGE = (13, 17)
OFFSET_RANGE = (20, 23)
LEAK_FRAMES = 4
LEAK_SHARE = (0.6, 0.9)  # of the apex frame's facial change
TRACE_INTENSITY = 0.5
POSED_LEAKY = 0.3  # a posed expression's leaky units, as a share of their full intensity
# Units a felt emotion moves involuntarily and a posed one under-recruits: the upper face
# (brows AU1/2/4, lids AU5/7, cheeks AU6) and the nose root (AU9).
LEAKY_AUS: tuple[str, ...] = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9")
PLATEAU = 0.9  # displayed intensity two frames before and after the apex
# Head-pose jitter (fraction of the image side, degrees, relative scale): sub-pixel, so that the
# largest change in a clip is still the apex, not where the head drifted to.
POSE_JITTER = {"translation": 0.002, "rotation_deg": 0.5, "scale": 0.003}
# Where the face is (rows, columns as fractions of the image side): used to calibrate scales.
FACE_REGION = ((0.2, 0.85), (0.2, 0.8))

# Streams of the seed: one per purpose, so adding one never shifts another.
_PLAN, _CLIP, _SUBJECT = 0, 1, 2
_BISECTION_STEPS = 8


@dataclass(frozen=True)
class MaskedClip:
    """One row of the coding sheet plus what the world needs to draw the clip."""

    subject: int
    clip: int
    true_emotion: str
    expression: str
    onset: int
    apex: int
    offset: int
    leak_share: float

    @property
    def subject_name(self) -> str:
        return f"sub{self.subject:02d}"

    @property
    def clip_name(self) -> str:
        return f"clip{self.clip:02d}"

    @property
    def id(self) -> str:
        return f"{self.subject_name}_{self.clip_name}"

    def sheet_row(self) -> list[object]:
        return [
            self.subject_name,
            self.clip_name,
            self.onset,
            self.apex,
            self.offset,
            self.true_emotion,
            self.expression,
        ]


def subject_combinations(subject_index: int) -> list[tuple[str, str]]:
    """The 12 (true, displayed) pairs of the subject with 0-based index ``subject_index``."""
    n = len(CLASSES)
    return [
        (CLASSES[i], CLASSES[(i + subject_index + shift) % n])
        for i in range(n)
        for shift in (0, n // 2)
    ]


def plan_masked_clips(seed: int = 0, subjects: int = 24) -> list[MaskedClip]:
    """Decide every clip's subject, labels and timing (no pixels are drawn)."""
    if subjects < 1:
        raise EmobenchError(f"the masked miniature needs at least 1 subject, got {subjects}")
    rng = np.random.default_rng([seed, _PLAN])
    clips = []
    for s in range(subjects):
        pairs = subject_combinations(s)
        order = rng.permutation(len(pairs))
        for k, j in enumerate(order, start=1):
            true, shown = pairs[int(j)]
            onset = int(rng.integers(ONSET_RANGE[0], ONSET_RANGE[1] + 1))
            apex = int(rng.integers(APEX_RANGE[0], APEX_RANGE[1] + 1))
            offset = int(rng.integers(max(OFFSET_RANGE[0], apex + 4), OFFSET_RANGE[1] + 1))
            leak = round(float(rng.uniform(*LEAK_SHARE)), 3)
            clips.append(MaskedClip(s + 1, k, true, shown, onset, apex, offset, leak))
    return clips


@register_synth("masked")
def write_masked_miniature(
    out: Path,
    *,
    seed: int = 0,
    subjects: int = 24,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write the masked-expression miniature under ``out`` (which must not exist or be empty)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(out, "exists and is not empty; choose a new --out or remove it first")
    clips = plan_masked_clips(seed, subjects)
    staging = out.parent / f".{out.name}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    people = {c.subject: _identity(seed, c.subject) for c in clips}
    files = []
    for done, clip in enumerate(clips, start=1):
        folder = staging / clip.subject_name / clip.clip_name
        folder.mkdir(parents=True)
        rng = np.random.default_rng([seed, _CLIP, clip.subject, clip.clip])
        for number, frame in enumerate(render_clip(clip, people[clip.subject], rng), start=1):
            name = f"img{number}.jpg"
            if not cv2.imwrite(str(folder / name), frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                raise EmobenchError(f"{folder / name}: OpenCV cannot write JPEG")
            files.append(f"{clip.subject_name}/{clip.clip_name}/{name}")
        if progress is not None:
            progress(done, len(clips))
    lines = [",".join(SHEET_COLUMNS)] + [",".join(map(str, c.sheet_row())) for c in clips]
    (staging / SHEET_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    files.append(SHEET_FILE)
    if out.exists():
        out.rmdir()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(out)
    pairs = {(c.true_emotion, c.expression) for c in clips}
    return {
        "dataset": "masked",
        "out": str(out),
        "seed": seed,
        "n_samples": len(clips),
        "n_subjects": subjects,
        "n_combinations": len(pairs),
        "masked_rate": sum(c.true_emotion != c.expression for c in clips) / len(clips),
        "n_files": len(files),
        "files": sorted(files),
    }


# ----------------------------------------------------------------------------------------------
# Signals.


def _identity(seed: int, subject: int) -> Identity:
    return Identity.sample(np.random.default_rng([seed, _SUBJECT, subject]))


def _region(image: np.ndarray) -> np.ndarray:
    (r0, r1), (c0, c1) = FACE_REGION
    h, w = image.shape[:2]
    return image[round(r0 * h) : round(r1 * h), round(c0 * w) : round(c1 * w)]


def facial_change(identity: Identity, aus: dict[str, float], size: int = FRAME_SIZE) -> float:
    """Mean absolute difference (grey levels) between ``identity``'s face showing ``aus`` and
    their neutral face, in ``FACE_REGION``, without pose, lighting or noise."""
    rng = np.random.default_rng(0)  # unused: no noise is drawn
    face = render_face(identity, aus, size, rng, noise_sd=0.0)
    return float(np.abs(_region(face).astype(np.float64) - _neutral(identity, size)).mean())


@functools.lru_cache(maxsize=64)
def _neutral(identity: Identity, size: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return _region(render_face(identity, {}, size, rng, noise_sd=0.0)).astype(np.float64)


@functools.lru_cache(maxsize=64)
def expression_scales(identity: Identity) -> dict[str, float]:
    """Per emotion, the fraction of its prototype at which it changes ``identity``'s face as
    much as the least visible full-strength prototype does (``facial_change``).

    How much a unit moves the picture depends on the person (brows dark on light skin, lips
    close to the skin tone ...), so the scales are found per identity, by bisection
    (deterministic)."""
    full = {e: facial_change(identity, expression_aus(e, 1.0)) for e in CLASSES}
    target = min(full.values())
    scales = {}
    for emotion in CLASSES:
        lo, hi = 0.0, 1.0
        if full[emotion] > target:
            for _ in range(_BISECTION_STEPS):
                mid = (lo + hi) / 2.0
                if facial_change(identity, expression_aus(emotion, mid)) > target:
                    hi = mid
                else:
                    lo = mid
        else:
            lo = 1.0
        scales[emotion] = lo
    return scales


def world_aus(identity: Identity, emotion: str, intensity: float) -> dict[str, float]:
    """``emotion`` at ``intensity`` (0..1) of this world's full expression for ``identity``."""
    return expression_aus(emotion, intensity * expression_scales(identity)[emotion])


def clip_curves(clip: MaskedClip) -> dict[str, np.ndarray]:
    """Per-frame curves (index = frame number − 1): the leak's shape (peak 1 two frames after
    the onset), the upper-face trace's intensity and the displayed expression's intensity."""
    n = np.arange(1, N_FRAMES + 1, dtype=np.float64)
    o, a, f = clip.onset, clip.apex, clip.offset
    inside = (n > o) & (n < o + LEAK_FRAMES)
    leak = np.where(inside, np.sin(math.pi * (n - o) / LEAK_FRAMES) ** 2, 0.0)
    start, top, end = o + LEAK_FRAMES // 2 + 1, a - 2, a + 2
    # Ease-in ramps (steepest next to the plateau) keep the frames outside apex ± 2 clearly
    # below it, so that small head movements cannot move the largest change there.
    display = np.select(
        [(n > start) & (n < top), (n >= top) & (n <= end), (n > end) & (n < f)],
        [
            PLATEAU * ((n - start) / (top - start)) ** 2,
            1.0 - (1.0 - PLATEAU) * ((n - a) / 2.0) ** 2,
            PLATEAU * ((f - n) / (f - end)) ** 2,
        ],
        0.0,
    )
    trace = TRACE_INTENSITY * display
    return {"leak": leak, "trace": trace, "display": display}


def leaky_aus(aus: dict[str, float]) -> dict[str, float]:
    """Only the units of ``aus`` that a felt emotion cannot hold still (``LEAKY_AUS``)."""
    return {au: value for au, value in aus.items() if au in LEAKY_AUS}


def posed_aus(aus: dict[str, float]) -> dict[str, float]:
    """``aus`` as a deliberate expression makes them: leaky units at ``POSED_LEAKY``."""
    return {au: value * POSED_LEAKY if au in LEAKY_AUS else value for au, value in aus.items()}


def frame_aus(
    clip: MaskedClip,
    identity: Identity,
    index: int,
    curves: dict[str, np.ndarray],
    leak_peak: float,
) -> dict[str, float]:
    """Action units of frame ``index`` (0-based): the leak (peaking at ``leak_peak``), the
    upper-face trace and the displayed expression, combined unit by unit."""
    leak = world_aus(identity, clip.true_emotion, leak_peak * float(curves["leak"][index]))
    trace = leaky_aus(world_aus(identity, clip.true_emotion, float(curves["trace"][index])))
    shown = posed_aus(world_aus(identity, clip.expression, float(curves["display"][index])))
    return combine_aus(leak, trace, shown)


def leak_peak_intensity(clip: MaskedClip, identity: Identity) -> float:
    """The leak's peak intensity at which its frame changes the face by ``clip.leak_share``
    times what the apex frame changes (``facial_change``; bisection, deterministic).

    Stating the leak as a share of the apex's change rather than of action-unit intensity
    keeps the apex the frame of largest change whatever the pair: a brow-lowering trace
    under a brow-raising expression, for example, makes the apex change less."""
    curves = clip_curves(clip)
    apex = facial_change(identity, frame_aus(clip, identity, clip.apex - 1, curves, 0.0))
    target = clip.leak_share * apex
    peak = clip.onset + LEAK_FRAMES // 2 - 1  # index of the leak's peak frame
    lo, hi = 0.0, 1.0
    if facial_change(identity, frame_aus(clip, identity, peak, curves, 1.0)) <= target:
        return 1.0
    for _ in range(_BISECTION_STEPS):
        mid = (lo + hi) / 2.0
        if facial_change(identity, frame_aus(clip, identity, peak, curves, mid)) > target:
            hi = mid
        else:
            lo = mid
    return lo


def render_clip(clip: MaskedClip, identity: Identity, rng: np.random.Generator) -> list[np.ndarray]:
    """The clip's frames (BGR uint8, ``FRAME_SIZE`` square), in order."""
    curves = clip_curves(clip)
    leak_peak = leak_peak_intensity(clip, identity)
    poses = pose_track(N_FRAMES, rng, **POSE_JITTER)
    lighting = Lighting.sample(rng)
    return [
        render_face(
            identity,
            frame_aus(clip, identity, k, curves, leak_peak),
            FRAME_SIZE,
            rng,
            pose=poses[k],
            lighting=lighting,
        )
        for k in range(N_FRAMES)
    ]


def _ease(x: np.ndarray) -> np.ndarray:
    """Raised-cosine ramp 0 → 1 on [0, 1]."""
    return 0.5 - 0.5 * np.cos(math.pi * np.clip(x, 0.0, 1.0))
