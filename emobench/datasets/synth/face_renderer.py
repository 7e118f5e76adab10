"""One face renderer for every miniature world, driven by facial action-unit intensities.

A face is drawn with OpenCV primitives (anti-aliased filled polygons and polylines) in a
canonical frame whose unit is the image side and whose origin is the face centre; a per-frame
``Pose`` maps it to pixels. Who the person is lives in ``Identity`` (face shape, skin tone,
feature spacing, eye size, brow thickness, colours); what the face does lives in a mapping of
action-unit intensities in 0..1:

=====  ===================  =========================================================
AU1    inner brow raiser    inner brow ends go up, forehead lines in the middle
AU2    outer brow raiser    outer brow ends go up and the brow arches, forehead lines
AU4    brow lowerer         brows go down and together, vertical furrows between them
AU5    upper lid raiser     eyes open wide, white above the iris
AU6    cheek raiser         lower lids and cheeks go up, crease under the eye
AU7    lid tightener        eye opening narrows, lids tense
AU9    nose wrinkler        wrinkles across the nose, nostrils and upper lip go up
AU12   lip corner puller    corners pulled up and out: a smile, teeth show
AU15   lip corner depressor corners pulled down: a frown
AU20   lip stretcher        corners pulled sideways: a wide, flat mouth
AU23   lip tightener/press  thin, narrowed, pressed lips
AU26   jaw drop             mouth opens vertically and the chin goes down
=====  ===================  =========================================================

Emotions map to EMFACS-style prototypes (``EMOTION_AUS``), and ``expression_timeline`` gives the
onset → apex → offset intensity curve of an expression over a clip. Layers drawn later (masks,
disguise) can place themselves with ``face_landmarks``.

MAFW's four non-basic classes have prototypes too (``SECONDARY_EMOTION_AUS``), built from the
same twelve units in the same spirit; they are emobench's choices, not validated codings:

==============  ==========================  ==============================================
contempt        AU12 0.35 + AU23 0.6        EMFACS codes contempt as a unilateral lip-corner
                                            tightening and raise (R12A+R14A); the renderer is
                                            symmetric and has no AU14, so: a faint smile with
                                            tightened lips and no cheek raise (no AU6)
anxiety         AU1 0.7, AU4 0.5, AU5 0.3,  a muted fear (anxiety is usually described as a
                AU20 0.6, AU23 0.5          low-intensity fear display): worried brows
                                            (1+4), some lid raise, lip stretch, pressed lips,
                                            no jaw drop
helplessness    AU1 0.8, AU2 0.4, AU15 0.5, the sadness family with raised, oblique brows
                AU26 0.3                    and a slack jaw (no brow lowering, AU4)
disappointment  AU1 0.25, AU4 0.5, AU15     a sadness–anger blend: corners down with pressed
                0.8, AU23 0.6               lips and lowered brows
==============  ==========================  ==============================================

``render_face`` draws on a flat background colour (the identity's) or on a given background
image, for worlds whose scenes vary behind the face.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

AU_NAMES: tuple[str, ...] = (
    "AU1",
    "AU2",
    "AU4",
    "AU5",
    "AU6",
    "AU7",
    "AU9",
    "AU12",
    "AU15",
    "AU20",
    "AU23",
    "AU26",
)

EMOTION_AUS: dict[str, dict[str, float]] = {
    "Happiness": {"AU6": 0.9, "AU12": 1.0},
    "Sadness": {"AU1": 1.0, "AU4": 0.6, "AU15": 1.0},
    "Surprise": {"AU1": 1.0, "AU2": 1.0, "AU5": 1.0, "AU26": 1.0},
    "Fear": {"AU1": 0.9, "AU2": 0.6, "AU4": 0.8, "AU5": 1.0, "AU20": 1.0, "AU26": 0.45},
    "Anger": {"AU4": 1.0, "AU5": 0.5, "AU7": 1.0, "AU23": 1.0},
    "Disgust": {"AU9": 1.0, "AU15": 0.6},
    "Neutral": {},
}
"""Prototype action units per emotion at full intensity (EMFACS-style)."""

SECONDARY_EMOTION_AUS: dict[str, dict[str, float]] = {
    "Contempt": {"AU12": 0.35, "AU23": 0.6},
    "Anxiety": {"AU1": 0.7, "AU4": 0.5, "AU5": 0.3, "AU20": 0.6, "AU23": 0.5},
    "Helplessness": {"AU1": 0.8, "AU2": 0.4, "AU15": 0.5, "AU26": 0.3},
    "Disappointment": {"AU1": 0.25, "AU4": 0.5, "AU15": 0.8, "AU23": 0.6},
}
"""Prototypes for MAFW's non-basic classes, from the same units (see the module docstring)."""

