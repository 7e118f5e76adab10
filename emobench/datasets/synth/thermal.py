"""Paired visible/thermal miniatures: the ``vt-pairs`` list layout and the Tufts layout.

Every capture is one person photographed at the same moment by a visible camera (the shared
face renderer) and a thermal camera (``thermal_layer``: the same identity, action units and
pose, drawn as a temperature map whose regional changes follow the emotion's cue table). The
two worlds only decide who is recorded, in which expressions, and how the files are written.

**vt-pairs** (``emobench synth vt-pairs``, also ``emobench synth thermal``), read by
``emobench.datasets.vt_pairs``::

    pairs.csv                         subject,capture,visible,thermal,label
    visible/<subject>/<capture>.png   8-bit RGB, 96×96
    thermal/<subject>/<capture>.png   16-bit grey, counts = round((T °C + 273.15) × 100)

Subjects ``s01`` … ``s40``, each recorded ``CAPTURES_PER_CLASS`` = 2 times in each of the 7
classes (capture id ``<subject>_<class>_<k>``): 560 paired captures. Per capture the visible
expression's intensity is drawn in ``INTENSITY_RANGE`` (0.3-1.0 of the prototype), with head
pose (``POSE_RANGE``), lighting and sensor noise, so that the visible image alone is an
imperfect witness; the thermal response is drawn independently (``capture_response``).
Thermal counts are centikelvin like FLIR's TLinear output (0.01 K per count): prepare with
``--thermal-scale 0.01 --thermal-offset -273.15`` to store °C.

**Tufts** (``emobench synth tufts``), read by ``emobench.datasets.tufts``, in the Tufts Face
Database's expression sets::

    TD_IR_E_Set<k>/<participant>/TD_IR_E_<1..5>.jpg     thermal, 8-bit grey JPEG
    TD_RGB_E_Set<k>/<participant>/TD_RGB_E_<1..5>.jpg   visible, RGB JPEG

30 participants numbered globally, 25 per set (Set1 = 1-25, Set2 = 26-30), five posed images
each: 1 neutral, 2 smile (Happiness, intensity 0.6-1.0), 3 eyes closed, 4 exaggerated
shocked (Surprise at 0.9-1.0), 5 sunglasses (dark lenses over the eyes in the visible image;
in the thermal image cool, uniform lenses — glass is opaque to long-wave infrared, so the
camera sees the lens, warmed a little by the face, not the eyes behind it). Tufts' poses are
acted on request, so the thermal response is scaled by ``POSED_RESPONSE`` = 0.5 (an emobench
choice: voluntary facial action changes autonomic activity, but less than a felt emotion).
The thermal JPEG maps temperature linearly and fixedly, ``GREY_SPAN`` 20-40 °C → grey 0-255
(grey = round((T − 20) / 20 × 255), clipped): prepare with ``--thermal-scale 0.0784314
--thermal-offset 20`` (20/255) to store °C. The frames are wider than tall, as cameras'
are: thermal 128×96 (about the FLIR Vue Pro's 4:3), visible 144×96 (the Nikon D3100's 3:2).

Everything derives from ``seed``; each capture's randomness from (seed, stream, subject,
capture), so bytes do not depend on the order of writing, and OpenCV's PNG and JPEG encoders
are deterministic: the same seed gives byte-identical files.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emobench.datasets.registry import register_synth
from emobench.datasets.synth.face_renderer import (
    Identity,
    Lighting,
    Pose,
    expression_aus,
    face_landmarks,
    render_face,
)
from emobench.datasets.synth.thermal_layer import (
    ThermalConditions,
    ThermalIdentity,
    capture_response,
    face_frame,
    lens_outlines,
    render_thermal,
)
from emobench.datasets.vt_pairs import CLASSES, LIST_FILE
from emobench.errors import EmobenchError, InputError

PAIRS_FILE = LIST_FILE
PAIRS_COLUMNS: tuple[str, ...] = ("subject", "capture", "visible", "thermal", "label")
VT_SUBJECTS = 40
CAPTURES_PER_CLASS = 2
VT_SIZE = 96
INTENSITY_RANGE = (0.3, 1.0)
# Head pose per capture: translation (fraction of the image side), roll (degrees), scale.
POSE_RANGE = {"translation": 0.03, "rotation_deg": 6.0, "scale": (0.92, 1.05)}

TUFTS_PARTICIPANTS = 30
TUFTS_SET_SIZE = 25
TUFTS_THERMAL_SHAPE = (96, 128)  # rows, columns
TUFTS_VISIBLE_SHAPE = (96, 144)
JPEG_QUALITY = 90
GREY_SPAN = (20.0, 40.0)  # °C mapped to grey 0..255 in the Tufts thermal JPEGs
POSED_RESPONSE = 0.5


@dataclass(frozen=True)
class TuftsPose:
    """One of the five posed images of the Tufts expression sets."""

    index: int
    description: str
    emotion: str  # what the face shows (the renderer prototype)
    intensity: tuple[float, float]
    eyes_closed: bool = False
    sunglasses: bool = False


TUFTS_POSES: tuple[TuftsPose, ...] = (
    TuftsPose(1, "neutral", "Neutral", (0.0, 0.0)),
    TuftsPose(2, "smile", "Happiness", (0.6, 1.0)),
    TuftsPose(3, "eyes closed", "Neutral", (0.0, 0.0), eyes_closed=True),
    TuftsPose(4, "exaggerated shocked", "Surprise", (0.9, 1.0)),
    TuftsPose(5, "sunglasses", "Neutral", (0.0, 0.0), sunglasses=True),
)

# Streams of the seed: one per purpose, so adding one never shifts another.
_VT_IDENTITY, _VT_THERMAL_IDENTITY, _VT_CAPTURE = 0, 1, 2
_TUFTS_IDENTITY, _TUFTS_THERMAL_IDENTITY, _TUFTS_CAPTURE = 10, 11, 12


def centikelvin(celsius: np.ndarray) -> np.ndarray:
    """Temperatures (°C) as 16-bit counts of 0.01 K: round((T + 273.15) × 100)."""
    counts = np.round((np.asarray(celsius, np.float64) + 273.15) * 100.0)
    return np.clip(counts, 0, 65535).astype(np.uint16)


def grey_levels(celsius: np.ndarray) -> np.ndarray:
    """Temperatures (°C) as the Tufts miniature's grey levels: ``GREY_SPAN`` → 0..255."""
    lo, hi = GREY_SPAN
    grey = np.round((np.asarray(celsius, np.float64) - lo) / (hi - lo) * 255.0)
    return np.clip(grey, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class VtCapture:
    """One row of pairs.csv."""

    subject_index: int  # 1-based
    label: str
    k: int  # 1-based repeat of the class

    @property
    def subject(self) -> str:
        return f"s{self.subject_index:02d}"

    @property
    def capture(self) -> str:
        return f"{self.subject}_{self.label}_{self.k}"

    @property
    def visible(self) -> str:
        return f"visible/{self.subject}/{self.capture}.png"

    @property
    def thermal(self) -> str:
        return f"thermal/{self.subject}/{self.capture}.png"

    def row(self) -> list[str]:
        return [self.subject, self.capture, self.visible, self.thermal, self.label]


def plan_vt_captures(subjects: int = VT_SUBJECTS) -> list[VtCapture]:
    """Every capture of the vt-pairs miniature, in pairs.csv order."""
    if subjects < 1:
        raise EmobenchError(f"the vt-pairs miniature needs at least 1 subject, got {subjects}")
    return [
        VtCapture(s, label, k)
        for s in range(1, subjects + 1)
        for label in CLASSES
        for k in range(1, CAPTURES_PER_CLASS + 1)
    ]


@register_synth("vt-pairs")
@register_synth("thermal")
def write_vt_pairs_miniature(
    out: Path,
    *,
    seed: int = 0,
    subjects: int = VT_SUBJECTS,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write the paired visible/thermal miniature in the vt-pairs list layout under ``out``
    (which must not exist or be empty)."""
    out = Path(out)
    captures = plan_vt_captures(subjects)
    staging = _staging(out)
    people = {s: vt_person(seed, s) for s in range(1, subjects + 1)}
    for done, cap in enumerate(captures, start=1):
        identity, thermal = people[cap.subject_index]
        visible, temperature = render_vt_capture(identity, thermal, cap.label, vt_stream(seed, cap))
        _write(staging / cap.visible, visible)
        _write(staging / cap.thermal, centikelvin(temperature))
        if progress is not None:
            progress(done, len(captures))
    lines = [",".join(PAIRS_COLUMNS)] + [",".join(c.row()) for c in captures]
    (staging / PAIRS_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    _finish(staging, out)
    return {
        "dataset": "vt-pairs",
        "out": str(out),
        "seed": seed,
        "n_subjects": subjects,
        "n_captures": len(captures),
        "n_samples": len(captures),
        "n_classes": len(CLASSES),
        "classes": list(CLASSES),
        "captures_per_class": CAPTURES_PER_CLASS,
        "image_size": VT_SIZE,
        "thermal_format": "16-bit PNG, centikelvin",
        "n_files": 2 * len(captures) + 1,
    }


def vt_person(seed: int, subject_index: int) -> tuple[Identity, ThermalIdentity]:
    """Who vt-pairs subject ``subject_index`` (1-based) is, to both cameras."""
    return (
        Identity.sample(np.random.default_rng([seed, _VT_IDENTITY, subject_index])),
        ThermalIdentity.sample(np.random.default_rng([seed, _VT_THERMAL_IDENTITY, subject_index])),
    )


def vt_stream(seed: int, capture: VtCapture) -> list[int]:
    """The seed stream of one vt-pairs capture's randomness."""
    return [seed, _VT_CAPTURE, capture.subject_index, CLASSES.index(capture.label), capture.k]


def capture_face(
    emotion: str, stream: list[int], intensity_range: tuple[float, float] = INTENSITY_RANGE
) -> tuple[dict[str, float], Pose]:
    """The action units (``emotion`` at an intensity drawn in ``intensity_range``; none for
    Neutral) and head pose of the capture seeded by ``stream``: what both cameras see."""
    plan = np.random.default_rng([*stream, 0])
    lo, hi = intensity_range
    intensity = float(plan.uniform(lo, hi)) if emotion != "Neutral" and hi > 0 else 0.0
    return expression_aus(emotion, intensity), _pose(plan)


def render_vt_capture(
    identity: Identity, thermal: ThermalIdentity, label: str, stream: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """The visible (BGR uint8) and thermal (°C float32) images of one vt-pairs capture, both
    ``VT_SIZE`` square, drawn from generators seeded by ``stream`` (plan, visible, thermal)."""
    aus, pose = capture_face(label, stream)
    vis_rng = np.random.default_rng([*stream, 1])
    lighting = Lighting.sample(vis_rng)
    visible = render_face(identity, aus, VT_SIZE, vis_rng, pose=pose, lighting=lighting)
    th_rng = np.random.default_rng([*stream, 2])
    conditions = ThermalConditions.sample(th_rng)
    response = capture_response(label, thermal, th_rng)
    temperature = render_thermal(
        identity, thermal, aus, VT_SIZE, th_rng, pose=pose, conditions=conditions, response=response
    )
    return visible, temperature


# ----------------------------------------------------------------------------------------------
# Tufts.


def tufts_set(participant: int, set_size: int = TUFTS_SET_SIZE) -> int:
    """The download set (1-based) holding ``participant`` (numbered globally from 1)."""
    return (participant - 1) // set_size + 1


@register_synth("tufts")
def write_tufts_miniature(
    out: Path,
    *,
    seed: int = 0,
    participants: int = TUFTS_PARTICIPANTS,
    set_size: int = TUFTS_SET_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write the Tufts-layout miniature (TD_IR_E / TD_RGB_E expression sets) under ``out``
    (which must not exist or be empty)."""
    out = Path(out)
    if participants < 1 or set_size < 1:
        raise EmobenchError(
            f"the tufts miniature needs at least 1 participant and set size 1, got "
            f"{participants} and {set_size}"
        )
    staging = _staging(out)
    total = participants * len(TUFTS_POSES)
    done = 0
    for p in range(1, participants + 1):
        identity = Identity.sample(np.random.default_rng([seed, _TUFTS_IDENTITY, p]))
        thermal = ThermalIdentity.sample(np.random.default_rng([seed, _TUFTS_THERMAL_IDENTITY, p]))
        k = tufts_set(p, set_size)
        for pose in TUFTS_POSES:
            visible, temperature = render_tufts_capture(
                identity, thermal, pose, [seed, _TUFTS_CAPTURE, p, pose.index]
            )
            _write(staging / f"TD_RGB_E_Set{k}" / str(p) / f"TD_RGB_E_{pose.index}.jpg", visible)
            _write(
                staging / f"TD_IR_E_Set{k}" / str(p) / f"TD_IR_E_{pose.index}.jpg",
                grey_levels(temperature),
            )
            done += 1
            if progress is not None:
                progress(done, total)
    _finish(staging, out)
    return {
        "dataset": "tufts",
        "out": str(out),
        "seed": seed,
        "n_participants": participants,
        "n_sets": tufts_set(participants, set_size),
        "n_poses": len(TUFTS_POSES),
        "n_captures": total,
        "classes": ["Neutral", "Happiness", "Surprise"],
        "thermal_format": f"8-bit grey JPEG, {GREY_SPAN[0]:g}-{GREY_SPAN[1]:g} °C → 0-255",
        "n_files": 2 * total,
    }


def render_tufts_capture(
    identity: Identity, thermal: ThermalIdentity, pose_info: TuftsPose, stream: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """The visible (BGR uint8, ``TUFTS_VISIBLE_SHAPE``) and thermal (°C float32,
    ``TUFTS_THERMAL_SHAPE``) images of one posed Tufts capture."""
    aus, pose = capture_face(pose_info.emotion, stream, pose_info.intensity)
    vis_rng = np.random.default_rng([*stream, 1])
    lighting = Lighting.sample(vis_rng)
    rows, cols = TUFTS_VISIBLE_SHAPE
    framed = _framed(pose, rows, cols)
    visible = render_face(identity, aus, cols, vis_rng, pose=framed, lighting=lighting)
    if pose_info.eyes_closed:
        _close_eyes(visible, identity, aus, framed, lighting)
    if pose_info.sunglasses:
        _draw_sunglasses(visible, identity, aus, framed)
    th_rng = np.random.default_rng([*stream, 2])
    conditions = ThermalConditions.sample(th_rng)
    response = capture_response(pose_info.emotion, thermal, th_rng, scale=POSED_RESPONSE)
    t_rows, t_cols = TUFTS_THERMAL_SHAPE
    temperature = render_thermal(
        identity,
        thermal,
        aus,
        t_cols,
        th_rng,
        pose=_framed(pose, t_rows, t_cols),
        conditions=conditions,
        response=response,
        eyes_closed=pose_info.eyes_closed,
        sunglasses=pose_info.sunglasses,
    )
    return _middle_rows(visible, rows), _middle_rows(temperature, t_rows)


def _framed(pose: Pose, rows: int, cols: int) -> Pose:
    """``pose`` on a square canvas of side ``cols`` whose middle ``rows`` rows are kept: the
    face keeps the size it has in a ``rows``-square image."""
    return Pose(
        pose.dx * rows / cols, pose.dy * rows / cols, pose.angle_deg, pose.scale * rows / cols
    )


def _middle_rows(image: np.ndarray, rows: int) -> np.ndarray:
    top = (image.shape[0] - rows) // 2
    return np.ascontiguousarray(image[top : top + rows])


def _close_eyes(
    image: np.ndarray, identity: Identity, aus: dict, pose: Pose, lighting: Lighting
) -> None:
    """Draw closed lids over the eyes of a rendered face (in place): skin-coloured lids with
    a dark lash line along the middle of each eye."""
    size = image.shape[0]
    frame = face_frame(identity, aus, size, pose=pose)
    marks = _canonical_eyes(identity, aus)
    skin = tuple(int(min(255, c * lighting.gain)) for c in identity.skin_bgr)
    lash = tuple(int(c * 0.5) for c in identity.hair_bgr)
    t = np.linspace(0.0, 2.0 * np.pi, 28, endpoint=False)
    w = 0.068 * identity.eye_size
    for cx, cy in marks:
        lid = np.stack([cx + w * np.cos(t), cy + 0.034 * identity.eye_size * np.sin(t)], 1)
        xs = np.linspace(-w * 0.95, w * 0.95, 11)
        line = np.stack([cx + xs, cy + 0.006 + 0.008 * (1.0 - (xs / w) ** 2)], 1)
        cv2.fillPoly(image, [_pixels(lid, frame)], skin, cv2.LINE_AA, 4)
        width = max(1, round(0.01 * size * pose.scale))
        cv2.polylines(image, [_pixels(line, frame)], False, lash, width, cv2.LINE_AA, 4)


def _draw_sunglasses(image: np.ndarray, identity: Identity, aus: dict, pose: Pose) -> None:
    """Draw dark sunglass lenses and their bridge over the eyes (in place)."""
    outlines = lens_outlines(identity, aus, image.shape[0], pose=pose)
    cv2.fillPoly(
        image, [np.round(p * 16).astype(np.int32) for p in outlines], (28, 26, 24), cv2.LINE_AA, 4
    )


def _canonical_eyes(identity: Identity, aus: dict) -> list[tuple[float, float]]:
    marks = face_landmarks(identity, aus, 1)
    return [tuple(float(v) - 0.5 for v in marks[k]) for k in ("left_eye", "right_eye")]


def _pixels(points: np.ndarray, frame: np.ndarray) -> np.ndarray:
    mapped = points @ frame[:, :2].T + frame[:, 2] - 0.5
    return np.round(mapped * 16).astype(np.int32)


# ----------------------------------------------------------------------------------------------
# Writing.


def _pose(rng: np.random.Generator) -> Pose:
    shift = POSE_RANGE["translation"]
    return Pose(
        dx=float(rng.uniform(-shift, shift)),
        dy=float(rng.uniform(-shift, shift)),
        angle_deg=float(rng.uniform(-POSE_RANGE["rotation_deg"], POSE_RANGE["rotation_deg"])),
        scale=float(rng.uniform(*POSE_RANGE["scale"])),
    )


def _staging(out: Path) -> Path:
    """A fresh staging folder beside ``out``; refuses an ``out`` that exists and is not an
    empty folder."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(out, "exists and is not empty; choose a new --out or remove it first")
    staging = out.parent / f".{out.name}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def _finish(staging: Path, out: Path) -> None:
    if out.exists():
        out.rmdir()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(out)


def _write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if path.suffix == ".jpg" else []
    if not cv2.imwrite(str(path), image, params):
        raise EmobenchError(f"{path}: OpenCV cannot write {path.suffix}")
