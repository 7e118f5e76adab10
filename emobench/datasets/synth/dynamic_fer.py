"""The in-the-wild dynamic-FER world shared by the DFEW, FERV39k and MAFW miniatures.

The three miniatures (``synth/dfew.py``, ``synth/ferv39k.py``, ``synth/mafw.py``) only decide
which clips, labels, folds and scenes exist and write them in their release's layout; every
pixel comes from here, built on the shared face renderer. The world carries the claim of the
dynamic-FER literature that IFDD (Wang & Chai, arXiv 2412.13168) builds on: **the emotion is
in the facial dynamics, not in any one frame**. In every clip:

1. **a resting face that already looks like an expression.** Each clip is a different person
   (in-the-wild clips, one identity each) whose face at rest shows the prototype of a
   *resting emotion* — any non-neutral class of the dataset, drawn independently of the label
   — at ``REST_AMPLITUDE`` = 0.35–0.8 of full intensity, comparable to the expression itself,
   breathing slowly by ±``REST_WOBBLE`` = 10 %;
2. **the label is the change.** From an onset in the first third of the clip
   (``ONSET_SHARE`` = 10–33 % of its length) the labelled emotion's prototype rises
   (raised cosine) to an apex amplitude of ``APEX_AMPLITUDE`` = 0.65–1.0 at 45–80 % of the
   clip (``APEX_SHARE``), then holds, sagging linearly to 75–95 % of the apex
   (``HOLD_SHARE``) by the last frame. Its units add to the resting face's (clipped at 1).
   A neutral clip has no change;
3. **nuisance that carries no emotion:** a random identity per clip, smooth head motion
   around a per-clip framing (``POSE_JITTER``, ``FRAMING``), lighting that drifts from one
   random setting to another over the clip, a background scene (a gradient with a few shapes
   in the palette of the clip's *context*: a FERV39k scene, a DFEW/MAFW movie look) that the
   camera pans across, and sensor noise.

So any single frame — and the average of all frames, which is what a 2-D CNN with temporal
average pooling sees — shows two expressions of comparable strength, only one of which is
the label, while the first frames show the resting one alone and the difference from them
shows the label. A temporal model can read the change; a static one can at best guess which
of the two visible expressions arrived later.

Clip lengths vary per dataset (10–40 frames for DFEW and FERV39k, 12–72 for MAFW), so some
clips are shorter than 16 frames and exercise padding. Frames are ``FRAME_SIZE`` = 112 px
JPEGs (quality ``JPEG_QUALITY``), written with OpenCV, whose encoder is deterministic: the
same seed gives byte-identical files. Each clip's randomness comes from a generator seeded by
(seed, dataset stream, clip index), so bytes do not depend on the order of writing.

MAFW's non-basic classes use the renderer's ``SECONDARY_EMOTION_AUS`` prototypes.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emobench.datasets.synth.face_renderer import (
    Identity,
    Lighting,
    Pose,
    expression_aus,
    pose_track,
    render_face,
)
from emobench.errors import EmobenchError, InputError

FRAME_SIZE = 112
JPEG_QUALITY = 90
REST_AMPLITUDE = (0.35, 0.8)
REST_WOBBLE = 0.1
APEX_AMPLITUDE = (0.65, 1.0)
ONSET_SHARE = (0.1, 0.33)
APEX_SHARE = (0.45, 0.8)
HOLD_SHARE = (0.75, 0.95)
# Head motion (fraction of the image side, degrees, relative scale) and per-clip framing.
POSE_JITTER = {"translation": 0.015, "rotation_deg": 3.0, "scale": 0.02}
FRAMING = {"offset": 0.03, "scale": (0.88, 1.04)}
AU_STEP = 0.02  # action-unit intensities are rounded to this step
PAN = 0.25  # the background canvas is 1 + PAN times the frame; the camera pans across it

# Dataset class names → the renderer's prototype names.
PROTOTYPE: dict[str, str] = {
    "happy": "Happiness",
    "happiness": "Happiness",
    "sad": "Sadness",
    "sadness": "Sadness",
    "angry": "Anger",
    "anger": "Anger",
    "surprise": "Surprise",
    "disgust": "Disgust",
    "fear": "Fear",
    "neutral": "Neutral",
    "contempt": "Contempt",
    "anxiety": "Anxiety",
    "helplessness": "Helplessness",
    "disappointment": "Disappointment",
}

# Context palettes (BGR): hue families of a background scene.
PALETTES: tuple[tuple[tuple[int, int, int], tuple[int, int, int]], ...] = (
    ((40, 40, 60), (150, 170, 200)),  # warm interior
    ((90, 60, 30), (220, 200, 160)),  # daylight, sky
    ((30, 70, 40), (140, 190, 150)),  # park, foliage
    ((25, 25, 25), (110, 100, 120)),  # night
    ((60, 80, 110), (200, 220, 235)),  # office, bright
    ((70, 40, 70), (180, 140, 190)),  # stage light
)


def prototype(name: str) -> str:
    """The renderer prototype of a dataset class name (``Happy``, ``happiness`` → ``Happiness``)."""
    try:
        return PROTOTYPE[name.lower()]
    except KeyError as err:
        raise EmobenchError(f"no face prototype for class {name!r}") from err


@dataclass(frozen=True)
class DynamicClip:
    """Everything the world needs to draw one clip (no pixels)."""

    index: int  # position in the dataset's plan; seeds the clip's pixels
    emotion: str  # the label's renderer prototype
    rest_emotion: str  # the resting face's prototype (independent of the label)
    rest_amplitude: float
    amplitude: float  # of the labelled emotion at its apex
    n_frames: int
    onset: float  # frame index where the rise starts
    apex: float  # frame index of full amplitude
    hold: float  # share of the apex amplitude left at the last frame
    context: int  # palette of the background scene


def plan_clip(
    rng: np.random.Generator,
    index: int,
    label: str,
    rest_classes: Iterable[str],
    lengths: tuple[int, int],
    context: int,
) -> DynamicClip:
    """Draw one clip's timing, resting face and amplitudes (the label is given)."""
    rests = [prototype(c) for c in rest_classes if prototype(c) != "Neutral"]
    n = int(rng.integers(lengths[0], lengths[1] + 1))
    onset = float(rng.uniform(*ONSET_SHARE)) * n
    apex = max(float(rng.uniform(*APEX_SHARE)) * n, onset + 2.0)
    return DynamicClip(
        index=index,
        emotion=prototype(label),
        rest_emotion=rests[int(rng.integers(len(rests)))],
        rest_amplitude=round(float(rng.uniform(*REST_AMPLITUDE)), 4),
        amplitude=round(float(rng.uniform(*APEX_AMPLITUDE)), 4),
        n_frames=n,
        onset=round(onset, 3),
        apex=round(min(apex, n - 1.0), 3),
        hold=round(float(rng.uniform(*HOLD_SHARE)), 4),
        context=context,
    )