UPPER_FACE_AUS: tuple[str, ...] = ("AU1", "AU2", "AU4", "AU5", "AU7")
"""Brow and lid units: the part of a felt emotion that is hardest to hide behind a posed one."""

_SHIFT = 4  # sub-pixel bits for cv2 drawing
_SCALE = float(1 << _SHIFT)


@dataclass(frozen=True)
class Identity:
    """What stays the same for one person across all their clips."""

    face_width: float = 1.0
    face_length: float = 1.0
    skin_bgr: tuple[int, int, int] = (150, 175, 215)
    hair_bgr: tuple[int, int, int] = (40, 45, 60)
    background_bgr: tuple[int, int, int] = (120, 120, 120)
    lip_bgr: tuple[int, int, int] = (95, 95, 175)
    iris_bgr: tuple[int, int, int] = (70, 60, 40)
    eye_spacing: float = 0.135
    eye_height: float = 0.0
    eye_size: float = 1.0
    brow_thickness: float = 0.026
    brow_gap: float = 0.0
    nose_length: float = 1.0
    mouth_width: float = 1.0
    mouth_height: float = 0.0

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Identity:
        """A random person; variation is kept smaller than what expressions change."""
        tone = rng.uniform(0.0, 1.0)
        light = np.array([185.0, 205.0, 238.0])
        dark = np.array([62.0, 92.0, 140.0])
        skin = (1.0 - tone) * light + tone * dark + rng.normal(0.0, 6.0, 3)
        hair_choices = np.array(
            [[25, 25, 30], [30, 45, 70], [50, 80, 120], [90, 140, 185], [120, 120, 125]],
            dtype=float,
        )
        hair = hair_choices[rng.integers(len(hair_choices))] + rng.normal(0.0, 6.0, 3)
        background = rng.uniform(60.0, 200.0) + rng.normal(0.0, 18.0, 3)
        lip = skin * np.array([0.62, 0.58, 0.92]) + rng.normal(0.0, 5.0, 3)
        iris = np.array([[70, 60, 40], [40, 70, 100], [120, 100, 60], [60, 90, 60]], dtype=float)
        return cls(
            face_width=float(rng.uniform(0.92, 1.08)),
            face_length=float(rng.uniform(0.95, 1.05)),
            skin_bgr=_bgr(skin),
            hair_bgr=_bgr(hair),
            background_bgr=_bgr(background),
            lip_bgr=_bgr(lip),
            iris_bgr=_bgr(iris[rng.integers(len(iris))]),
            eye_spacing=float(rng.uniform(0.125, 0.145)),
            eye_height=float(rng.uniform(-0.015, 0.015)),
            eye_size=float(rng.uniform(0.9, 1.1)),
            brow_thickness=float(rng.uniform(0.02, 0.032)),
            brow_gap=float(rng.uniform(-0.008, 0.008)),
            nose_length=float(rng.uniform(0.9, 1.1)),
            mouth_width=float(rng.uniform(0.9, 1.1)),
            mouth_height=float(rng.uniform(-0.012, 0.012)),
        )


@dataclass(frozen=True)
class Pose:
    """Head pose in the image: translation (fraction of the image side), roll, scale."""

    dx: float = 0.0
    dy: float = 0.0
    angle_deg: float = 0.0
    scale: float = 1.0


@dataclass(frozen=True)
class Lighting:
    """Global gain times a linear gradient across the image (``strength`` at the edges)."""

    gain: float = 1.0
    gradient_angle_deg: float = 0.0
    gradient_strength: float = 0.0

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Lighting:
        return cls(
            gain=float(rng.uniform(0.85, 1.12)),
            gradient_angle_deg=float(rng.uniform(0.0, 360.0)),
            gradient_strength=float(rng.uniform(0.0, 0.18)),
        )


