"""Face masks drawn on a frame from its 478 MediaPipe face landmarks: geometry and rendering.

Two kinds of mask outline (``mask_polygon``):

- ``kegkeroglou``: the polygon of the code behind Kegkeroglou, Filntisis & Maragos's masked
  EmoReact study (``nkegke/medical-face-mask-applier``, ``mask.py``). Per frame, the left
  start is whichever of eight cheek landmarks lies furthest left (least x) and the right start
  whichever of eight lies furthest right, so that the outline follows head yaw; each start
  owns a jaw path down to the chin (152); the polygon is the left path, the right path back up
  (without the chin twice) and the nose dorsum point 195 as its apex. It is drawn as that code
  draws it — dots at the path points, a white 4 px outline, then a flat light-blue fill
  (BGR (255, 200, 0) in the original, RGB (0, 200, 255) here) with no shading — so that a
  model sees what the paper's models saw;
- the template-free ``surgical``, ``n95`` and ``cloth`` masks: the under-eye cheek line over
  the nose bridge above and MediaPipe's face-oval arc below; at full coverage also the convex
  hull of the nose, because on a turned head the nose tip sticks out past the cheek line.

Coverage levels (the MaskedFace-Net incorrect-wearing classes) clip either outline with a
half-plane parallel to the eye line (landmarks 33 → 263), 2 % of the face height below a
reference landmark: ``nose_exposed`` below the subnasale (2; mouth and chin covered),
``chin_only`` below the lower lip (17; only the chin covered); ``full`` is not clipped. A mask
cannot hang below the chin this way, and at large yaw the far side of the nose stays partly
visible — acceptable for an occlusion study.

Rendering (``draw_mask``) draws a look from the random generator it is given (colour, and for
cloth a check or stripe texture), shades it for its style (surgical pleats and ear loops, an
N95's centre seam and cup shading, top-lit shading for all three), matches its brightness to
the face it covers (MaskTheFace's gain on HSV value, ``1 + (face V − mask V) / 255``) and blends
it in with a blurred alpha so that the edge is anti-aliased. Work is confined to the mask's
bounding box, so the cost follows the face's size, not the frame's. The covered share it
returns is the part of the face area (the convex hull of the landmarks) the mask hides.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import cv2
import numpy as np

from emobench.errors import EmobenchError

MASK_STYLES = ("surgical", "n95", "cloth", "kegkeroglou")
COVERAGES = ("full", "nose_exposed", "chin_only")

# nkegke/medical-face-mask-applier mask.py: start candidates and the jaw path of each.
KEGKE_LEFT_STARTS = (234, 227, 116, 117, 118, 119, 47, 217)
KEGKE_RIGHT_STARTS = (454, 447, 345, 346, 347, 348, 277, 437)
KEGKE_LEFT_PATHS = (
    (234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152),
    (227, 137, 177, 215, 138, 135, 169, 170, 140, 171, 152),
    (116, 123, 147, 192, 210, 140, 171, 152),
    (117, 187, 214, 210, 211, 171, 152),
    (118, 50, 207, 212, 202, 32, 171, 152),
    (119, 101, 216, 57, 204, 32, 171, 152),
    (47, 142, 203, 92, 76, 106, 194, 208, 152),
    (217, 49, 165, 40, 91, 182, 208, 152),
)
KEGKE_RIGHT_PATHS = (
    (454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152),
    (447, 366, 401, 435, 367, 364, 394, 395, 369, 396, 152),
    (345, 352, 376, 416, 430, 369, 396, 152),
    (346, 411, 434, 430, 431, 396, 152),
    (347, 280, 427, 432, 422, 262, 396, 152),
    (348, 330, 436, 287, 424, 262, 396, 152),
    (277, 371, 423, 322, 306, 335, 418, 428, 152),
    (437, 279, 391, 270, 415, 406, 428, 152),
)
KEGKE_APEX = 195
KEGKE_FILL = (0, 200, 255)  # RGB of the original's BGR (255, 200, 0)
KEGKE_OUTLINE = (255, 255, 255)
KEGKE_DOTS = (0, 255, 255)  # RGB of the original's BGR (255, 255, 0)

CHEEK_LINE = (234, 227, 116, 117, 118, 119, 47, 197, 277, 348, 347, 346, 345, 447, 454)
JAW_ARC = (454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152)
JAW_ARC += (148, 176, 149, 150, 136, 172, 58, 132, 93, 234)
NOSE_POINTS = (197, 195, 5, 4, 1, 19, 94, 2, 98, 327, 64, 294, 48, 278, 129, 358, 102, 331)
NOSE_POINTS += (49, 279, 209, 429, 198, 420, 114, 343, 217, 437)
EYE_LINE = (33, 263)
FOREHEAD, CHIN = 10, 152
EARS = (127, 356)  # where surgical ear loops go
SEAM_LINE = (195, 1, 152)  # an N95's centre seam follows the face's mid-line
COVERAGE_REFERENCE = {"nose_exposed": 2, "chin_only": 17}
COVERAGE_OFFSET = 0.02  # share of the face height below the reference landmark
EDGE_SIGMA = 0.8  # px, blur of the mask's alpha
_UNION_SIDE = 400  # grid cells along the longer side when tracing outline ∪ nose hull


# ----------------------------------------------------------------------------------------------
# Geometry.


@dataclass(frozen=True)
class FaceAxes:
    """The face's own directions: ``across`` along the eye line (33 → 263), ``down`` at right
    angles to it towards the chin, and the face height (forehead 10 to chin 152) along
    ``down``."""

    across: np.ndarray
    down: np.ndarray
    height: float


def _check_points(points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] < 468:
        raise EmobenchError(
            f"masks need the (478, 2) face landmarks of MediaPipe, got an array of {points.shape}"
        )
    return points


def _check_style(style: str, coverage: str) -> None:
    if style not in MASK_STYLES:
        raise EmobenchError(f"mask style must be one of {', '.join(MASK_STYLES)}; got {style!r}")
    if coverage not in COVERAGES:
        raise EmobenchError(
            f"mask coverage must be one of {', '.join(COVERAGES)}; got {coverage!r}"
        )


def face_axes(points: np.ndarray) -> FaceAxes:
    """The eye-line frame of a face (see :class:`FaceAxes`)."""
    points = _check_points(points)
    eye = points[EYE_LINE[1]] - points[EYE_LINE[0]]
    across = eye / max(float(np.linalg.norm(eye)), 1e-6)
    down = np.array([-across[1], across[0]], dtype=np.float32)
    if float((points[CHIN] - points[EYE_LINE[0]]) @ down) < 0:
        down = -down
    height = abs(float((points[CHIN] - points[FOREHEAD]) @ down))
    return FaceAxes(across.astype(np.float32), down, max(height, 1.0))


def clip_below(polygon: np.ndarray, point: np.ndarray, down: np.ndarray) -> np.ndarray:
    """The part of ``polygon`` on the ``down`` side of the line through ``point`` at right
    angles to ``down`` (one Sutherland–Hodgman pass); empty ``(0, 2)`` when nothing is left."""
    side = (polygon - point) @ down
    kept: list[np.ndarray] = []
    n = len(polygon)
    for i in range(n):
        j = (i + 1) % n
        if side[i] >= 0:
            kept.append(polygon[i])
        if (side[i] >= 0) != (side[j] >= 0):
            kept.append(polygon[i] + (polygon[j] - polygon[i]) * (side[i] / (side[i] - side[j])))
    if len(kept) < 3:
        return np.zeros((0, 2), dtype=np.float32)
    return np.asarray(kept, dtype=np.float32)


def kegkeroglou_path(points: np.ndarray) -> tuple[int, ...]:
    """The landmark ids of the paper code's polygon for this face: the jaw path of the
    leftmost left start, the right one's back up, then the apex 195."""
    points = _check_points(points)
    left = int(np.argmin(points[list(KEGKE_LEFT_STARTS), 0]))
    right = int(np.argmax(points[list(KEGKE_RIGHT_STARTS), 0]))
    return KEGKE_LEFT_PATHS[left] + KEGKE_RIGHT_PATHS[right][:-1][::-1] + (KEGKE_APEX,)


