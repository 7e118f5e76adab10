"""Body pose landmarks (MediaPipe's PoseLandmarker, BlazePose full, 33 points) and body boxes.

The model is the bundle :mod:`~emobench.prepare.body_model` builds once from the
``mediapipe==0.10.21`` wheel; nothing is downloaded here. Points come as a ``(33, 3)``
float32 array per frame: pixel ``x``, pixel ``y`` (either may lie outside the frame: the
model places body parts it infers beyond the edge) and ``visibility``, the model's estimate
that the point is inside the frame and not hidden. ``None`` stands for a frame without a
pose. Two ways to ask, as for face landmarks:

- :func:`detect_pose_points`: one image (IMAGE mode, a landmarker made once per process);
- :func:`pose_track`: the frames of one clip (VIDEO mode, tracking by the clip's timestamps)
  with a landmarker of the clip's own, so tracking never carries from one clip into the next;
  kept in the clip's cache for every step that works on the clip.

BlazePose's person detector anchors on the face, so close-up, head-and-shoulder footage
(webcam recordings of children reacting to videos) is what it finds best; the lower body is
then off-frame and its points carry a low visibility.

:func:`body_box` is the paper's body crop rule (its code's ``body`` input: the box of the
landmarks seen with visibility above 0.5, grown by 10 % each side) over the 33 pose landmarks
alone; the paper's code takes MediaPipe Holistic's pose landmarks (its hand lines are written
after the pose lines and, read by frame index, do not reach the box). :func:`face_relative_box`
is the model-free fallback: a fixed placement relative to the face box, not a detection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from emobench.errors import EmobenchError
from emobench.prepare.body_model import require_body_model
from emobench.prepare.faces import Box
from emobench.prepare.mediapipe_tasks import ProcessLandmarker, mp_image, track_clip, vision_api

if TYPE_CHECKING:
    from emobench.prepare.step import NativeFrames

N_POINTS = 33
PURPOSE = "pose landmarks"
CACHE_KEY = "pose_points"

# BlazePose's 33 landmarks, in the model's order
POSE_LANDMARKS = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)


def _model_bytes(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _create_landmarker(video: bool) -> Any:
    """A one-person PoseLandmarker in VIDEO or IMAGE mode (no segmentation masks)."""
    _, tasks, vision = vision_api(PURPOSE)
    model = _model_bytes(str(require_body_model()))
    options = vision.PoseLandmarkerOptions(
        base_options=tasks.BaseOptions(model_asset_buffer=model),
        running_mode=vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE,
        num_poses=1,
        output_segmentation_masks=False,
    )
    return vision.PoseLandmarker.create_from_options(options)


def _points(result: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    """The first pose's landmarks as pixel x, y and visibility, or ``None`` without a pose."""
    if not result.pose_landmarks:
        return None
    height, width = shape[:2]
    marks = result.pose_landmarks[0]
    points = np.array(
        [(m.x, m.y, 0.0 if m.visibility is None else m.visibility) for m in marks],
        dtype=np.float32,
    )
    points[:, 0] *= width
    points[:, 1] *= height
    return points


_IMAGE_LANDMARKER = ProcessLandmarker(
    lambda: _create_landmarker(video=False), key=lambda: str(require_body_model())
)


def detect_pose_points(rgb: np.ndarray) -> np.ndarray | None:
    """The pose ``(33, 3)`` float32 (pixel x, y, visibility) of the person in one RGB image,
    or ``None`` when none is found (IMAGE mode: every image is searched afresh)."""
    image = mp_image(rgb, "image", PURPOSE)
    return _points(_IMAGE_LANDMARKER.detect(image), rgb.shape)


def pose_track(clip: NativeFrames) -> list[np.ndarray | None]:
    """The pose of every frame of ``clip`` (``None`` where none is found), tracked in VIDEO
    mode by the clip's timestamps with a landmarker of the clip's own; kept in
    ``clip.cache`` so that every step working on the clip shares the one pass."""
    return track_clip(clip, CACHE_KEY, lambda: _create_landmarker(video=True), _points, PURPOSE)


def _clipped_box(x0: float, y0: float, x1: float, y1: float, shape: tuple[int, ...]) -> Box | None:
    """``(x, y, w, h)`` of the corners clipped to a frame of ``shape``; ``None`` when nothing
    of it lies inside the frame."""
    height, width = shape[:2]
    left, top = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    right, bottom = min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1)))
    if right <= left or bottom <= top:
        return None
    return left, top, right - left, bottom - top


def body_box(
    points: np.ndarray | None,
    shape: tuple[int, ...],
    margin: float = 0.10,
    min_visibility: float = 0.5,
    face_box: Box | None = None,
) -> Box | None:
    """The box ``(x, y, w, h)`` of the landmarks whose visibility is above
    ``min_visibility``, grown by ``margin`` of its width and height on each side and clipped
    to a frame of ``shape``; ``None`` without a pose, with fewer than two such landmarks, or
    when the box lies outside the frame.

    The pose's highest points are the eyes and ears, so on its own the box ends a little above
    the eyes and cuts the top of the head. Given the face's box (``face_box``), the body box
    is grown to hold it too: a body crop with the face blacked out (the paper's ``body``
    input) or kept (``fullbody``) then holds the whole head."""
    if points is None:
        return None
    seen = points[points[:, 2] > min_visibility, :2]
    if len(seen) < 2:
        return None
    x0, y0 = seen.min(axis=0)
    x1, y1 = seen.max(axis=0)
    if x1 - x0 < 1 and y1 - y0 < 1:
        return None
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    x0, y0, x1, y1 = x0 - mx, y0 - my, x1 + mx, y1 + my
    if face_box is not None:
        fx, fy, fw, fh = face_box
        x0, y0, x1, y1 = min(x0, fx), min(y0, fy), max(x1, fx + fw), max(y1, fy + fh)
    return _clipped_box(x0, y0, x1, y1, shape)


# the fallback placement, in face widths / heights (see face_relative_box)
RELATIVE_WIDTH = 3.0
RELATIVE_ABOVE = 0.5
RELATIVE_HEIGHT = 3.5


def face_relative_box(face_box: Box, shape: tuple[int, ...]) -> Box:
    """A body box placed by rule around a face box ``(x, y, w, h)`` — a placement, not a
    detection: where the upper body of a person facing the camera usually is.

    The box is ``RELATIVE_WIDTH`` (3.0) face widths wide, centred on the face, and runs from
    ``RELATIVE_ABOVE`` (0.5) face heights above the top of the face down ``RELATIVE_HEIGHT``
    (3.5) face heights, so it holds the head, the shoulders and the chest to about the
    elbows; clipped to a frame of ``shape``."""
    x, y, w, h = face_box
    if w <= 0 or h <= 0:
        raise EmobenchError(f"face box {face_box}: width and height must be positive")
    cx = x + w / 2
    top = y - RELATIVE_ABOVE * h
    box = _clipped_box(
        cx - RELATIVE_WIDTH * w / 2,
        top,
        cx + RELATIVE_WIDTH * w / 2,
        top + RELATIVE_HEIGHT * h,
        shape,
    )
    if box is None:
        raise EmobenchError(f"face box {face_box} lies outside the {shape[1]}x{shape[0]} frame")
    return box