def expression_aus(emotion: str, intensity: float) -> dict[str, float]:
    """The prototype action units of ``emotion`` scaled by ``intensity`` (0..1); ``emotion``
    is a key of ``EMOTION_AUS`` or ``SECONDARY_EMOTION_AUS``."""
    prototypes = {**EMOTION_AUS, **SECONDARY_EMOTION_AUS}
    if emotion not in prototypes:
        raise ValueError(f"unknown emotion {emotion!r}; known: {', '.join(prototypes)}")
    k = _clamp(intensity, 0.0, 1.0)
    return {au: value * k for au, value in prototypes[emotion].items()}


def upper_face_aus(aus: Mapping[str, float]) -> dict[str, float]:
    """Only the brow and lid action units (``UPPER_FACE_AUS``) of ``aus``."""
    return {au: value for au, value in aus.items() if au in UPPER_FACE_AUS}


def combine_aus(*layers: Mapping[str, float]) -> dict[str, float]:
    """Action-unit layers active at the same time, as one mapping.

    A muscle cannot contract twice: each unit takes its strongest layer's intensity (the
    maximum), so a faint layer under a strong one of the same unit leaves no mark.
    """
    combined: dict[str, float] = {}
    for layer in layers:
        for au, value in layer.items():
            combined[au] = max(combined.get(au, 0.0), float(value))
    return combined


def expression_timeline(
    n_frames: int, onset: float, apex: float, offset: float, *, apex_end: float | None = None
) -> np.ndarray:
    """Intensity (0..1) per frame of an expression that unfolds onset → apex → offset.

    Frame indices: the rise starts at ``onset`` and reaches full intensity at ``apex``; the
    plateau lasts until ``apex_end`` (default: ``apex``, no plateau); the decay ends at
    ``offset``. Ramps are raised-cosine (smooth at both ends).
    """
    apex_end = apex if apex_end is None else apex_end
    if not onset <= apex <= apex_end <= offset:
        raise ValueError(
            f"need onset <= apex <= apex_end <= offset, got {onset}, {apex}, {apex_end}, {offset}"
        )
    t = np.arange(n_frames, dtype=np.float64)
    rise = np.clip((t - onset) / max(apex - onset, 1e-9), 0.0, 1.0)
    fall = np.clip((offset - t) / max(offset - apex_end, 1e-9), 0.0, 1.0)
    curve = np.where(t < apex, _smooth(rise), np.where(t > apex_end, _smooth(fall), 1.0))
    curve[(t < onset) | (t > offset)] = 0.0
    return curve


def pose_track(
    n_frames: int,
    rng: np.random.Generator,
    *,
    translation: float = 0.02,
    rotation_deg: float = 3.0,
    scale: float = 0.03,
) -> list[Pose]:
    """Smooth head-pose jitter: each parameter is a sum of slow random sinusoids."""
    t = np.arange(n_frames, dtype=np.float64) / max(n_frames, 1)
    tracks = []
    for amplitude in (translation, translation, rotation_deg, scale):
        phase = rng.uniform(0.0, 2.0 * math.pi, 3)
        freq = rng.uniform(0.3, 2.0, 3)
        weight = rng.normal(0.0, 1.0, 3) / math.sqrt(3.0)
        wave = sum(
            w * np.sin(2.0 * math.pi * f * t + p)
            for w, f, p in zip(weight, freq, phase, strict=True)
        )
        tracks.append(amplitude * wave)
    dx, dy, angle, sc = tracks
    return [
        Pose(float(dx[i]), float(dy[i]), float(angle[i]), float(1.0 + sc[i]))
        for i in range(n_frames)
    ]


