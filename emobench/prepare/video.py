"""Video decoding and uniform frame sampling with OpenCV.

``uniform_indices`` picks the centre frame of T equal segments of the clip (deterministic; the
same at training and test time). ``sample_video`` decodes sequentially with ``grab()`` and only
``retrieve()``s the frames it keeps, which is much cheaper than converting every frame.
Clips shorter than T frames are padded by repeating frames (the indices repeat), and the
number of distinct frames is returned so a caller can report padded clips.

``strided_indices`` is the other sampling (MAFW's 32 frames at stride 2): every ``stride``-th
frame of a window of T × stride source frames centred on the clip; a clip shorter than the
window is stretched to it by repeating frames, then strided, and counts as padded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emobench.errors import InputError


@dataclass(frozen=True)
class SampledClip:
    frames: np.ndarray  # (T, size, size, 3) uint8 RGB
    source_frames: int  # frames in the clip
    indices: tuple[int, ...]  # frame indices that were kept
    window: int = 0  # source frames the sampling wants (T × stride); 0 for uniform sampling

    @property
    def padded(self) -> bool:
        return self.source_frames < max(len(self.indices), self.window)


def uniform_indices(n_frames: int, t: int) -> np.ndarray:
    """Centre of each of t equal segments of [0, n_frames); repeats frames when n_frames < t."""
    if n_frames <= 0:
        raise ValueError("n_frames must be positive")
    return np.minimum(((np.arange(t) + 0.5) * n_frames / t).astype(np.int64), n_frames - 1)


def strided_indices(n_frames: int, t: int, stride: int) -> np.ndarray:
    """Every ``stride``-th frame of a window of ``t * stride`` frames centred on the clip.

    A clip shorter than the window is first stretched to it by repeating frames (window
    position j shows frame ⌊j · n_frames / window⌋), so the t frames still span the clip."""
    if n_frames <= 0:
        raise ValueError("n_frames must be positive")
    if stride < 1:
        raise ValueError("stride must be at least 1")
    window = t * stride
    positions = stride * np.arange(t, dtype=np.int64)
    if n_frames >= window:
        return (n_frames - window) // 2 + positions
    return positions * n_frames // window


def sample_indices(n_frames: int, t: int, stride: int = 0) -> np.ndarray:
    """``uniform_indices`` when ``stride`` is 0, else ``strided_indices``."""
    return strided_indices(n_frames, t, stride) if stride else uniform_indices(n_frames, t)


def to_square_rgb(frame_bgr: np.ndarray, size: int) -> np.ndarray:
    if frame_bgr.ndim == 2:
        frame_bgr = cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR)
    h, w = frame_bgr.shape[:2]
    interp = cv2.INTER_AREA if min(h, w) >= size else cv2.INTER_LINEAR
    return cv2.cvtColor(
        cv2.resize(frame_bgr, (size, size), interpolation=interp), cv2.COLOR_BGR2RGB
    )


def _open(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise InputError(path, "video file not found")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(path, "cannot open video (no video stream, or a codec OpenCV lacks)")
    return cap


def _decode_at(
    cap: cv2.VideoCapture, path: Path, wanted: np.ndarray, size: int
) -> tuple[dict[int, np.ndarray], int]:
    """Decode sequentially from an open capture; keep the frames whose index is in ``wanted``.
    Returns the kept frames and how many frames were grabbed."""
    keep = set(int(i) for i in wanted)
    last = max(keep)
    frames: dict[int, np.ndarray] = {}
    index = 0
    while index <= last:
        if not cap.grab():
            break
        if index in keep:
            ok, frame = cap.retrieve()
            if not ok or frame is None:
                raise InputError(path, f"frame {index} does not decode")
            frames[index] = to_square_rgb(frame, size)
        index += 1
    return frames, index


def sample_video(path: str | Path, t: int = 8, size: int = 112, stride: int = 0) -> SampledClip:
    """T frames uniformly over the clip (or at ``stride``, see ``strided_indices``), resized
    to size×size, RGB uint8.

    The video is opened once: its declared frame count picks the frames. Only when the
    container over-states (or does not state) its length is it decoded again, over the frames
    that really exist.
    """
    path = Path(path)
    cap = _open(path)
    try:
        declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if declared > 0:
            wanted = sample_indices(declared, t, stride)
            frames, _ = _decode_at(cap, path, wanted, size)
            if len(frames) == len(set(wanted.tolist())):
                return SampledClip(
                    _stack(frames, wanted), declared, tuple(wanted.tolist()), t * stride
                )
    finally:
        cap.release()
    actual = _count_by_decoding(path)
    if actual <= 0:
        raise InputError(path, "no decodable video frames")
    wanted = sample_indices(actual, t, stride)
    cap = _open(path)
    try:
        frames, _ = _decode_at(cap, path, wanted, size)
    finally:
        cap.release()
    if len(frames) < len(set(wanted.tolist())):
        raise InputError(path, f"only {len(frames)} of {actual} frames decode")
    return SampledClip(_stack(frames, wanted), actual, tuple(wanted.tolist()), t * stride)


def _stack(frames: dict[int, np.ndarray], wanted: np.ndarray) -> np.ndarray:
    return np.stack([frames[int(i)] for i in wanted])


def _count_by_decoding(path: Path) -> int:
    cap = _open(path)
    n = 0
    try:
        while cap.grab():
            n += 1
    finally:
        cap.release()
    return n


def sample_frame_folder(
    folder: str | Path, t: int = 8, size: int = 112, stride: int = 0
) -> SampledClip:
    """T frames uniformly (or at ``stride``) over a folder of images sorted by the number in
    their name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "frame folder not found")
    files = [p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp")]
    if not files:
        raise InputError(folder, "frame folder holds no images")
    files.sort(key=lambda p: _frame_number(p))
    wanted = sample_indices(len(files), t, stride)
    decoded: dict[int, np.ndarray] = {}  # a padded clip repeats frames: decode each once
    for i in dict.fromkeys(int(i) for i in wanted):
        image = cv2.imread(str(files[i]), cv2.IMREAD_COLOR)
        if image is None:
            raise InputError(files[i], "image does not decode (empty or corrupt)")
        decoded[i] = to_square_rgb(image, size)
    return SampledClip(_stack(decoded, wanted), len(files), tuple(wanted.tolist()), t * stride)


def _frame_number(path: Path) -> int:
    digits = "".join(ch if ch.isdigit() else " " for ch in path.stem).split()
    if not digits:
        raise InputError(path, "frame file name has no number to sort by")
    return int(digits[-1])
