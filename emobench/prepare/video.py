"""Decoding the frames of one clip — a video file or a folder of numbered images — in one loop.

:class:`ClipFrames` is the only place emobench decodes face media: the ``frames`` step samples
from it and the ``apex`` step reads a coded clip's onset..offset from it. A video is read
forward with ``grab()``, and only the frames asked for are ``retrieve()``d (converted), which
is much cheaper than converting every frame; each frame is decoded once per clip.

Messages name frames one way: a frame of a video is ``frame <k>`` with ``k`` 1-based (the
numbering of coding sheets for videos); a frame of a folder is its file, named by the error.

Damaged media are refused, never sampled from what happens to decode:

- a video that decodes fewer frames than its container declares (beyond
  ``declared_slack`` frames) is cut short or damaged: "decoded N of M declared frames";
- a JPEG without its end-of-image marker after its image data is cut short (libjpeg would
  grey-fill the missing rows with only a warning on stderr that names no file).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from emobench.errors import InputError

JPEG_SUFFIXES = (".jpg", ".jpeg")

# the reduction part of the decode flag per factor (libjpeg scales a JPEG while decoding it);
# combined with IMREAD_COLOR (BGR) or IMREAD_COLOR_RGB
REDUCED_READS = {
    2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
    4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
    8: cv2.IMREAD_REDUCED_GRAYSCALE_8,
}


def to_square_rgb(
    frame: np.ndarray, size: int, order: str = "BGR", *, copy: bool = True
) -> np.ndarray:
    """A BGR frame (RGB when ``order`` says so; or grey) resized whole to ``size × size`` RGB
    uint8. The channels are swapped after resizing, where there are fewer pixels. ``copy``:
    see :func:`resize_square`."""
    square = resize_square(to_bgr(frame), size, copy=copy)
    return square if order == "RGB" else cv2.cvtColor(square, cv2.COLOR_BGR2RGB)


def to_rgb(frame: np.ndarray, order: str = "BGR") -> np.ndarray:
    """A BGR frame (RGB when ``order`` says so; or grey) as a new RGB array."""
    frame = to_bgr(frame)
    return frame.copy() if order == "RGB" else cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def to_bgr(frame: np.ndarray) -> np.ndarray:
    """A decoded frame with three channels (grey frames are repeated)."""
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if frame.ndim == 2 else frame


def reduced_decode_side(kept: int) -> int:
    """The short side a reduced JPEG decode must keep for frames later resized to ``kept``
    pixels: twice that, so the area resize that follows still averages at least 2x2 decoded
    pixels into each kept one (the rule of the apex step and of ``--decode reduced``)."""
    return 2 * kept


def resize_square(frame: np.ndarray, size: int, *, copy: bool = True) -> np.ndarray:
    """A frame resized whole to ``size × size`` (area averaging when shrinking), channel
    order kept. A frame already at that size comes back as a copy, as ``cv2.resize`` gives
    it, or itself with ``copy=False`` (for a caller that copies it anyway)."""
    h, w = frame.shape[:2]
    if h == w == size:  # what cv2.resize does at the same size, without its set-up
        return frame.copy() if copy else frame
    interp = cv2.INTER_AREA if min(h, w) >= size else cv2.INTER_LINEAR
    return cv2.resize(frame, (size, size), interpolation=interp)


def jpeg_problem(data: bytes) -> str | None:
    """Why the bytes of a JPEG file are cut short, or ``None``.

    In a JPEG's entropy-coded data a 0xFF byte is always followed by 0x00 or a restart marker,
    so the end-of-image marker FFD9 can only appear after the last start-of-scan FFDA when
    the image data is complete (an EXIF thumbnail's markers come before the main scan; data
    appended after the end of the image is allowed). Files that are not JPEG are left to the
    decoder."""
    if not data.startswith(b"\xff\xd8"):
        return None
    if data.endswith(b"\xff\xd9"):  # the common case, decided without a search
        return None
    scan = data.rfind(b"\xff\xda")
    if data.find(b"\xff\xd9", max(scan, 2)) < 0:
        return "JPEG is cut short (no end-of-image marker after its image data)"
    return None


def file_bytes(path: str) -> bytes:
    """The whole content of the file at ``path``, read to its end with the OS calls
    themselves: a clip's frames are many small files, and Python's buffered file object
    costs more per file than the read (figures in CHANGELOG). Raises OSError."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        chunks = []  # normally one: the file as fstat measured it, then the empty read at its end
        while chunk := os.read(fd, size + 1 if not chunks else 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_image(path: str | os.PathLike, flag: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """One image file as ``flag`` decodes it (BGR by default). Raises InputError naming the
    file when it does not decode, or decodes only because libjpeg filled in what is missing
    of a JPEG cut short. The file is read once: the check and the decoder see the same
    bytes."""
    name = os.fspath(path)
    try:
        data = file_bytes(name)
    except OSError as err:
        raise InputError(path, f"image cannot be read ({err.strerror or err})") from err
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flag) if data else None
    jpeg = os.path.splitext(name)[1].lower() in JPEG_SUFFIXES
    problem = jpeg_problem(data) if data and jpeg else None
    # a JPEG whose image data began (a start-of-scan marker) and stops early is named so,
    # whether the decoder gave up or filled in the rest
    if problem and (image is not None or b"\xff\xda" in data):
        raise InputError(path, problem)
    if image is None:
        raise InputError(path, "image does not decode (empty or corrupt)")
    return image


def declared_slack(declared: int) -> int:
    """Frames a video may decode short of its declared count and still count as whole: some
    containers state a length estimated from duration × frame rate, off by a frame or two."""
    return max(2, declared // 50)


class ClipTooShort(InputError):
    """A video ends before a frame that was asked for; ``decoded`` frames exist."""

    def __init__(self, path: Path, decoded: int, declared: int, needed: int):
        self.decoded, self.declared, self.needed = decoded, declared, needed
        of = f" of {declared} declared" if declared > 0 else ""
        super().__init__(path, f"decoded {decoded}{of} frames; frame {needed} is not among them")


def check_declared(path: Path, decoded: int, declared: int) -> None:
    """Refuse a video that decodes clearly fewer frames than its container declares."""
    if declared > 0 and declared - decoded > declared_slack(declared):
        raise InputError(
            path, f"decoded {decoded} of {declared} declared frames (cut short or damaged)"
        )


class ClipFrames:
    """Random access to the frames of one clip: a list of image files or a video file.

    Decoded frames are kept, so that a step reading a clip twice (the apex strategy, then the
    clip cutter) decodes each frame once. A video's capture stays open while it is read
    forward; call :meth:`close` (or use ``with``) when done.

    ``min_side`` > 0: image files are decoded at 1/2, 1/4 or 1/8 of their size (OpenCV's
    ``IMREAD_REDUCED_COLOR_*``, far faster than a full decode) when the short side stays at
    least ``min_side``; the first frame's full decode decides the factor for the whole clip.
    Videos are always decoded whole.

    ``rgb``: image files decode straight to RGB (libjpeg writes the channels in that order, so
    no conversion pass follows; the pixels equal a BGR decode's, swapped). Video frames stay
    BGR as the capture gives them. :attr:`order` says which order :meth:`read` returns.
    """

    def __init__(
        self,
        frames: Sequence[str | os.PathLike] | Path | str,
        min_side: int = 0,
        *,
        rgb: bool = False,
    ):
        if isinstance(frames, str | Path):
            self.video: Path | None = Path(frames)
            self.paths: list[str | os.PathLike] = []
            if not self.video.is_file():
                raise InputError(self.video, "video file not found")
        else:
            self.video = None
            self.paths = list(frames)  # as given: a path object per frame costs more than a read
            if not self.paths:
                raise InputError("(no frames)", "the clip's frame list is empty")
        self._decoded: dict[int, np.ndarray] = {}
        self.min_side = min_side
        self.order = "RGB" if rgb and self.video is None else "BGR"
        self._color = cv2.IMREAD_COLOR_RGB if self.order == "RGB" else cv2.IMREAD_COLOR
        self.reduction: int | None = None  # 1, 2, 4 or 8, once the first frame is decoded
        self._cap: cv2.VideoCapture | None = None
        self._next = 0  # position the open capture grabs next
        self._end: int | None = None  # frames the video decodes, once its end was reached
        self._declared: int | None = None

    def __enter__(self) -> ClipFrames:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    @property
    def name(self) -> Path:
        """What an error about the whole clip names: the video, or the frames' folder."""
        return self.video if self.video is not None else Path(self.paths[0]).parent

    @property
    def fps(self) -> float:
        """The frame rate a video's container states (25.0 when it states none, and for
        image lists, which carry no time)."""
        if self.video is None:
            return 25.0
        if self._cap is None:
            self._open()
        rate = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        return rate if rate > 0 else 25.0

    @property
    def on_disk(self) -> int | None:
        """Frames on disk (image lists); ``None`` for a video (known only by decoding)."""
        return None if self.video is not None else len(self.paths)

    @property
    def declared(self) -> int:
        """The frame count a video's container states (0 when it states none); the number of
        files for an image list."""
        if self.video is None:
            return len(self.paths)
        if self._declared is None:
            self._open()
        return int(self._declared or 0)

    def read(self, positions: Iterable[int]) -> dict[int, np.ndarray]:
        """Frames at the given 0-based positions, in channel :attr:`order`. Raises InputError
        naming the file."""
        wanted = sorted(set(int(p) for p in positions))
        missing = [p for p in wanted if p not in self._decoded]
        if missing and self.video is not None:
            self._read_video(missing)
        elif missing:
            for pos in missing:
                self._decoded[pos] = self._read_image(self.paths[pos])
        return {pos: self._decoded[pos] for pos in wanted}

    def length(self) -> int:
        """Frames that decode: the number of files, or a video decoded (grabbed) to its end."""
        if self.video is None:
            return len(self.paths)
        while self._end is None:
            self._grab_to(self._next + 1024, keep=set())
        return self._end

    # ---- videos --------------------------------------------------------------------------
    def _open(self) -> None:
        self.close()
        cap = cv2.VideoCapture(str(self.video))
        if not cap.isOpened():
            raise InputError(
                self.video, "cannot open video (no video stream, or a codec OpenCV lacks)"
            )
        self._cap, self._next = cap, 0
        if self._declared is None:
            self._declared = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))

    def _grab_to(self, last: int, keep: set[int]) -> None:
        """Decode forward up to position ``last``, retrieving the positions in ``keep``."""
        if self._cap is None:
            self._open()
        while self._next <= last:
            if not self._cap.grab():
                self._end = self._next
                return
            if self._next in keep:
                ok, frame = self._cap.retrieve()
                if not ok or frame is None:
                    raise InputError(self.video, f"frame {self._next + 1} does not decode")
                self._decoded[self._next] = frame
            self._next += 1

    def _read_video(self, missing: list[int]) -> None:
        if self._end is not None and missing[-1] >= self._end:
            raise ClipTooShort(self.video, self._end, self.declared, missing[-1] + 1)
        if self._cap is None or missing[0] < self._next:
            self._open()  # a frame behind the capture: decode again from the start
        self._grab_to(missing[-1], set(missing))
        if missing[-1] not in self._decoded:  # the video ended first
            raise ClipTooShort(self.video, self._next, self.declared, missing[-1] + 1)

    # ---- image files ---------------------------------------------------------------------
    def _read_image(self, path: str | os.PathLike) -> np.ndarray:
        if self.reduction is None:
            image = read_image(path, self._color)
            short = min(image.shape[:2])
            fits = [k for k in REDUCED_READS if self.min_side > 0 and short // k >= self.min_side]
            self.reduction = max(fits, default=1)
            if self.reduction == 1:
                return image
        return read_image(path, self._color | REDUCED_READS.get(self.reduction, 0))