def render_face(
    identity: Identity,
    aus: Mapping[str, float],
    size: int,
    rng: np.random.Generator,
    *,
    pose: Pose = Pose(),
    lighting: Lighting = Lighting(),
    noise_sd: float = 2.5,
    background: np.ndarray | None = None,
) -> np.ndarray:
    """Draw one face; returns an (size, size, 3) uint8 BGR image. ``background`` (size × size
    × 3 uint8 BGR) replaces the identity's flat background colour."""
    checked = _checked_aus(aus)
    drawing = _face_drawing(identity, tuple(checked[name] for name in AU_NAMES))
    img = np.empty((size, size, 3), np.uint8)
    if background is None:
        img[:] = identity.background_bgr
    elif background.shape != img.shape:
        raise ValueError(f"background is {background.shape}, the image {img.shape}")
    else:
        img[:] = background
    pixels = np.split(_to_pixels(drawing.points, _pose_matrix(pose, size)), drawing.splits)
    for shape, pts in zip(drawing.shapes, pixels, strict=True):
        if shape.closed:
            cv2.fillPoly(img, [pts], shape.color, cv2.LINE_AA, _SHIFT)
        else:
            width = max(1, round(shape.width * size * pose.scale))
            cv2.polylines(img, [pts], False, shape.color, width, cv2.LINE_AA, _SHIFT)
    return _expose(img, lighting, noise_sd, rng)


def face_landmarks(
    identity: Identity, aus: Mapping[str, float], size: int, *, pose: Pose = Pose()
) -> dict[str, np.ndarray]:
    """Named pixel positions (float, x/y) of the drawn face, for layers drawn on top of it.

    Keys: ``left_eye``, ``right_eye`` (centres; left = image left), ``nose_tip``,
    ``mouth_left``, ``mouth_right``, ``upper_lip``, ``lower_lip``, ``chin``, and ``contour``
    (the face outline, N×2).
    """
    parts = _FaceParts(identity, _checked_aus(aus))
    matrix = _pose_matrix(pose, size)
    return {
        name: np.asarray(pts) @ matrix[:, :2].T + matrix[:, 2]
        for name, pts in parts.landmarks().items()
    }


# ----------------------------------------------------------------------------------------------
# Geometry of the face in canonical units (image side = 1, origin = face centre, y down).


@dataclass(frozen=True)
class _Shape:
    points: np.ndarray  # (N, 2) canonical
    color: tuple[int, int, int]
    closed: bool = True
    width: float = 0.0  # line width (canonical) when not closed


@dataclass(frozen=True)
class _Drawing:
    shapes: tuple[_Shape, ...]
    points: np.ndarray  # all shapes' points, concatenated (transformed in one go)
    splits: np.ndarray  # where one shape's points end and the next one's begin


@functools.lru_cache(maxsize=256)
def _face_drawing(identity: Identity, au_values: tuple[float, ...]) -> _Drawing:
    """The shapes of a face; cached because clips repeat the same AUs (before onset, at apex)."""
    shapes = tuple(_FaceParts(identity, dict(zip(AU_NAMES, au_values, strict=True))).shapes())
    points = np.concatenate([shape.points for shape in shapes])
    points.flags.writeable = False
    splits = np.cumsum([len(shape.points) for shape in shapes])[:-1]
    return _Drawing(shapes, points, splits)