def expression_curve(clip: DynamicClip) -> np.ndarray:
    """Intensity (0..1 of the apex amplitude) of the labelled emotion per frame."""
    t = np.arange(clip.n_frames, dtype=np.float64)
    rise = np.clip((t - clip.onset) / max(clip.apex - clip.onset, 1e-9), 0.0, 1.0)
    rise = 0.5 - 0.5 * np.cos(math.pi * rise)
    tail = max(clip.n_frames - 1 - clip.apex, 1e-9)
    sag = 1.0 - (1.0 - clip.hold) * np.clip((t - clip.apex) / tail, 0.0, 1.0)
    return np.where(t <= clip.apex, rise, sag)


def frame_aus(clip: DynamicClip, curve: np.ndarray, wobble: np.ndarray, k: int) -> dict:
    """Action units of frame ``k``: the resting face plus the rising emotion, clipped at 1 and
    rounded to ``AU_STEP`` (a fraction of a pixel; frames that round alike share one drawing
    in the renderer's cache)."""
    rest = expression_aus(clip.rest_emotion, clip.rest_amplitude * float(wobble[k]))
    shown = expression_aus(clip.emotion, clip.amplitude * float(curve[k]))
    return {
        au: round(min(1.0, rest.get(au, 0.0) + shown.get(au, 0.0)) / AU_STEP) * AU_STEP
        for au in sorted({*rest, *shown})
    }


