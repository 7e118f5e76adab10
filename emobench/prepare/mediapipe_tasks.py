"""What the face and pose landmark modules share about MediaPipe's tasks API.

Both run a MediaPipe landmarker two ways: one image at a time (IMAGE mode, one landmarker
per process, since making one costs as much as several detections) and over the frames of
one clip (VIDEO mode, tracking by the clip's timestamps with a landmarker of the clip's own,
so tracking never carries from one clip into the next). This module holds the parts that do
not depend on which landmarker it is: importing the API with an error that says what to
install, turning a frame into a MediaPipe image, the per-process IMAGE landmarker, and the
per-clip VIDEO pass whose result is kept in the clip's cache.

MediaPipe's native code logs a few notices to the process's stderr for every landmarker it
makes (delegate choices, "Feedback manager requires a model with a single signature"), which
would bury a prepare's progress under thousands of lines; no environment variable of its
logging library turns them off. They are dropped at the file-descriptor level while a
landmarker is made or runs (:func:`quiet_native_logs`); failures still reach Python as
exceptions. ``EMOBENCH_MEDIAPIPE_LOGS=1`` keeps them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from emobench.errors import EmobenchError

if TYPE_CHECKING:
    from emobench.prepare.step import NativeFrames

MEDIAPIPE_INSTALL = "pip install mediapipe==1.2.2"


_QUIET_LOCK = threading.Lock()


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Native writes to stderr (file descriptor 2) go to the null device inside the block
    (unless ``EMOBENCH_MEDIAPIPE_LOGS`` is set); Python's own stderr is flushed first."""
    if os.environ.get("EMOBENCH_MEDIAPIPE_LOGS"):
        yield
        return
    with _QUIET_LOCK:
        sys.stderr.flush()
        saved = os.dup(2)
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(null)


def vision_api(purpose: str, install: str = MEDIAPIPE_INSTALL) -> tuple[Any, Any, Any]:
    """``(mediapipe, mediapipe.tasks.python, mediapipe.tasks.python.vision)``, or an
    EmobenchError saying that ``purpose`` needs MediaPipe and what to run."""
    try:
        import mediapipe as mp
        from mediapipe.tasks import python as tasks
        from mediapipe.tasks.python import vision
    except ImportError as err:
        raise EmobenchError(f"{purpose} need MediaPipe ({err}): run `{install}`") from None
    return mp, tasks, vision


def mp_image(rgb: np.ndarray, name: str, purpose: str) -> Any:
    """``rgb`` as a MediaPipe image (contiguous uint8 SRGB); a frame of another shape or type
    is an EmobenchError naming ``name``."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3:
        raise EmobenchError(f"{name}: {purpose} need an RGB uint8 (H, W, 3) frame")
    if rgb.shape[2] != 3:
        raise EmobenchError(f"{name}: {purpose} need 3 colour channels, got {rgb.shape[2]}")
    mp, _, _ = vision_api(purpose)
    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))


def close_at_shutdown(fn: Callable[[], None]) -> None:
    """Run ``fn`` when the interpreter starts shutting down, before the thread pools of
    :mod:`concurrent.futures` that MediaPipe calls through stop (an ``atexit`` hook runs
    after them, and closing a landmarker then fails)."""
    register = getattr(threading, "_register_atexit", None)
    if register is None:  # an interpreter without the hook: close at exit at the latest
        import atexit

        atexit.register(fn)
    else:
        register(fn)


class ProcessLandmarker:
    """A process's IMAGE-mode landmarker: made by ``create`` on first use, made again in a
    forked child (a MediaPipe graph does not survive fork) or when ``key()`` changes (the
    model file set up again), used by one thread at a time, closed at shutdown."""

    def __init__(self, create: Callable[[], Any], key: Callable[[], Any] = lambda: None):
        self._create = create
        self._model_key = key
        self._lock = threading.Lock()
        self._landmarker: Any = None
        self._inherited: list[Any] = []  # landmarkers of the process this one was forked from
        self._key: tuple[int, Any] | None = None
        self._hooked = False

    def detect(self, image: Any) -> Any:
        with self._lock:
            key = (os.getpid(), self._model_key())
            if self._landmarker is None or self._key != key:
                if self._landmarker is not None and self._key and self._key[0] == key[0]:
                    self._landmarker.close()
                elif self._landmarker is not None:  # a forked child's copy: kept (see close)
                    self._inherited.append(self._landmarker)
                with quiet_native_logs():
                    self._landmarker = self._create()
                self._key = key
                if not self._hooked:
                    close_at_shutdown(self.close)
                    self._hooked = True
            with quiet_native_logs():
                return self._landmarker.detect(image)

    def close(self) -> None:
        """Close this process's landmarker. One a forked child inherited is left alone, not
        even released: releasing it closes it (MediaPipe's ``__del__``), which waits for graph
        threads the fork did not copy, for ever (the child's exit hooks call this)."""
        with self._lock:
            if self._landmarker is None or not self._key or self._key[0] != os.getpid():
                return  # none, or the parent's (kept in the child until it exits)
            self._landmarker.close()
            self._landmarker = None
            self._key = None


def track_clip(
    clip: NativeFrames,
    cache_key: str,
    create_video: Callable[[], Any],
    points_of: Callable[[Any, tuple[int, ...]], np.ndarray | None],
    purpose: str,
) -> list[np.ndarray | None]:
    """The points of every frame of ``clip`` (``None`` where nothing is found), from a
    VIDEO-mode landmarker of the clip's own fed the clip's timestamps; kept in
    ``clip.cache[cache_key]`` so that every step working on the clip shares the one pass."""
    cached = clip.cache.get(cache_key)
    if cached is not None and len(cached) == len(clip.frames):
        return cached
    times = clip.timestamps_ms()
    images = [mp_image(frame, clip.name, purpose) for frame in clip.frames]
    tracked: list[np.ndarray | None] = []
    with quiet_native_logs(), create_video() as landmarker:
        for image, frame, t in zip(images, clip.frames, times, strict=True):
            result = landmarker.detect_for_video(image, t)
            tracked.append(points_of(result, frame.shape))
    clip.cache[cache_key] = tracked
    return tracked