class _FaceParts:
    """All shapes of one face, in drawing order, computed from identity and action units."""

    def __init__(self, identity: Identity, aus: dict[str, float]):
        self.idn = identity
        self.au = aus
        skin = np.array(identity.skin_bgr, float)
        self.skin = skin
        self.crease = _bgr(skin * 0.55)
        self.dark = _bgr(skin * 0.3)
        a = aus
        # Face outline: the jaw drop lengthens the lower half.
        self.face_w = 0.33 * identity.face_width
        self.face_top = 0.42 * identity.face_length
        self.face_bottom = 0.39 * identity.face_length + 0.055 * a["AU26"]
        # Eyes.
        self.eye_x = identity.eye_spacing
        self.eye_y = -0.055 + identity.eye_height
        self.eye_w = 0.062 * identity.eye_size
        open_up = 1.0 + 0.95 * a["AU5"] - 0.5 * a["AU7"] - 0.3 * a["AU6"] - 0.25 * a["AU9"]
        open_lo = 1.0 - 0.55 * a["AU6"] - 0.35 * a["AU7"] - 0.3 * a["AU9"] + 0.2 * a["AU5"]
        self.eye_up = 0.026 * identity.eye_size * _clamp(open_up, 0.2, 2.2)
        self.eye_lo = 0.018 * identity.eye_size * _clamp(open_lo, 0.15, 1.4)
        # Mouth.
        self.mouth_y = 0.215 + identity.mouth_height + 0.012 * a["AU26"]
        self.mouth_w = 0.082 * identity.mouth_width

    def landmarks(self) -> dict[str, np.ndarray]:
        m = self._mouth_geometry()
        return {
            "left_eye": np.array([-self.eye_x, self.eye_y]),
            "right_eye": np.array([self.eye_x, self.eye_y]),
            "nose_tip": np.array([0.0, self._nose_y()]),
            "mouth_left": m["left"],
            "mouth_right": m["right"],
            "upper_lip": m["upper_outer_mid"],
            "lower_lip": m["lower_outer_mid"],
            "chin": np.array([0.0, self.face_bottom]),
            "contour": self._face_outline(),
        }

    def shapes(self) -> list[_Shape]:
        idn, skin = self.idn, self.skin
        shapes = [
            _Shape(_ellipse(0.0, -0.11, self.face_w + 0.035, self.face_top * 0.95), idn.hair_bgr),
            _Shape(
                np.array([[-0.13, 0.2], [0.13, 0.2], [0.16, 0.6], [-0.16, 0.6]]),
                _bgr(skin * 0.82),
            ),
        ]
        for side in (-1.0, 1.0):
            ear_x = side * (self.face_w + 0.005)
            shapes.append(_Shape(_ellipse(ear_x, self.eye_y + 0.05, 0.03, 0.06), _bgr(skin * 0.9)))
        shapes.append(_Shape(self._face_outline(), idn.skin_bgr))
        # Hair fringe over the forehead.
        shapes.append(
            _Shape(
                _ellipse(
                    0.0, -self.face_top + 0.02, self.face_w * 0.95, 0.085, math.pi, 2.0 * math.pi
                ),
                idn.hair_bgr,
            )
        )
        shapes += self._forehead_lines()
        for side in (-1.0, 1.0):
            shapes += self._cheek(side)
            shapes += self._eye(side)
            shapes.append(self._brow(side))
        shapes += self._glabella_furrows()
        shapes += self._nose()
        shapes += self._mouth()
        return shapes

    def _face_outline(self) -> np.ndarray:
        t = _grid(0.0, 2.0 * math.pi, 48, endpoint=False)
        ry = np.where(np.sin(t) > 0, self.face_bottom, self.face_top)
        # A slightly narrower jaw than forehead.
        rx = self.face_w * (1.0 - 0.12 * np.clip(np.sin(t), 0.0, 1.0) ** 2)
        return np.stack([rx * np.cos(t), ry * np.sin(t)], axis=1)

    def _forehead_lines(self) -> list[_Shape]:
        a = self.au
        inner, outer = a["AU1"], a["AU2"]
        strength = max(inner, outer)
        if strength < 0.15:
            return []
        color = _bgr(self.skin * (1.0 - 0.45 * strength))
        # Inner raise alone wrinkles the middle of the forehead; outer raise spans it.
        half = 0.06 + 0.1 * outer / max(strength, 1e-6)
        shapes = []
        for k in range(3):
            y = self.eye_y - 0.165 - 0.035 * k
            xs = half * _grid(-1.0, 1.0, 9)
            ys = y + 0.012 * (xs / half) ** 2 - 0.008
            shapes.append(_Shape(np.stack([xs, ys], 1), color, closed=False, width=0.009))
        return shapes

    def _brow(self, side: float) -> _Shape:
        a, idn = self.au, self.idn
        base = self.eye_y - 0.075 - idn.brow_gap - 0.01 * idn.eye_size
        inner_x = side * (self.eye_x - 0.055 - 0.022 * a["AU4"])
        outer_x = side * (self.eye_x + 0.07)
        inner_y = base - 0.075 * a["AU1"] + 0.05 * a["AU4"] + 0.02 * a["AU9"]
        outer_y = base - 0.07 * a["AU2"] + 0.01 * a["AU4"] + 0.012 * a["AU1"]
        arch = 0.014 + 0.03 * a["AU2"] - 0.01 * a["AU4"]
        t = _grid(0.0, 1.0, 9)
        xs = inner_x + (outer_x - inner_x) * t
        ys = inner_y + (outer_y - inner_y) * t - arch * np.sin(math.pi * t)
        half = idn.brow_thickness / 2.0 * (1.0 - 0.4 * t)  # tapering to the outer end
        pts = np.concatenate([np.stack([xs, ys - half], 1), np.stack([xs, ys + half], 1)[::-1]])
        return _Shape(pts, _bgr(np.array(idn.hair_bgr, float) * 0.5))

    def _glabella_furrows(self) -> list[_Shape]:
        s = self.au["AU4"]
        if s < 0.15:
            return []
        color = _bgr(self.skin * (1.0 - 0.55 * s))
        top = self.eye_y - 0.085
        return [
            _Shape(np.array([[x, top], [x * 1.3, top + 0.055]]), color, closed=False, width=0.011)
            for x in (-0.018, 0.018)
        ]

    def _cheek(self, side: float) -> list[_Shape]:
        s = self.au["AU6"]
        if s < 0.1:
            return []
        cx, cy = side * (self.eye_x + 0.015), self.eye_y + 0.1 - 0.02 * s
        blush = _bgr(self.skin * np.array([0.93, 0.9, 1.0]) * (1.0 - 0.06 * s))
        crease = _bgr(self.skin * (1.0 - 0.4 * s))
        xs = self.eye_w * _grid(-1.0, 1.0, 9)
        ys = self.eye_y + self.eye_lo + 0.014 + 0.012 * (1.0 - (xs / self.eye_w) ** 2)
        return [
            _Shape(_ellipse(cx, cy, 0.065, 0.045), blush),
            _Shape(np.stack([side * self.eye_x + xs, ys], 1), crease, closed=False, width=0.008),
        ]

    def _eye(self, side: float) -> list[_Shape]:
        idn = self.idn
        cx, cy = side * self.eye_x, self.eye_y
        w, up, lo = self.eye_w, self.eye_up, self.eye_lo
        t = _grid(0.0, math.pi, 13)
        upper = np.stack([cx + w * np.cos(t), cy - up * np.sin(t)], 1)
        lower = np.stack([cx + w * np.cos(t), cy + lo * np.sin(t)], 1)
        sclera = np.concatenate([upper, lower[::-1][1:-1]])
        iris_r = 0.024 * idn.eye_size
        shapes = [_Shape(sclera, (235, 238, 240))]
        shapes.append(_Shape(self._clipped_disc(cx, cy, iris_r), idn.iris_bgr))
        shapes.append(_Shape(self._clipped_disc(cx, cy, iris_r * 0.45), (20, 20, 20)))
        lid = _bgr(np.array(idn.hair_bgr, float) * 0.5)
        shapes.append(_Shape(upper, lid, closed=False, width=0.013))
        shapes.append(_Shape(lower, self.crease, closed=False, width=0.006))
        return shapes

    def _clipped_disc(self, cx: float, cy: float, r: float) -> np.ndarray:
        """A disc at the eye centre cut by the lids (the visible part of iris or pupil)."""
        t = _grid(0.0, 2.0 * math.pi, 20, endpoint=False)
        x = r * np.cos(t)
        y = r * np.sin(t)
        shape = np.sqrt(np.clip(1.0 - (x / self.eye_w) ** 2, 0.0, 1.0))
        y = np.clip(y, -self.eye_up * shape * 0.97, self.eye_lo * shape * 0.97)
        return np.stack([cx + x, cy + y], 1)

    def _nose_y(self) -> float:
        return 0.1 * self.idn.nose_length - 0.012 * self.au["AU9"]

    def _nose(self) -> list[_Shape]:
        a = self.au
        s9 = a["AU9"]
        tip = self._nose_y()
        shade = _bgr(self.skin * 0.78)
        wing = 0.042 + 0.012 * s9
        shapes = [
            # Bridge sides.
            _Shape(
                np.array([[-0.022, self.eye_y + 0.02], [-0.03, tip - 0.02]]),
                _bgr(self.skin * 0.85),
                closed=False,
                width=0.007,
            ),
            _Shape(
                np.array([[0.022, self.eye_y + 0.02], [0.03, tip - 0.02]]),
                _bgr(self.skin * 0.85),
                closed=False,
                width=0.007,
            ),
            # Nose base (wings and tip).
            _Shape(
                np.array(
                    [
                        [-wing, tip - 0.01],
                        [-0.02, tip + 0.012],
                        [0.0, tip + 0.005],
                        [0.02, tip + 0.012],
                        [wing, tip - 0.01],
                    ]
                ),
                shade,
                closed=False,
                width=0.01,
            ),
        ]
        for side in (-1.0, 1.0):
            shapes.append(
                _Shape(_ellipse(side * 0.019, tip + 0.003, 0.011 + 0.004 * s9, 0.006), self.dark)
            )
        if s9 > 0.15:
            color = _bgr(self.skin * (1.0 - 0.55 * s9))
            for k in range(3):
                y = self.eye_y + 0.025 + 0.022 * k
                xs = 0.045 * _grid(-1.0, 1.0, 7)
                ys = y - 0.012 * (1.0 - (xs / 0.045) ** 2)
                shapes.append(_Shape(np.stack([xs, ys], 1), color, closed=False, width=0.01))
        # Nasolabial folds deepen with smiling, sneering and stretching.
        fold = max(a["AU12"], s9, 0.7 * a["AU6"], 0.6 * a["AU20"])
        if fold > 0.15:
            m = self._mouth_geometry()
            color = _bgr(self.skin * (1.0 - 0.4 * fold))
            for side, corner in ((-1.0, m["left"]), (1.0, m["right"])):
                start = np.array([side * (wing + 0.01), tip - 0.015])
                end = corner + np.array([side * 0.025, -0.005])
                mid = (start + end) / 2.0 + np.array([side * 0.02, 0.0])
                pts = _quad_bezier(start, mid, end, 7)
                shapes.append(_Shape(pts, color, closed=False, width=0.008))
        return shapes

    def _mouth_geometry(self) -> dict[str, np.ndarray]:
        a = self.au
        dx = 0.035 * a["AU12"] + 0.065 * a["AU20"] - 0.028 * a["AU23"] - 0.025 * a["AU26"]
        dy = -0.058 * a["AU12"] + 0.058 * a["AU15"] + 0.012 * a["AU20"] - 0.01 * a["AU9"]
        opening = 0.12 * a["AU26"] + 0.03 * a["AU12"] + 0.025 * a["AU20"] + 0.012 * a["AU9"]
        opening *= 1.0 - 0.9 * a["AU23"]
        upper_thick = 0.017 * (1.0 - 0.75 * a["AU23"]) * (1.0 - 0.3 * a["AU12"])
        lower_thick = 0.022 * (1.0 - 0.7 * a["AU23"]) * (1.0 - 0.3 * a["AU20"])
        y = self.mouth_y
        half = self.mouth_w + dx
        left = np.array([-half, y + dy])
        right = np.array([half, y + dy])
        raise_upper = 0.022 * a["AU9"]  # the sneer lifts the middle of the upper lip
        upper_inner = np.array([0.0, y - opening * 0.35 - raise_upper])
        lower_inner = np.array([0.0, y + opening * 0.65])
        return {
            "left": left,
            "right": right,
            "upper_inner_mid": upper_inner,
            "lower_inner_mid": lower_inner,
            "upper_outer_mid": upper_inner - np.array([0.0, upper_thick]),
            "lower_outer_mid": lower_inner + np.array([0.0, lower_thick]),
            "opening": np.array([opening]),
        }

    def _mouth(self) -> list[_Shape]:
        m = self._mouth_geometry()
        left, right = m["left"], m["right"]

        def curve(mid: np.ndarray) -> np.ndarray:
            control = 2.0 * mid - 0.5 * (left + right)
            return _quad_bezier(left, control, right, 13)

        upper_outer = curve(m["upper_outer_mid"])
        lower_outer = curve(m["lower_outer_mid"])
        upper_inner = curve(m["upper_inner_mid"])
        lower_inner = curve(m["lower_inner_mid"])
        shapes = [_Shape(np.concatenate([upper_outer, lower_outer[::-1]]), self.idn.lip_bgr)]
        opening = float(m["opening"][0])
        if opening > 0.004:
            shapes.append(_Shape(np.concatenate([upper_inner, lower_inner[::-1]]), (35, 30, 50)))
            if self.au["AU12"] > 0.2 and self.au["AU26"] < 0.5:
                teeth_h = min(opening * 0.75, 0.03)
                teeth_low = (
                    upper_inner
                    + np.array([0.0, teeth_h]) * np.sin(_grid(0.0, math.pi, 13))[:, None]
                )
                shapes.append(
                    _Shape(np.concatenate([upper_inner, teeth_low[::-1]]), (225, 232, 236))
                )
        line = (upper_inner + lower_inner) / 2.0 if opening <= 0.004 else upper_inner
        shapes.append(_Shape(line, _bgr(np.array(self.idn.lip_bgr, float) * 0.45), False, 0.009))
        return shapes


