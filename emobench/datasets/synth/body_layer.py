"""A child's upper body around the shared face renderer's face: one webcam-like scene frame.

The scene (``FRAME_SIZE`` square) shows a room background, the torso with shoulders and
neck, both arms and hands, and the face of ``face_renderer`` at ``FACE_SCALE`` of the frame
(a face about 90 px wide and 110 px tall at 224 px, inside the range where MediaPipe's face
landmarker finds drawn faces). What the body does lives in a :class:`Posture`:

============  ========  ==================================================================
lean          −1..1     towards the camera (+: the head grows and drops, the torso grows a
                        little) or away from it (−)
slump         −1..1     collapsed (+: shoulders drop and round inwards, the head sinks) or
                        upright (−)
shrug         0..1      shoulders raised towards the ears, the head sinks a little
arm_raise     0..1      both arms raised: forearms up in front of the shoulders at 0.5, the
                        hands up beside the head at 1
hand_to_face  0..1      one hand (``hand_side``: −1 image left, +1 image right) travels from
                        below the frame to the jaw and lower cheek, over the face
dx, bob       fraction  the whole figure's sway sideways and bounce upwards (of the frame)
============  ========  ==================================================================

Who the child is beyond the face lives in an :class:`Outfit` (shirt colour, pattern, sleeves,
build). Drawing order: background, neck, the face (``render_face`` without lighting or
noise), the torso and raised arms — which never paint inside the face outline — then the
hand that goes to the face (the only thing drawn over the face), and last
lighting and sensor noise over the whole frame, so the face's pixels are exactly the
renderer's unless a hand covers them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist

import cv2
import numpy as np

from emobench.datasets.synth.face_renderer import (
    Identity,
    Lighting,
    Pose,
    face_landmarks,
    render_face,
)

FRAME_SIZE = 224
FACE_SCALE = 0.6  # the face renderer's scale: its canonical unit is this share of the frame
HEAD_Y = 0.36  # face centre, share of the frame height from the top
NECK_DROP = 0.6  # neck base below the face centre, in face units
SHOULDER_HALF = 0.66  # half the shoulder span, in face units
UPPER_ARM = 0.5  # in face units
# Raising the arms, as seen by a camera in front: (elbow, wrist) offsets from the shoulder
# joint in face units (x outwards, y down) at arm_raise 0, 0.5 and 1 — hanging, fists up in
# front of the shoulders (forearms raised towards the camera), hands up beside the head —
# interpolated in between, so that a half-raised arm stays inside a head-and-shoulders frame.
ARM_KEYS: tuple[tuple[tuple[float, float], tuple[float, float]], ...] = (
    ((0.03, 0.5), (0.05, 0.95)),
    ((0.12, 0.35), (0.05, -0.05)),
    ((0.22, -0.3), (0.1, -0.8)),
)
_SHIFT = 4
_SCALE = float(1 << _SHIFT)

SHIRT_COLOURS: tuple[tuple[int, int, int], ...] = (  # BGR: children's clothing
    (200, 80, 40),
    (40, 40, 200),
    (60, 170, 60),
    (40, 190, 230),
    (150, 60, 150),
    (200, 200, 200),
    (60, 60, 60),
    (180, 120, 60),
    (90, 140, 240),
    (120, 200, 180),
)
WALL_COLOURS: tuple[tuple[int, int, int], ...] = (  # BGR: room walls
    (200, 215, 225),
    (170, 200, 220),
    (210, 200, 170),
    (180, 210, 190),
    (150, 160, 175),
    (215, 190, 200),
)
PATTERNS: tuple[str, ...] = ("plain", "stripes", "print")


@dataclass(frozen=True)
class Posture:
    """What the body does in one frame (see the module docstring's table)."""

    lean: float = 0.0
    slump: float = 0.0
    shrug: float = 0.0
    arm_raise: float = 0.0
    hand_to_face: float = 0.0
    hand_side: float = 1.0
    dx: float = 0.0
    bob: float = 0.0


@dataclass(frozen=True)
class Outfit:
    """A child's clothes and build, the same in all their clips."""

    shirt_bgr: tuple[int, int, int] = (200, 80, 40)
    trim_bgr: tuple[int, int, int] = (230, 230, 230)
    pattern: str = "plain"
    long_sleeves: bool = False
    build: float = 1.0  # shoulder width factor

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Outfit:
        shirt = np.array(SHIRT_COLOURS[int(rng.integers(len(SHIRT_COLOURS)))], float)
        shirt = shirt + rng.normal(0.0, 10.0, 3)
        trim = np.array(SHIRT_COLOURS[int(rng.integers(len(SHIRT_COLOURS)))], float)
        return cls(
            shirt_bgr=_bgr(shirt),
            trim_bgr=_bgr(0.5 * trim + 0.5 * np.array([235.0, 235.0, 235.0])),
            pattern=PATTERNS[int(rng.integers(len(PATTERNS)))],
            long_sleeves=bool(rng.uniform() < 0.5),
            build=float(rng.uniform(0.92, 1.08)),
        )


@dataclass(frozen=True)
class BodyGeometry:
    """Pixel positions of one frame's figure (x, y floats) and the face renderer's pose."""

    face_pose: Pose
    head: np.ndarray  # face centre
    neck_base: np.ndarray
    shoulders: tuple[np.ndarray, np.ndarray]  # image left, image right
    neck_sides: tuple[np.ndarray, np.ndarray]
    arms: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]  # (joint, elbow, wrist) per side
    hand: tuple[np.ndarray, np.ndarray, float] | None  # (elbow, palm centre, side) to the face