def _background(rng: np.random.Generator, context: int, size: int) -> np.ndarray:
    """A scene canvas (1 + PAN times the frame) in the context's palette."""
    side = round(size * (1.0 + PAN))
    dark, light = (np.array(c, np.float64) for c in PALETTES[context % len(PALETTES)])
    top = dark + rng.uniform(0.0, 0.6) * (light - dark) + rng.normal(0.0, 12.0, 3)
    bottom = dark + rng.uniform(0.4, 1.0) * (light - dark) + rng.normal(0.0, 12.0, 3)
    ramp = np.linspace(0.0, 1.0, side)[:, None, None]
    canvas = np.clip((1.0 - ramp) * top + ramp * bottom, 0, 255)
    canvas = np.ascontiguousarray(np.broadcast_to(canvas, (side, side, 3))).astype(np.uint8)
    for _ in range(int(rng.integers(3, 7))):
        colour = tuple(
            int(v) for v in np.clip(dark + rng.uniform(0, 1, 3) * (light - dark), 0, 255)
        )
        x, y = (int(v) for v in rng.integers(0, side, 2))
        w, h = (int(v) for v in rng.integers(side // 10, side // 3, 2))
        if rng.uniform() < 0.5:
            cv2.rectangle(canvas, (x, y), (x + w, y + h), colour, -1)
        else:
            cv2.circle(canvas, (x, y), w // 2, colour, -1, cv2.LINE_AA)
    return cv2.GaussianBlur(canvas, (0, 0), 1.2)


def _lighting_drift(rng: np.random.Generator, n: int) -> list[Lighting]:
    start, end = Lighting.sample(rng), Lighting.sample(rng)
    angle_end = start.gradient_angle_deg + float(rng.uniform(-60.0, 60.0))
    out = []
    for k in range(n):
        a = k / max(n - 1, 1)
        out.append(
            Lighting(
                gain=round((1 - a) * start.gain + a * end.gain, 4),
                gradient_angle_deg=round((1 - a) * start.gradient_angle_deg + a * angle_end, 2),
                gradient_strength=round(
                    (1 - a) * start.gradient_strength + a * end.gradient_strength, 4
                ),
            )
        )
    return out


def render_clip(clip: DynamicClip, rng: np.random.Generator, size: int = FRAME_SIZE) -> list:
    """The clip's frames (BGR uint8, ``size`` square), in order."""
    n = clip.n_frames
    identity = Identity.sample(rng)
    curve = expression_curve(clip)
    phase, period = rng.uniform(0.0, 2.0 * math.pi), rng.uniform(12.0, 30.0)
    wobble = 1.0 + REST_WOBBLE * np.sin(2.0 * math.pi * np.arange(n) / period + phase)
    jitter = pose_track(n, rng, **POSE_JITTER)
    base_dx, base_dy = rng.uniform(-FRAMING["offset"], FRAMING["offset"], 2)
    base_scale = rng.uniform(*FRAMING["scale"])
    lights = _lighting_drift(rng, n)
    canvas = _background(rng, clip.context, size)
    room = canvas.shape[0] - size
    x0, y0, x1, y1 = (int(v) for v in rng.integers(0, room + 1, 4))
    frames = []
    for k in range(n):
        a = k / max(n - 1, 1)
        x, y = round((1 - a) * x0 + a * x1), round((1 - a) * y0 + a * y1)
        p = jitter[k]
        pose = Pose(p.dx + base_dx, p.dy + base_dy, p.angle_deg, p.scale * base_scale)
        frames.append(
            render_face(
                identity,
                frame_aus(clip, curve, wobble, k),
                size,
                rng,
                pose=pose,
                lighting=lights[k],
                background=canvas[y : y + size, x : x + size],
            )
        )
    return frames


def clip_rng(seed: int, stream: int, index: int) -> np.random.Generator:
    """The generator of one clip's pixels: independent of the order clips are written in."""
    return np.random.default_rng([seed, stream, index])


def write_jpeg(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
        raise EmobenchError(f"{path}: OpenCV cannot write JPEG")


def start_output(out: Path) -> Path:
    """A fresh staging folder beside ``out`` (which must not exist or be empty)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(out, "exists and is not empty; choose a new --out or remove it first")
    staging = out.parent / f".{out.name}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def finish_output(staging: Path, out: Path) -> list[str]:
    """Move the finished staging folder into place; returns every file, relative and sorted."""
    files = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
    if out.exists():
        out.rmdir()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(out)
    return files


def write_clip(
    folder: Path,
    clip: DynamicClip,
    rng: np.random.Generator,
    name: Callable[[int], str],
    keep: Iterable[int] | None = None,
) -> int:
    """Render ``clip`` into ``folder`` as ``name(frame_number)`` JPEGs (1-based numbers);
    ``keep`` (0-based indices) writes only those frames, renumbered 1..len(keep) — the
    time-interpolated 16-frame releases. Returns the number of files written."""
    folder.mkdir(parents=True)
    frames = render_clip(clip, rng)
    chosen = list(range(len(frames))) if keep is None else list(keep)
    for number, index in enumerate(chosen, start=1):
        write_jpeg(folder / name(number), frames[index])
    return len(chosen)


def balanced_labels(rng: np.random.Generator, classes: Iterable[str], per_class: int) -> list:
    """``per_class`` of every class, shuffled."""
    labels = [c for c in classes for _ in range(per_class)]
    return [labels[int(i)] for i in rng.permutation(len(labels))]