# ----------------------------------------------------------------------------------------------
# Small geometric helpers used only by the renderer.


def _checked_aus(aus: Mapping[str, float]) -> dict[str, float]:
    unknown = set(aus) - set(AU_NAMES)
    if unknown:
        raise ValueError(f"unknown action units {sorted(unknown)}; known: {', '.join(AU_NAMES)}")
    return {name: _clamp(aus.get(name, 0.0), 0.0, 1.0) for name in AU_NAMES}


def _bgr(values: np.ndarray | tuple[float, ...]) -> tuple[int, int, int]:
    b, g, r = (int(_clamp(round(float(v)), 0, 255)) for v in values)
    return (b, g, r)


def _clamp(value: float, lo: float, hi: float) -> float:
    return min(max(float(value), lo), hi)


@functools.lru_cache(maxsize=64)
def _grid(start: float, stop: float, n: int, endpoint: bool = True) -> np.ndarray:
    grid = np.linspace(start, stop, n, endpoint=endpoint)
    grid.flags.writeable = False
    return grid


def _smooth(x: np.ndarray) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(math.pi * x)


def _ellipse(
    cx: float, cy: float, rx: float, ry: float, start: float = 0.0, stop: float = 2.0 * math.pi
) -> np.ndarray:
    """Points on an ellipse arc; angles grow clockwise on screen (y points down)."""
    full = math.isclose(stop - start, 2.0 * math.pi)
    t = _grid(start, stop, 28, endpoint=not full)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def _quad_bezier(p0: np.ndarray, c: np.ndarray, p1: np.ndarray, n: int) -> np.ndarray:
    t = _grid(0.0, 1.0, n)[:, None]
    return (1.0 - t) ** 2 * p0 + 2.0 * (1.0 - t) * t * c + t**2 * p1


