"""Video decoding and uniform frame sampling with OpenCV.

``uniform_indices`` picks the centre frame of T equal segments of the clip (deterministic; the
same at training and test time). ``sample_video`` decodes sequentially with ``grab()`` and only
``retrieve()``s the frames it keeps, which is much cheaper than converting every frame.
Clips shorter than T frames are padded by repeating frames (the indices repeat), and the
number of distinct frames is returned so a caller can report padded clips.
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

    @property
    def padded(self) -> bool:
        return self.source_frames < len(self.indices)


def uniform_indices(n_frames: int, t: int) -> np.ndarray:
    """Centre of each of t equal segments of [0, n_frames); repeats frames when n_frames < t."""
    if n_frames <= 0:
        raise ValueError("n_frames must be positive")
    return np.minimum(((np.arange(t) + 0.5) * n_frames / t).astype(np.int64), n_frames - 1)


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


def _decode_at(path: Path, wanted: np.ndarray, size: int) -> tuple[dict[int, np.ndarray], int]:
    """Decode sequentially; keep the frames whose index is in ``wanted``. Returns frames, count."""
    cap = _open(path)
    keep = set(int(i) for i in wanted)
    last = max(keep)
    frames: dict[int, np.ndarray] = {}
    index = 0
    try:
        while index <= last:
            if not cap.grab():
                break
            if index in keep:
                ok, frame = cap.retrieve()
                if not ok or frame is None:
                    raise InputError(path, f"frame {index} does not decode")
                frames[index] = to_square_rgb(frame, size)
            index += 1
    finally:
        cap.release()
    return frames, index


def video_frame_count(path: Path) -> int:
    cap = _open(path)
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()


def sample_video(path: str | Path, t: int = 8, size: int = 112) -> SampledClip:
    """T frames uniformly over the clip, resized to size×size, RGB uint8."""
    path = Path(path)
    declared = video_frame_count(path)
    if declared <= 0:
        declared = _count_by_decoding(path)
    if declared <= 0:
        raise InputError(path, "no decodable video frames")
    wanted = uniform_indices(declared, t)
    frames, decoded = _decode_at(path, wanted, size)
    if len(frames) < len(set(wanted.tolist())):
        # The container over-stated its length: sample again over the frames that exist.
        actual = decoded if decoded > 0 else _count_by_decoding(path)
        if actual <= 0:
            raise InputError(path, "no decodable video frames")
        wanted = uniform_indices(actual, t)
        frames, _ = _decode_at(path, wanted, size)
        declared = actual
        if len(frames) < len(set(wanted.tolist())):
            raise InputError(path, f"only {len(frames)} of {actual} frames decode")
    stack = np.stack([frames[int(i)] for i in wanted])
    return SampledClip(stack, declared, tuple(int(i) for i in wanted))


def _count_by_decoding(path: Path) -> int:
    cap = _open(path)
    n = 0
    try:
        while cap.grab():
            n += 1
    finally:
        cap.release()
    return n


def sample_frame_folder(folder: str | Path, t: int = 8, size: int = 112) -> SampledClip:
    """T frames uniformly over a folder of images sorted by the number in their name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "frame folder not found")
    files = [p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp")]
    if not files:
        raise InputError(folder, "frame folder holds no images")
    files.sort(key=lambda p: _frame_number(p))
    wanted = uniform_indices(len(files), t)
    frames = []
    for i in wanted:
        image = cv2.imread(str(files[int(i)]), cv2.IMREAD_COLOR)
        if image is None:
            raise InputError(files[int(i)], "image does not decode (empty or corrupt)")
        frames.append(to_square_rgb(image, size))
    return SampledClip(np.stack(frames), len(files), tuple(int(i) for i in wanted))


def _frame_number(path: Path) -> int:
    digits = "".join(ch if ch.isdigit() else " " for ch in path.stem).split()
    if not digits:
        raise InputError(path, "frame file name has no number to sort by")
    return int(digits[-1])