def _union_with_hull(polygon: np.ndarray, hull: np.ndarray) -> np.ndarray:
    """The outline of ``polygon`` ∪ the convex ``hull``: ``polygon`` itself when the hull lies
    inside it (a face seen from the front), else traced on a grid finer than a pixel."""
    contour = polygon.reshape(-1, 1, 2)
    if all(cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0 for x, y in hull):
        return polygon
    low = np.floor(np.minimum(polygon.min(axis=0), hull.min(axis=0))) - 1
    high = np.ceil(np.maximum(polygon.max(axis=0), hull.max(axis=0))) + 1
    scale = float(np.clip(_UNION_SIDE / max(float((high - low).max()), 1.0), 1.0, 4.0))
    w, h = ((high - low) * scale).astype(int) + 1
    canvas = np.zeros((h, w), dtype=np.uint8)
    cv2.fillPoly(canvas, [np.round((polygon - low) * scale).astype(np.int32)], 255)
    cv2.fillConvexPoly(canvas, np.round((hull - low) * scale).astype(np.int32), 255)
    contours, _ = cv2.findContours(canvas, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    outline = max(contours, key=cv2.contourArea)
    outline = cv2.approxPolyDP(outline, 0.5, True)[:, 0, :]
    return (outline.astype(np.float32) / scale + low).astype(np.float32)


def mask_polygon(points: np.ndarray, style: str, coverage: str) -> np.ndarray:
    """The mask's outline ``(K, 2)`` in pixels for a face's landmarks, a style and a
    coverage level (see the module docstring); ``(0, 2)`` when the clip leaves nothing."""
    points = _check_points(points)
    _check_style(style, coverage)
    if style == "kegkeroglou":
        polygon = points[list(kegkeroglou_path(points))]
    else:
        polygon = points[list(CHEEK_LINE + JAW_ARC[1:-1])]
        if coverage == "full":
            hull = cv2.convexHull(points[list(NOSE_POINTS)])[:, 0, :]
            polygon = _union_with_hull(polygon, hull)
    if coverage == "full":
        return polygon.astype(np.float32)
    axes = face_axes(points)
    line = points[COVERAGE_REFERENCE[coverage]] + COVERAGE_OFFSET * axes.height * axes.down
    return clip_below(polygon.astype(np.float32), line, axes.down)


# ----------------------------------------------------------------------------------------------
# Looks.


@dataclass(frozen=True)
class MaskLook:
    """What one mask looks like, drawn once from a random generator and kept for every frame
    of a clip: its colour (RGB 0..255), a second colour and pattern for cloth (``check``,
    ``stripes_across``, ``stripes_down`` or ``plain``), the pattern's period as a share of the
    face height, and the colour of surgical ear loops."""

    style: str
    colour: tuple[float, float, float]
    second: tuple[float, float, float] = (0.0, 0.0, 0.0)
    pattern: str = "plain"
    period: float = 0.1
    loops: tuple[float, float, float] = (240.0, 240.0, 240.0)


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return (255.0 * r, 255.0 * g, 255.0 * b)


def mask_look(style: str, rng: np.random.Generator) -> MaskLook:
    """A look for ``style`` drawn from ``rng``: surgical in light blues (most) or greens, N95
    in warm off-whites, cloth in any colour with a check or stripe texture; ``kegkeroglou`` is
    always the paper's flat fill."""
    _check_style(style, "full")
    if style == "kegkeroglou":
        return MaskLook(style, tuple(float(c) for c in KEGKE_FILL))
    if style == "surgical":
        hue = rng.uniform(195, 215) if rng.random() < 0.7 else rng.uniform(150, 175)
        colour = _hsv(hue / 360, rng.uniform(0.25, 0.50), rng.uniform(0.80, 0.95))
        white = float(rng.uniform(228, 250))
        return MaskLook(style, colour, loops=(white, white, white))
    if style == "n95":
        colour = _hsv(rng.uniform(30, 50) / 360, rng.uniform(0.02, 0.10), rng.uniform(0.88, 0.97))
        return MaskLook(style, colour)
    hue, sat, val = rng.uniform(0, 1), rng.uniform(0.30, 0.85), rng.uniform(0.30, 0.80)
    pattern = str(
        rng.choice(["check", "stripes_across", "stripes_down", "plain"], p=[0.4, 0.25, 0.15, 0.2])
    )
    if rng.random() < 0.5:
        second = _hsv(hue, sat, val * rng.uniform(0.45, 0.70))
    else:
        second = _hsv(hue + rng.uniform(0.3, 0.7), rng.uniform(0.2, 0.7), rng.uniform(0.5, 0.95))
    period = float(rng.uniform(0.06, 0.12))
    return MaskLook(style, _hsv(hue, sat, val), second, pattern, period)


# ----------------------------------------------------------------------------------------------
# Rendering.


def _box(parts: list[np.ndarray], shape: tuple[int, ...], pad: int) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` around ``parts`` grown by ``pad`` px and clipped to the frame."""
    allp = np.concatenate(parts)
    height, width = shape[:2]
    x0, y0 = np.floor(allp.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(allp.max(axis=0)).astype(int) + pad + 1
    return max(0, x0), max(0, y0), min(width, x1), min(height, y1)


def _face_area(points: np.ndarray) -> tuple[np.ndarray, float]:
    hull = cv2.convexHull(points)[:, 0, :]
    return hull, max(float(cv2.contourArea(hull)), 1.0)


def _covered(painted: np.ndarray, hull: np.ndarray, area: float, origin: np.ndarray) -> float:
    """Share of the face area (``area``, of the landmark hull) that ``painted`` (a 0..255 map
    of the box at ``origin``: the Kegkeroglou fill with its outline) hides."""
    inside = np.zeros(painted.shape, dtype=np.uint8)
    cv2.fillConvexPoly(inside, np.round((hull - origin) * 16).astype(np.int32), 1, cv2.LINE_8, 4)
    return min(1.0, float((painted.astype(np.float32) * inside).sum()) / 255.0 / area)


def _paint_kegkeroglou(
    rgb: np.ndarray, points: np.ndarray, polygon: np.ndarray, full: bool
) -> tuple[np.ndarray, float]:
    """The paper code's drawing: dots, a white 4 px outline, a flat anti-aliased fill; its
    pixel coordinates are truncated to integers as the original does."""
    out = rgb.copy()
    corners = polygon.astype(np.int32)
    x0, y0, x1, y1 = _box([corners.astype(np.float32)], rgb.shape, 4)
    hull, area = _face_area(points)
    if x1 <= x0 or y1 <= y0:
        return out, 0.0
    origin = np.array([x0, y0], dtype=np.int32)
    local = corners - origin
    dots = local[:-1] if full else local  # the apex carries no dot in the original
    region = np.ascontiguousarray(out[y0:y1, x0:x1])
    painted = np.zeros(region.shape[:2], dtype=np.uint8)
    for canvas, dot, line, fill in (
        (region, KEGKE_DOTS, KEGKE_OUTLINE, KEGKE_FILL),
        (painted, 255, 255, 255),
    ):
        for x, y in dots:
            cv2.circle(canvas, (int(x), int(y)), 2, dot, -1)
        cv2.polylines(canvas, [local], True, line, thickness=4, lineType=cv2.LINE_8)
        cv2.fillPoly(canvas, [local], fill, lineType=cv2.LINE_AA)
    out[y0:y1, x0:x1] = region
    return out, _covered(painted, hull, area, origin.astype(np.float32))


def _distance_to_polyline(px: np.ndarray, py: np.ndarray, line: np.ndarray) -> np.ndarray:
    best = np.full(px.shape, np.inf, dtype=np.float32)
    for a, b in zip(line[:-1], line[1:], strict=True):
        ab = b - a
        t = ((px - a[0]) * ab[0] + (py - a[1]) * ab[1]) / max(float(ab @ ab), 1e-6)
        t = np.clip(t, 0.0, 1.0)
        d = np.hypot(px - (a[0] + t * ab[0]), py - (a[1] + t * ab[1]))
        np.minimum(best, d, out=best)
    return best


def _value(colours: np.ndarray) -> np.ndarray:
    """HSV value (the largest channel) of ``(N, 3)`` colours."""
    return np.maximum(np.maximum(colours[:, 0], colours[:, 1]), colours[:, 2])


def _square_wave(x: np.ndarray, period_px: float) -> np.ndarray:
    """−1/+1 bands of ``period_px`` with an edge about one pixel wide (anti-aliased)."""
    return np.clip(np.sin(2 * np.pi * x / period_px) * period_px / 4, -1.0, 1.0)


def _ear_loops(polygon: np.ndarray, points: np.ndarray, axes: FaceAxes) -> list[np.ndarray]:
    """Segments from the mask's upper and lower side corners to the ears (127, 356)."""
    u = polygon @ axes.across
    v = polygon @ axes.down
    t = (v - v.min()) / max(float(v.max() - v.min()), 1e-6)
    upper, lower = t <= 0.5, (t > 0.5) & (t <= 0.85)
    loops = []
    for ear, pick in ((points[EARS[0]], np.argmin), (points[EARS[1]], np.argmax)):
        for band in (upper, lower):
            if band.any():
                idx = np.flatnonzero(band)[pick(u[band])]
                loops.append(np.stack([polygon[idx], ear]))
    return loops


def _paint_textured(
    rgb: np.ndarray, points: np.ndarray, polygon: np.ndarray, look: MaskLook, full: bool
) -> tuple[np.ndarray, float]:
    out = rgb.copy()
    axes = face_axes(points)
    _, area = _face_area(points)
    x0, y0, x1, y1 = _box([polygon], rgb.shape, 3)
    if x1 <= x0 or y1 <= y0:
        return out, 0.0
    origin = np.array([x0, y0], dtype=np.float32)
    fill = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    cv2.fillPoly(fill, [np.round((polygon - origin) * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    under = fill > 127
    if not under.any():
        return out, 0.0
    alpha = cv2.GaussianBlur(fill, (0, 0), EDGE_SIGMA).astype(np.float32)[..., None] / 255.0

    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    u = xs * axes.across[0] + ys * axes.across[1]
    v = xs * axes.down[0] + ys * axes.down[1]
    pv = polygon @ axes.down
    top, span = float(pv.min()), max(float(pv.max() - pv.min()), 1.0)
    h = axes.height
    shade = 1.04 - 0.12 * (v - top) / span  # lit from above
    texture = np.empty((*fill.shape, 3), dtype=np.float32)
    texture[:] = np.array(look.colour, dtype=np.float32)
    if look.style == "surgical" and full:
        width = max(0.7, 0.012 * h)
        for share in (0.3, 0.5, 0.7):
            d = (v - (top + share * span)) / width
            shade *= (1 - 0.22 * np.exp(-(d**2))) * (1 + 0.10 * np.exp(-(((d - 2) / 1.5) ** 2)))
    elif look.style == "n95":
        inside = cv2.distanceTransform(under.astype(np.uint8), cv2.DIST_L2, 3)
        shade = shade * (0.78 + 0.26 * np.sqrt(inside / max(float(inside.max()), 1.0)))
        px, py = np.broadcast_to(xs, fill.shape), np.broadcast_to(ys, fill.shape)
        width = max(0.6, 0.006 * h)
        seam = _distance_to_polyline(px, py, points[list(SEAM_LINE)]) / width
        shade *= (1 - 0.30 * np.exp(-(seam**2))) * (1 + 0.08 * np.exp(-(((seam - 2.5) / 1.5) ** 2)))
    elif look.style == "cloth":
        period = max(3.0, look.period * h)
        mix = None
        if look.pattern == "check":
            mix = 0.5 + 0.5 * _square_wave(u, period) * _square_wave(v, period)
        elif look.pattern == "stripes_across":
            mix = np.broadcast_to(0.5 + 0.5 * _square_wave(v, period), fill.shape)
        elif look.pattern == "stripes_down":
            mix = np.broadcast_to(0.5 + 0.5 * _square_wave(u, period), fill.shape)
        if mix is not None:
            second = np.array(look.second, dtype=np.float32)
            texture += mix[..., None] * (second - texture)
        weave = max(1.5, 0.012 * h)
        shade = shade * (1 + 0.04 * np.sin(2 * np.pi * u / weave) * np.sin(2 * np.pi * v / weave))
    texture *= np.broadcast_to(shade, fill.shape)[..., None]

    # MaskTheFace's brightness match: value of the face under the mask vs the mask's own.
    region = out[y0:y1, x0:x1]
    face_v = float(_value(region[under]).mean())
    mask_v = float(_value(texture[under]).mean())
    gain = 1.0 + (face_v - mask_v) / 255.0
    np.clip(texture * gain, 0, 255, out=texture)
    if look.style == "surgical":  # the loops go under the mask, out to the ears
        colour = tuple(float(c) * gain for c in look.loops)
        thick = max(1, round(0.012 * h))
        for segment in _ear_loops(polygon, points, axes):
            ends = np.round(segment * 16).astype(np.int32)
            p0, p1 = (int(ends[0, 0]), int(ends[0, 1])), (int(ends[1, 0]), int(ends[1, 1]))
            cv2.line(out, p0, p1, colour, thick, cv2.LINE_AA, 4)
        region = out[y0:y1, x0:x1]
    blended = region + alpha * (texture - region)
    out[y0:y1, x0:x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    # The outline's vertices are landmarks, or points between landmarks, so it lies inside the
    # hull: its exact area is its part of the face (a pixel count would add its boundary).
    return out, min(1.0, float(cv2.contourArea(polygon)) / area)


def paint_mask(
    rgb: np.ndarray, points: np.ndarray, look: MaskLook, coverage: str
) -> tuple[np.ndarray, float]:
    """``rgb`` with the mask of ``look`` drawn at ``coverage`` on the face of ``points``, and
    the share of the face area (the hull of the landmarks) it covers. ``rgb`` is unchanged."""
    points = _check_points(points)
    polygon = mask_polygon(points, look.style, coverage)
    if len(polygon) < 3:
        return rgb.copy(), 0.0
    if look.style == "kegkeroglou":
        return _paint_kegkeroglou(rgb, points, polygon, coverage == "full")
    return _paint_textured(rgb, points, polygon, look, coverage == "full")


def draw_mask(
    rgb: np.ndarray, points: np.ndarray, style: str, coverage: str, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """A mask of ``style`` at ``coverage`` with a look drawn from ``rng`` on the face of
    ``points`` (478 landmarks in pixels): the masked frame (a copy) and the share of the face
    area it covers. The same generator state gives the same pixels."""
    return paint_mask(rgb, points, mask_look(style, rng), coverage)