def _pose_matrix(pose: Pose, size: int) -> np.ndarray:
    """2×3 affine map from canonical face units to pixel coordinates."""
    angle = math.radians(pose.angle_deg)
    s = size * pose.scale
    cos, sin = math.cos(angle) * s, math.sin(angle) * s
    return np.array(
        [
            [cos, -sin, size * (0.5 + pose.dx)],
            [sin, cos, size * (0.5 + pose.dy)],
        ]
    )


def _to_pixels(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    mapped = points @ matrix[:, :2].T + matrix[:, 2] - 0.5  # pixel centres sit at integers
    return np.round(mapped * _SCALE).astype(np.int32)


def _expose(
    img: np.ndarray, lighting: Lighting, noise_sd: float, rng: np.random.Generator
) -> np.ndarray:
    out = img.astype(np.float32)
    out *= _light_field(lighting, img.shape[0], img.shape[1])
    if noise_sd > 0:
        # Sensor noise: the difference of two uniform bytes (triangular, sd 104.1) is close
        # enough to Gaussian and an order of magnitude cheaper to draw than normals.
        raw = np.frombuffer(rng.bytes(2 * img.size), np.uint8).reshape(2, *img.shape)
        noise = raw[0].astype(np.float32)
        noise -= raw[1]
        noise *= np.float32(noise_sd / 104.1)
        out += noise
    out += np.float32(0.5)
    np.clip(out, 0.0, 255.0, out=out)
    return out.astype(np.uint8)


@functools.lru_cache(maxsize=32)
def _light_field(lighting: Lighting, size_y: int, size_x: int) -> np.ndarray:
    angle = math.radians(lighting.gradient_angle_deg)
    xs = np.linspace(-1.0, 1.0, size_x)
    ys = np.linspace(-1.0, 1.0, size_y)
    ramp = xs[None, :] * math.cos(angle) + ys[:, None] * math.sin(angle)
    field = (lighting.gain * (1.0 + lighting.gradient_strength * ramp)).astype(np.float32)
    field = field[:, :, None]
    field.flags.writeable = False
    return field
