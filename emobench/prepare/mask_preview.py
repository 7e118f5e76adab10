"""``emobench masks preview``: every mask style at every coverage level on one face, as a PNG.

A contact sheet for checking what the ``masks`` step draws before preparing a dataset with
it: one row per style, one column for the original face and one per coverage level, each cell
the face's region (the landmark box grown by half its size, square) scaled to one cell size and
labelled with what it shows and the share of the face area the mask hides. The looks are
those of one seed, so the same image and seed give the same sheet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from emobench.errors import InputError
from emobench.prepare.face_landmarks import detect_face_points, points_box
from emobench.prepare.mask_drawing import COVERAGES, MASK_STYLES, mask_look, paint_mask
from emobench.prepare.video import read_image

CELL = 224  # px, side of one cell
HEADER = 30  # px, the column titles' band
LEGEND = 140  # px, the row titles' band
_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class PreviewReport:
    """What ``preview_masks`` wrote: the sheet, its size, and the covered share of the face
    area for each ``(style, coverage)``."""

    image: Path
    out: Path
    size: tuple[int, int]  # width, height of the sheet
    covered: dict[tuple[str, str], float] = field(default_factory=dict)


def _square_crop(rgb: np.ndarray, points: np.ndarray) -> tuple[int, int, int, int]:
    """A square around the face (its landmark box grown by half its size each side), moved
    inside the frame where it can be, clipped where it cannot."""
    height, width = rgb.shape[:2]
    x, y, w, h = points_box(points, rgb.shape, margin=0.0)
    side = min(int(round(max(w, h) * 2.0)), width, height)
    cx, cy = x + w / 2, y + h / 2
    x0 = int(np.clip(round(cx - side / 2), 0, width - side))
    y0 = int(np.clip(round(cy - side / 2), 0, height - side))
    return x0, y0, side, side


def _label(canvas: np.ndarray, text: str, x: int, y: int, scale: float = 0.5) -> None:
    cv2.putText(canvas, text, (x, y), _FONT, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(canvas, text, (x, y), _FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)


def preview_masks(image: Path, out: Path, seed: int = 0) -> PreviewReport:
    """Draw every style × coverage on the face of ``image`` and write the sheet to ``out``
    (a ``.png``). An image that does not decode, or shows no face MediaPipe finds, is an
    :class:`~emobench.errors.InputError` naming it."""
    image, out = Path(image), Path(out)
    if not image.is_file():
        raise InputError(image, "image not found")
    if out.suffix.lower() != ".png":
        raise InputError(out, "the preview is written as PNG: give a file name ending in .png")
    rgb = np.ascontiguousarray(read_image(image)[:, :, ::-1])
    points = detect_face_points(rgb)
    if points is None:
        raise InputError(image, "no face found (MediaPipe's face landmarker)")
    x, y, w, h = _square_crop(rgb, points)

    def cell(frame: np.ndarray) -> np.ndarray:
        crop = frame[y : y + h, x : x + w]
        scale = cv2.INTER_AREA if w > CELL else cv2.INTER_CUBIC
        return cv2.resize(crop, (CELL, CELL), interpolation=scale)

    columns = ("original", *COVERAGES)
    sheet = np.full(
        (HEADER + CELL * len(MASK_STYLES), LEGEND + CELL * len(columns), 3), 40, dtype=np.uint8
    )
    for j, title in enumerate(columns):
        _label(sheet, title, LEGEND + j * CELL + 8, HEADER - 9, 0.6)
    covered: dict[tuple[str, str], float] = {}
    original = cell(rgb)
    for i, style in enumerate(MASK_STYLES):
        top = HEADER + i * CELL
        _label(sheet, style, 8, top + CELL // 2, 0.6)
        sheet[top : top + CELL, LEGEND : LEGEND + CELL] = original
        look = mask_look(style, np.random.default_rng(seed))
        for j, coverage in enumerate(COVERAGES, start=1):
            masked, share = paint_mask(rgb, points, look, coverage)
            covered[(style, coverage)] = share
            left = LEGEND + j * CELL
            sheet[top : top + CELL, left : left + CELL] = cell(masked)
            _label(sheet, f"covers {share:.0%} of face", left + 6, top + CELL - 8, 0.45)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), np.ascontiguousarray(sheet[:, :, ::-1])):
        raise InputError(out, "the preview PNG could not be written")
    return PreviewReport(image, out, (sheet.shape[1], sheet.shape[0]), covered)