def body_geometry(
    posture: Posture, head: Pose = Pose(), size: int = FRAME_SIZE, build: float = 1.0
) -> BodyGeometry:
    """Where every part of the figure is for ``posture``; ``head`` is head-pose jitter on top
    (translation in fractions of the frame, roll, relative scale)."""
    lean, slump, shrug = posture.lean, posture.slump, posture.shrug
    u0 = FACE_SCALE * size
    body_scale = 1.0 + 0.04 * lean
    head_scale = 1.0 + 0.10 * lean
    base = np.array([size * (0.5 + posture.dx), size * (HEAD_Y + posture.bob) + NECK_DROP * u0])
    centre = base + np.array(
        [head.dx * size, -NECK_DROP * u0 + (0.05 * lean + 0.07 * slump + 0.03 * shrug) * u0]
    )
    centre[1] += head.dy * size
    face_pose = Pose(
        dx=float(centre[0] / size - 0.5),
        dy=float(centre[1] / size - 0.5),
        angle_deg=head.angle_deg,
        scale=FACE_SCALE * head_scale * head.scale,
    )
    half = (SHOULDER_HALF * build * body_scale - 0.05 * slump) * u0
    tip_y = base[1] + (0.10 + 0.07 * slump - 0.16 * shrug) * u0 * body_scale
    shoulders = (np.array([base[0] - half, tip_y]), np.array([base[0] + half, tip_y]))
    neck_y = base[1] - (0.04 + 0.05 * shrug - 0.02 * slump) * u0
    neck_sides = (
        np.array([base[0] - 0.15 * u0, neck_y]),
        np.array([base[0] + 0.15 * u0, neck_y]),
    )
    hand_strength = _smooth(posture.hand_to_face)
    arms = []
    hand = None
    for side, shoulder in zip((-1.0, 1.0), shoulders, strict=True):
        joint = shoulder + np.array([-side * 0.07 * u0, 0.05 * u0])
        a = min(max(float(posture.arm_raise), 0.0), 1.0)
        k, f = (0, 2.0 * a) if a < 0.5 else (1, 2.0 * a - 1.0)
        f = _smooth(f)
        mirror = np.array([side, 1.0]) * u0
        (e0, w0), (e1, w1) = ARM_KEYS[k], ARM_KEYS[k + 1]
        elbow = joint + mirror * ((1 - f) * np.array(e0) + f * np.array(e1))
        wrist = joint + mirror * ((1 - f) * np.array(w0) + f * np.array(w1))
        if side == posture.hand_side and hand_strength > 0.0 and posture.hand_to_face >= a:
            unit = face_pose.scale * size
            rest_elbow = joint + np.array([0.0, UPPER_ARM * u0])
            face_elbow = np.array([base[0] + side * 0.35 * u0, base[1] + 0.45 * u0])
            elbow_h = rest_elbow + hand_strength * (face_elbow - rest_elbow)
            target = centre + np.array([side * 0.19 * unit, 0.36 * unit])
            rest = face_elbow + np.array([0.0, 0.5 * u0])
            hand = (elbow_h, rest + hand_strength * (target - rest), side)
            continue
        arms.append((joint, elbow, wrist))
    return BodyGeometry(face_pose, centre, base, shoulders, neck_sides, tuple(arms), hand)


