"""The ``faces`` step: where the face is in a frame, for the steps that measure or cut it.

OpenCV's frontal-face Haar cascade searches the frame scaled down so that its short side is at
most ``detect_side`` pixels (the box is scaled back), so a large recording costs no more to
search than a small one, and the close-up faces of expression databases stay far above the
cascade's 24 px window. The largest face found is the face; its box grows by ``margin`` of its
size on each side (clipped to the frame), so that a dropping jaw or raised brows stay inside.
Without a face, the central ``fallback_share`` of the frame stands in for it, and the caller
records that no face was found (nothing is dropped silently).

The step writes no array of its own: ``apex`` uses it to find where motion is measured (the
coming ``masks`` and ``body`` steps will too), and the pack records its settings beside theirs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from emobench.prepare.step import PrepareStep, StepSettings, option, register_step

Box = tuple[int, int, int, int]  # x, y, w, h in the frame's pixels


@dataclass(frozen=True)
class FacesSettings(StepSettings):
    margin: float = option(
        0.10,
        "Face box margin: the detected box grows by this share of its size on each side.",
        name="face-margin",
        minimum=0.0,
        maximum=1.0,
    )
    detect_side: int = option(
        160,
        "Faces are searched with the frame's short side scaled down to at most this many px.",
        name="face-detect-side",
        minimum=48,
    )
    fallback_share: float = option(
        0.80,
        "Without a detected face, this central share of the frame (each side) is used.",
        name="face-fallback-share",
        minimum=0.1,
        maximum=1.0,
    )


@register_step("faces")
class FacesStep(PrepareStep):
    """Face boxes for other steps; applies to no sample on its own."""

    settings = FacesSettings
    order = 5


@functools.cache
def _face_cascade() -> cv2.CascadeClassifier:
    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV's Haar cascade did not load from {path}")
    return cascade


def detect_face(gray: np.ndarray, detect_side: int = FacesSettings.detect_side) -> Box | None:
    """The largest frontal face ``(x, y, w, h)`` found by the Haar cascade, or ``None``.

    The search runs on the image scaled to a short side of at most ``detect_side`` pixels, for
    faces of at least a fifth of that side; the box is given in ``gray``'s pixels."""
    scale = min(1.0, detect_side / min(gray.shape[:2]))
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


def face_region(gray: np.ndarray, settings: FacesSettings | None = None) -> tuple[Box, bool]:
    """The face's region in a grey frame and whether it is a detected face: the detected box
    grown by the margin (clipped to the frame), or the central fallback share of the frame."""
    settings = settings or FacesSettings()
    h, w = gray.shape[:2]
    face = detect_face(gray, settings.detect_side)
    if face is None:
        rw, rh = round(w * settings.fallback_share), round(h * settings.fallback_share)
        return ((w - rw) // 2, (h - rh) // 2, rw, rh), False
    x, y, fw, fh = face
    mx, my = round(fw * settings.margin), round(fh * settings.margin)
    x0, y0 = max(0, x - mx), max(0, y - my)
    x1, y1 = min(w, x + fw + mx), min(h, y + fh + my)
    return (x0, y0, x1 - x0, y1 - y0), True
