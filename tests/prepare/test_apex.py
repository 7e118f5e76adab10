"""Apex strategies, the apex/clip prepare step and spotting errors, on clips drawn here.

A clip is a drawn face (an ellipse with eyes) whose mouth opens from the onset to a known
apex frame and closes again by the offset, written as numbered images or as a video.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from emobench.errors import EmobenchError, InputError
from emobench.prepare import apex as apex_module
from emobench.prepare import faces as faces_module
from emobench.prepare.apex import (
    ApexResult,
    apex_strategy_names,
    clip_positions,
    find_apex,
    motion_curve,
    prepare_apex_sample,
    register_apex_strategy,
    smooth,
    spotting_errors,
)
from emobench.prepare.video import ClipFrames, to_square_rgb

SIDE = 112


def draw_face(
    openness: float,
    rng: np.random.Generator,
    *,
    jitter: int = 0,
    gain: float = 1.0,
    noise: float = 0.0,
) -> np.ndarray:
    """A BGR face whose mouth height grows with ``openness`` (0..1)."""
    img = np.full((SIDE, SIDE, 3), 60, np.uint8)
    dx, dy = (int(v) for v in rng.integers(-jitter, jitter + 1, 2)) if jitter else (0, 0)
    cx, cy = SIDE // 2 + dx, SIDE // 2 + dy
    cv2.ellipse(img, (cx, cy), (34, 45), 0, 0, 360, (150, 180, 210), -1, cv2.LINE_AA)
    for side in (-1, 1):
        cv2.circle(img, (cx + side * 13, cy - 11), 4, (40, 30, 30), -1, cv2.LINE_AA)
    mouth = (cx, cy + 22)
    cv2.ellipse(img, mouth, (11, int(1 + openness * 13)), 0, 0, 360, (40, 40, 120), -1, cv2.LINE_AA)
    out = img.astype(np.float64) * gain + (rng.normal(0, noise, img.shape) if noise else 0.0)
    return np.clip(out, 0, 255).astype(np.uint8)


def openness_curve(n: int, onset: int, apex: int, offset: int) -> np.ndarray:
    """0 before onset and after offset, rising linearly to 1 at the apex (positions)."""
    t = np.arange(n, dtype=np.float64)
    rise = np.clip((t - onset) / (apex - onset), 0, 1)
    fall = np.clip((offset - t) / (offset - apex), 0, 1)
    return np.where(t <= apex, rise, fall)


def draw_clip(n: int, onset: int, apex: int, offset: int, seed: int = 0, **style) -> list:
    rng = np.random.default_rng(seed)
    return [draw_face(o, rng, **style) for o in openness_curve(n, onset, apex, offset)]


def write_frames(folder: Path, frames: list, first_frame: int = 1) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, frame in enumerate(frames):
        path = folder / f"img{first_frame + i}.png"
        cv2.imwrite(str(path), frame)
        paths.append(path)
    return paths


def write_video(path: Path, frames: list) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (SIDE, SIDE))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture
def clip_folder(tmp_path: Path) -> tuple[list[Path], dict]:
    """30 frames numbered img5..img34; onset at 9, apex at 20, offset at 31 (frame numbers)."""
    first = 5
    sheet = {"onset": 9, "apex": 20, "offset": 31, "first_frame": first}
    frames = draw_clip(30, 9 - first, 20 - first, 31 - first, noise=4.0)
    return write_frames(tmp_path / "sub01" / "EP01", frames, first), sheet


def test_strategies_are_registered_and_names_unique() -> None:
    assert {"annotated", "motion", "motion-flow"} <= set(apex_strategy_names())
    with pytest.raises(ValueError, match="registered twice"):
        register_apex_strategy("motion")(lambda query: None)
    with pytest.raises(EmobenchError, match="unknown apex strategy 'landmarks-someday'; known"):
        apex_module.get_apex_strategy("landmarks-someday")


def test_annotated_returns_the_sheets_apex(clip_folder) -> None:
    paths, sheet = clip_folder
    result = find_apex(paths, **sheet, strategy="annotated")
    assert result == ApexResult(index=15, frame_number=20, score=1.0, strategy="annotated")
    assert paths[result.index].name == "img20.png"


@pytest.mark.parametrize(
    ("onset", "apex", "offset", "style"),
    [
        (3, 12, 24, {"noise": 4.0}),
        (2, 8, 22, {"noise": 8.0, "jitter": 2}),
        (5, 19, 27, {"noise": 6.0, "jitter": 1}),
    ],
)
def test_motion_finds_the_known_apex(tmp_path, onset, apex, offset, style) -> None:
    frames = draw_clip(offset + 4, onset, apex, offset, seed=apex, **style)
    paths = write_frames(tmp_path, frames, first_frame=1)
    # sheet numbers are 1-based: position p is frame p + 1
    result = find_apex(paths, onset + 1, onset + 1, offset + 1, 1, strategy="motion")
    assert result.strategy == "motion"
    assert abs(result.frame_number - (apex + 1)) <= 1
    assert result.index == result.frame_number - 1
    assert result.curve.shape == (offset - onset + 1,)
    assert result.score == pytest.approx(result.curve.max())
    assert abs(int(result.curve.argmax()) - (result.index - onset)) <= 1
    x, y, w, h = result.region
    assert result.face_found in (True, False)
    assert x >= 0 and y >= 0 and x + w <= SIDE and y + h <= SIDE


def test_motion_ignores_the_annotated_apex(clip_folder) -> None:
    paths, sheet = clip_folder
    for claimed in (sheet["onset"], sheet["offset"]):
        result = find_apex(paths, **{**sheet, "apex": claimed}, strategy="motion")
        assert abs(result.frame_number - 20) <= 1


def test_motion_uses_the_detected_face_box_or_the_centre(clip_folder, monkeypatch) -> None:
    paths, sheet = clip_folder
    monkeypatch.setattr(faces_module, "detect_face", lambda gray, side: (22, 12, 68, 90))
    result = find_apex(paths, **sheet, strategy="motion")
    assert result.face_found is True
    # the box grows by 10 % on each side and is clipped to the frame
    assert result.region == (15, 3, 82, 108)
    assert abs(result.frame_number - 20) <= 1

    monkeypatch.setattr(faces_module, "detect_face", lambda gray, side: None)
    result = find_apex(paths, **sheet, strategy="motion")
    assert result.face_found is False  # recorded: the central 80 % was used
    assert result.region == (11, 11, 90, 90)
    assert abs(result.frame_number - 20) <= 1


def test_haar_detector_returns_the_largest_face_or_none() -> None:
    blank = np.full((SIDE, SIDE), 128, np.uint8)
    assert faces_module.detect_face(blank) is None
    found = faces_module.detect_face(
        cv2.cvtColor(draw_face(0.0, np.random.default_rng(0)), cv2.COLOR_BGR2GRAY)
    )
    if found is not None:  # the cascade may or may not take a drawn ellipse for a face
        x, y, w, h = found
        assert w > 0 and h > 0 and x + w <= SIDE and y + h <= SIDE


def test_motion_on_a_video_with_lighting_drift(tmp_path) -> None:
    frames = draw_clip(26, 2, 13, 22, noise=4.0)
    frames = [
        np.clip(f.astype(np.float64) * (0.8 + 0.4 * i / 26), 0, 255).astype(np.uint8)
        for i, f in enumerate(frames)
    ]
    video = write_video(tmp_path / "clip.avi", frames)
    result = find_apex(video, 3, 3, 23, 1, strategy="motion")
    assert abs(result.frame_number - 14) <= 1


def test_the_difference_measure_ignores_lighting_and_flow_measures_motion() -> None:
    rng = np.random.default_rng(0)
    still = cv2.cvtColor(draw_face(0.0, rng), cv2.COLOR_BGR2GRAY)
    brighter = np.clip(still.astype(np.float64) * 1.3 + 10, 0, 255).astype(np.uint8)
    opened = cv2.cvtColor(draw_face(1.0, rng), cv2.COLOR_BGR2GRAY)
    lighting, expression = motion_curve([still, brighter, opened], "diff")[1:]
    assert lighting < 0.2 * expression
    flow = motion_curve([still, still, opened], "flow")
    assert flow[0] == 0 and flow[1] < 0.01 < flow[2]
    with pytest.raises(ValueError, match="unknown motion measure"):
        motion_curve([still, opened], "sift")


def test_motion_flow_strategy_runs(clip_folder) -> None:
    paths, sheet = clip_folder
    result = find_apex(paths, **sheet, strategy="motion-flow")
    assert result.strategy == "motion-flow"
    assert sheet["onset"] <= result.frame_number <= sheet["offset"]


def test_smoothing_is_a_centred_moving_average() -> None:
    assert smooth(np.array([0.0, 3.0, 0.0, 0.0, 6.0])).tolist() == pytest.approx(
        [1.5, 1.0, 1.0, 2.0, 3.0]
    )
    assert smooth(np.array([2.0])).tolist() == [2.0]
    assert smooth(np.array([2.0, 4.0])).tolist() == [3.0, 3.0]
    assert smooth(np.array([1.0, 5.0]), window=1).tolist() == [1.0, 5.0]
    with pytest.raises(ValueError, match="odd"):
        smooth(np.array([1.0, 2.0]), window=4)


def test_clip_positions_cover_onset_to_apex() -> None:
    assert clip_positions(4, 18, 8).tolist() == [4, 6, 8, 10, 12, 14, 16, 18]
    assert clip_positions(3, 5, 6).tolist() == [3, 3, 4, 4, 5, 5]  # short: repeats
    assert clip_positions(7, 7, 3).tolist() == [7, 7, 7]
    assert clip_positions(2, 9, 1).tolist() == [9]  # one frame: the apex
    with pytest.raises(ValueError):
        clip_positions(5, 4, 3)


@pytest.mark.parametrize("strategy", ["annotated", "motion"])
def test_prepare_apex_sample_cuts_apex_and_onset_clip(clip_folder, strategy) -> None:
    paths, sheet = clip_folder
    arrays, result = prepare_apex_sample(paths, **sheet, strategy=strategy, t=6, size=48)
    assert set(arrays) == {"face/apex", "face/clip"}
    assert arrays["face/apex"].shape == (1, 48, 48, 3)
    assert arrays["face/clip"].shape == (6, 48, 48, 3)
    assert arrays["face/apex"].dtype == arrays["face/clip"].dtype == np.uint8
    assert result.strategy == strategy

    def rgb(frame_number: int) -> np.ndarray:
        image = cv2.imread(str(paths[frame_number - sheet["first_frame"]]))
        return to_square_rgb(image, 48)

    np.testing.assert_array_equal(arrays["face/apex"][0], rgb(result.frame_number))
    np.testing.assert_array_equal(arrays["face/clip"][0], rgb(sheet["onset"]))
    np.testing.assert_array_equal(arrays["face/clip"][-1], rgb(result.frame_number))
    start = sheet["onset"] - sheet["first_frame"]
    expected = clip_positions(start, result.index, 6) + sheet["first_frame"]
    for frame, number in zip(arrays["face/clip"], expected, strict=True):
        np.testing.assert_array_equal(frame, rgb(int(number)))


def test_prepare_apex_sample_from_a_video(tmp_path) -> None:
    frames = draw_clip(20, 2, 9, 16)
    for i, frame in enumerate(frames):
        frame[:16, :16] = (0, 0, 10 * i)  # a red corner numbers the frame
    video = write_video(tmp_path / "clip.avi", frames)
    arrays, result = prepare_apex_sample(video, 3, 10, 17, 1, strategy="annotated", t=4, size=SIDE)
    assert result.index == 9 and result.frame_number == 10
    corner = arrays["face/clip"][:, 6, 6, 0].astype(int)  # RGB after decoding
    np.testing.assert_allclose(corner, [20, 40, 70, 90], atol=6)  # positions 2, 4, 7, 9
    assert abs(int(arrays["face/apex"][0, 6, 6, 0]) - 90) <= 6


def test_errors_name_the_file(clip_folder, tmp_path) -> None:
    paths, sheet = clip_folder
    folder = paths[0].parent
    cases = [
        ({"apex": 32}, "outside onset..offset"),
        ({"apex": 8}, "outside onset..offset"),
        ({"onset": 25, "apex": 25, "offset": 20}, "comes after the offset"),
        ({"offset": 40}, "30 frames on disk"),
        ({"onset": 4, "apex": 6, "first_frame": 5}, "before the first frame on disk"),
    ]
    for change, problem in cases:
        with pytest.raises(InputError, match=problem) as info:
            prepare_apex_sample(paths, **{**sheet, **change}, strategy="annotated", t=4, size=32)
        assert info.value.path == str(folder)

    paths[12].write_bytes(b"not an image")  # img17.png, between onset and apex
    with pytest.raises(InputError, match="img17.png: image does not decode"):
        find_apex(paths, **sheet, strategy="motion")
    with pytest.raises(InputError, match="img17.png: image does not decode"):
        prepare_apex_sample(paths, **sheet, strategy="annotated", t=12, size=32)

    gap = paths[:10] + paths[11:]  # img15.png missing: later numbers shift
    with pytest.raises(InputError, match="not contiguous"):
        find_apex(gap, **sheet)

    short = write_video(tmp_path / "short.avi", draw_clip(10, 1, 4, 8))
    for strategy in ("motion", "annotated"):
        with pytest.raises(
            InputError, match="short.avi: decoded 10 of 10 declared frames; frame 14"
        ):
            prepare_apex_sample(short, 2, 5, 14, 1, strategy=strategy, t=4, size=32)
    with pytest.raises(InputError, match="video file not found"):
        find_apex(tmp_path / "missing.avi", 1, 2, 3)
    with pytest.raises(InputError, match="frame list is empty"):
        find_apex([], 1, 2, 3)
    with pytest.raises(EmobenchError, match="unknown apex strategy 'guess'"):
        prepare_apex_sample(paths, **sheet, strategy="guess", t=4, size=32)


def test_spotting_errors_count_frames_off() -> None:
    errors = spotting_errors(np.array([10, 12, 20, 31, 7]), np.array([10, 11, 22, 27, 7]))
    assert errors == {
        "n": 5,
        "mae": pytest.approx((0 + 1 + 2 + 4 + 0) / 5),
        "within_1": pytest.approx(3 / 5),
        "within_2": pytest.approx(4 / 5),
        "within_3": pytest.approx(4 / 5),
    }
    with pytest.raises(ValueError, match="2 predicted apex frames for 3"):
        spotting_errors(np.array([1, 2]), np.array([1, 2, 3]))
    with pytest.raises(ValueError):
        spotting_errors(np.array([]), np.array([]))


def test_a_large_frame_is_searched_scaled_down_and_the_box_scaled_back(monkeypatch) -> None:
    seen = []

    class Cascade:
        def detectMultiScale(self, image, **kwargs):  # noqa: N802 (OpenCV's name)
            seen.append((image.shape, kwargs["minSize"]))
            return np.array([[40, 20, 60, 80]])  # in the scaled image

    monkeypatch.setattr(faces_module, "_face_cascade", lambda: Cascade())
    box = faces_module.detect_face(np.zeros((480, 640), np.uint8))
    scale = faces_module.FacesSettings.detect_side / 480
    assert seen == [((160, 213), (32, 32))]
    assert box == (round(40 / scale), round(20 / scale), round(60 / scale), round(80 / scale))
    assert faces_module.detect_face(np.zeros((96, 96), np.uint8)) == (40, 20, 60, 80)
    assert seen[-1] == ((96, 96), (20, 20))  # small frames are searched as they are


def test_large_frames_are_decoded_reduced_and_spotted_the_same(clip_folder, tmp_path) -> None:
    """640×480 JPEGs decode at half size when ``size`` and ``MOTION_SIDE`` still fit twice in
    the short side; the apex is the same, and the box is given in the frame's own pixels."""
    paths, sheet = clip_folder
    large = []
    for path in paths:
        image = cv2.resize(cv2.imread(str(path)), (480, 480), interpolation=cv2.INTER_CUBIC)
        image = cv2.copyMakeBorder(image, 0, 0, 80, 80, cv2.BORDER_REPLICATE)
        large.append(tmp_path / "large" / path.with_suffix(".jpg").name)
        large[-1].parent.mkdir(exist_ok=True)
        cv2.imwrite(str(large[-1]), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    clip = ClipFrames(large, min_side=224)
    assert clip.read([0])[0].shape == (240, 320, 3) and clip.reduction == 2
    whole = ClipFrames(large)
    assert whole.read([0])[0].shape == (480, 640, 3) and whole.reduction == 1
    assert ClipFrames(large, min_side=241).read([0])[0].shape == (480, 640, 3)
    arrays, result = prepare_apex_sample(large, **sheet, strategy="motion", t=4, size=112)
    _, small = prepare_apex_sample(paths, **sheet, strategy="motion", t=4, size=112)
    assert arrays["face/apex"].shape == (1, 112, 112, 3)
    assert abs(result.frame_number - small.frame_number) <= 1
    x, y, w, h = result.region
    assert x + w <= 640 and y + h <= 480 and w > 240  # not the reduced frame's pixels