def render_scene(
    identity: Identity,
    outfit: Outfit,
    aus: Mapping[str, float],
    posture: Posture,
    background: np.ndarray,
    rng: np.random.Generator,
    *,
    head: Pose = Pose(),
    lighting: Lighting = Lighting(),
    noise_sd: float = 2.5,
) -> np.ndarray:
    """One scene frame (BGR uint8, the background's square size): the child in ``posture``
    with the face showing ``aus``."""
    size = background.shape[0]
    if background.shape != (size, size, 3):
        raise ValueError(f"background must be square BGR, got {background.shape}")
    g = body_geometry(posture, head, size, outfit.build)
    u0 = FACE_SCALE * size
    skin = np.array(identity.skin_bgr, float)
    img = background.copy()
    unit = g.face_pose.scale * size
    neck = np.array(
        [
            g.head + [-0.12 * unit, 0.25 * unit],
            g.head + [0.12 * unit, 0.25 * unit],
            g.neck_base + [0.15 * u0, 0.06 * u0],
            g.neck_base + [-0.15 * u0, 0.06 * u0],
        ]
    )
    _fill(img, neck, _bgr(skin * 0.82))
    faced = render_face(
        identity,
        aus,
        size,
        rng,
        pose=g.face_pose,
        lighting=Lighting(),
        noise_sd=0.0,
        background=img,
    )
    scene = faced.copy()
    _draw_torso(scene, g, outfit, u0)
    if posture.arm_raise > 0.02:  # lowered arms lie inside the torso's outline
        for joint, elbow, wrist in g.arms:
            _draw_arm(scene, joint, elbow, wrist, outfit, skin, u0)
    contour = face_landmarks(identity, aus, size, pose=g.face_pose)["contour"]
    face = np.zeros((size, size), np.uint8)
    cv2.fillPoly(face, [_pixels(contour)], 1, cv2.LINE_8, _SHIFT)
    np.copyto(scene, faced, where=face[:, :, None].astype(bool))
    if g.hand is not None:
        elbow, palm, side = g.hand
        _draw_hand_to_face(scene, elbow, palm, side, outfit, skin, u0, unit)
    return _expose(scene, lighting, noise_sd, rng)


def room_background(rng: np.random.Generator, size: int = FRAME_SIZE) -> np.ndarray:
    """A room behind the child (BGR uint8): a wall with a light gradient, a sofa back, a
    picture or shelf, sometimes a window."""
    wall = np.array(WALL_COLOURS[int(rng.integers(len(WALL_COLOURS)))], float)
    wall = wall + rng.normal(0.0, 12.0, 3)
    ramp = np.linspace(0.0, 1.0, size)[:, None, None]
    top, bottom = wall * rng.uniform(0.95, 1.1), wall * rng.uniform(0.75, 0.95)
    canvas = np.clip((1 - ramp) * top + ramp * bottom, 0, 255)
    canvas = np.ascontiguousarray(np.broadcast_to(canvas, (size, size, 3))).astype(np.uint8)
    if rng.uniform() < 0.5:  # a window
        x, y = int(rng.integers(0, size // 2)), int(rng.integers(0, size // 4))
        w, h = int(rng.integers(size // 5, size // 3)), int(rng.integers(size // 4, size // 2))
        cv2.rectangle(canvas, (x, y), (x + w, y + h), _bgr(np.minimum(wall * 1.25, 250)), -1)
        cv2.rectangle(canvas, (x, y), (x + w, y + h), _bgr(wall * 0.6), max(2, size // 80))
    for _ in range(int(rng.integers(1, 4))):  # pictures, shelves, toys
        colour = _bgr(rng.uniform(40, 230, 3))
        x, y = int(rng.integers(0, size)), int(rng.integers(0, size // 2))
        w, h = int(rng.integers(size // 12, size // 4)), int(rng.integers(size // 16, size // 5))
        cv2.rectangle(canvas, (x, y), (x + w, y + h), colour, -1)
    sofa = np.array(SHIRT_COLOURS[int(rng.integers(len(SHIRT_COLOURS)))], float) * 0.6 + 40
    top_y = int(size * rng.uniform(0.55, 0.7))
    cv2.rectangle(canvas, (-10, top_y), (size + 10, size + 10), _bgr(sofa), -1)
    cv2.line(canvas, (0, top_y), (size, top_y), _bgr(sofa * 0.7), max(2, size // 60))
    return cv2.GaussianBlur(canvas, (0, 0), 1.0)


# ---- drawing --------------------------------------------------------------------------------


def _draw_arm(img, joint, elbow, wrist, outfit: Outfit, skin, u0: float) -> None:
    sleeve = outfit.shirt_bgr
    forearm = sleeve if outfit.long_sleeves else _bgr(skin * 0.95)
    edge = _bgr(np.array(sleeve, float) * 0.6)
    _line(img, joint, elbow, edge, 0.16 * u0 + 2)  # outlines, seen against the shirt
    _line(img, elbow, wrist, _bgr(np.array(forearm, float) * 0.7), 0.12 * u0 + 2)
    _line(img, joint, elbow, sleeve, 0.16 * u0)
    _line(img, elbow, wrist, forearm, 0.12 * u0)
    direction = wrist - elbow
    direction = direction / max(float(np.hypot(*direction)), 1e-6)
    palm = wrist + direction * 0.06 * u0
    _fill(img, _ellipse(palm, 0.075 * u0, 0.09 * u0, math.atan2(*direction[::-1])), _bgr(skin))


def _draw_hand_to_face(img, elbow, palm, side, outfit: Outfit, skin, u0, unit) -> None:
    """A forearm from ``elbow`` and a hand whose palm rests at ``palm``, fingers up the cheek."""
    wrist = palm + np.array([side * 0.03 * unit, 0.11 * unit])
    forearm = outfit.shirt_bgr if outfit.long_sleeves else _bgr(skin * 0.95)
    _line(img, elbow, wrist, forearm, 0.12 * u0)
    _fill(img, _ellipse(palm, 0.08 * unit, 0.1 * unit, math.radians(-side * 15.0)), _bgr(skin))
    for k in range(4):
        start = palm + np.array([side * (0.045 - 0.03 * k) * unit, -0.05 * unit])
        end = start + np.array([side * 0.01 * unit, -0.09 * unit])
        _line(img, start, end, _bgr(skin * (0.97 - 0.03 * k)), 0.03 * unit)
    edge = palm + np.array([-side * 0.08 * unit, 0.0])
    _line(img, edge + [0.0, -0.06 * unit], edge + [0.0, 0.06 * unit], _bgr(skin * 0.8), 1.5)


def _draw_torso(img: np.ndarray, g: BodyGeometry, outfit: Outfit, u0: float) -> None:
    size = img.shape[0]
    (sl, sr), (nl, nr) = g.shoulders, g.neck_sides
    bottom = size + 0.1 * u0
    left = np.concatenate(
        [
            [[sl[0] - 0.02 * u0, bottom], [sl[0] - 0.06 * u0, sl[1] + 0.14 * u0]],
            _bezier(sl, np.array([nl[0] - 0.15 * u0, nl[1]]), nl, 8),
        ]
    )
    collar = _bezier(nl, g.neck_base + [0.0, 0.12 * u0], nr, 9)[1:-1]
    right = np.concatenate(
        [
            _bezier(nr, np.array([nr[0] + 0.15 * u0, nr[1]]), sr, 8),
            [[sr[0] + 0.06 * u0, sr[1] + 0.14 * u0], [sr[0] + 0.02 * u0, bottom]],
        ]
    )
    outline = np.concatenate([left, collar, right])
    top = int(max(0, math.floor(outline[:, 1].min()) - 1))
    if top >= size:
        return
    roi = img[top:]
    shifted = outline - [0.0, top]
    if outfit.pattern == "plain":
        _fill(roi, shifted, outfit.shirt_bgr)
    else:
        mask = np.zeros(roi.shape[:2], np.uint8)
        cv2.fillPoly(mask, [_pixels(shifted)], 255, cv2.LINE_AA, _SHIFT)
        shirt = np.empty_like(roi)
        shirt[:] = outfit.shirt_bgr
        if outfit.pattern == "stripes":
            step = max(4, round(0.09 * u0))
            for y in range(int(g.neck_base[1]) - top, size - top, 2 * step):
                cv2.rectangle(shirt, (0, y), (size, y + step - 1), outfit.trim_bgr, -1)
        else:
            _fill(shirt, _star(g.neck_base + [0.0, 0.4 * u0 - top], 0.16 * u0), outfit.trim_bgr)
        alpha = mask[:, :, None].astype(np.float32) * np.float32(1.0 / 255.0)
        blended = roi * (1.0 - alpha) + shirt * alpha + np.float32(0.5)
        roi[:] = blended.astype(np.uint8)
    fold = _bezier(
        g.neck_base + [-0.3 * u0, 0.35 * u0],
        g.neck_base + [0.0, 0.42 * u0],
        g.neck_base + [0.3 * u0, 0.35 * u0],
        7,
    )
    shade = _bgr(np.array(outfit.shirt_bgr, float) * 0.75)
    width = max(1, round(0.02 * u0))
    cv2.polylines(img, [_pixels(fold)], False, shade, width, cv2.LINE_AA, _SHIFT)
    neckline = _bezier(nl, g.neck_base + [0.0, 0.12 * u0], nr, 9)
    width = max(1, round(0.035 * u0))
    cv2.polylines(img, [_pixels(neckline)], False, outfit.trim_bgr, width, cv2.LINE_AA, _SHIFT)


def _expose(img: np.ndarray, lighting: Lighting, noise_sd: float, rng) -> np.ndarray:
    """Lighting gain and gradient over the whole frame, then sensor noise, so body and face
    share one camera. Cheap per frame: OpenCV's saturating uint8 arithmetic, and Gaussian
    noise rounded to whole grey levels, looked up from one random byte per value."""
    lit = cv2.multiply(img, _light_field(lighting, *img.shape), dtype=cv2.CV_8U)
    if noise_sd <= 0:
        return lit
    codes = np.frombuffer(rng.bytes(img.size), np.uint8).reshape(img.shape)
    up, down = _noise_tables(float(noise_sd))
    # each value gets only a rise or only a fall, so the two saturating steps clip exactly
    return cv2.subtract(cv2.add(lit, cv2.LUT(codes, up)), cv2.LUT(codes, down))


@functools.lru_cache(maxsize=16)
def _light_field(lighting: Lighting, rows: int, cols: int, channels: int) -> np.ndarray:
    """The lighting's gain per pixel and channel (float32)."""
    angle = math.radians(lighting.gradient_angle_deg)
    ramp = np.linspace(-1.0, 1.0, cols)[None, :] * math.cos(angle)
    ramp = ramp + np.linspace(-1.0, 1.0, rows)[:, None] * math.sin(angle)
    field = (lighting.gain * (1.0 + lighting.gradient_strength * ramp)).astype(np.float32)
    field = np.ascontiguousarray(np.repeat(field[:, :, None], channels, axis=2))
    field.flags.writeable = False
    return field


@functools.lru_cache(maxsize=4)
def _noise_tables(sd: float) -> tuple[np.ndarray, np.ndarray]:
    """256 Gaussian quantiles times ``sd``, rounded, split into rises and falls (uint8): a
    uniform byte indexes one noise value."""
    normal = NormalDist(0.0, sd)
    table = np.array([round(normal.inv_cdf((k + 0.5) / 256.0)) for k in range(256)])
    up = np.clip(table, 0, 255).astype(np.uint8)
    down = np.clip(-table, 0, 255).astype(np.uint8)
    return up, down


def _line(img, p0, p1, colour, width: float) -> None:
    cv2.line(img, _point(p0), _point(p1), colour, max(1, round(width)), cv2.LINE_AA, _SHIFT)


def _fill(img, points: np.ndarray, colour) -> None:
    cv2.fillPoly(img, [_pixels(points)], colour, cv2.LINE_AA, _SHIFT)


def _pixels(points: np.ndarray) -> np.ndarray:
    return np.round((np.asarray(points, float) - 0.5) * _SCALE).astype(np.int32)


def _point(p) -> tuple[int, int]:
    x, y = _pixels(np.asarray(p, float)[None, :])[0]
    return int(x), int(y)


def _ellipse(centre, rx: float, ry: float, angle: float, n: int = 20) -> np.ndarray:
    t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    c, s = math.cos(angle), math.sin(angle)
    return np.stack([centre[0] + c * x - s * y, centre[1] + s * x + c * y], 1)


def _star(centre, radius: float) -> np.ndarray:
    t = np.linspace(-math.pi / 2, 1.5 * math.pi, 10, endpoint=False)
    r = np.where(np.arange(10) % 2 == 0, radius, radius * 0.45)
    return np.stack([centre[0] + r * np.cos(t), centre[1] + r * np.sin(t)], 1)


def _bezier(p0, c, p1, n: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) ** 2 * np.asarray(p0) + 2 * (1 - t) * t * np.asarray(c) + t**2 * np.asarray(p1)


def _smooth(x: float) -> float:
    x = min(max(float(x), 0.0), 1.0)
    return 0.5 - 0.5 * math.cos(math.pi * x)


def _bgr(values) -> tuple[int, int, int]:
    b, g, r = (int(min(max(round(float(v)), 0), 255)) for v in values)
    return (b, g, r)
