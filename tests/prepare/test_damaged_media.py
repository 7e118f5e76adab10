"""Damaged media become listed skips that name the file (and fail ``--strict``), never frames
sampled from what happens to decode, and never a traceback. Every damaged file is built here
from a miniature."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from emobench.datasets.dfew import DfewAdapter
from emobench.errors import InputError
from emobench.pack import Pack
from emobench.prepare import step as step_module
from emobench.prepare.frames import sample_video
from emobench.prepare.pipeline import StrictModeError, prepare_dataset
from emobench.prepare.video import ClipFrames, jpeg_problem, read_image

FACE_VIDEO = Path("Data/face video")


def _as_avi(mp4: Path) -> Path:
    """The same clip re-encoded as Motion-JPEG AVI beside it (the mp4 removed)."""
    cap = cv2.VideoCapture(str(mp4))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    avi = mp4.with_suffix(".avi")
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(avi), cv2.VideoWriter_fourcc(*"MJPG"), 25, (w, h))
    for frame in frames:
        writer.write(frame)
    writer.release()
    mp4.unlink()
    return avi


def _cut(path: Path, share: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * share)])


def test_a_video_cut_in_half_is_skipped_not_sampled_from_its_first_half(emer_copy, tmp_path):
    mp4 = sorted((emer_copy / FACE_VIDEO).glob("*.mp4"))[0]
    avi = _as_avi(mp4)
    whole = sample_video(avi, t=8, size=32)
    assert whole.source_frames == 45 and not whole.padded
    _cut(avi, 0.5)
    with pytest.raises(InputError, match=r"decoded 22 of 45 declared frames \(cut short"):
        sample_video(avi, t=8, size=32)

    report = prepare_dataset("emer", emer_copy, tmp_path / "p.h5")
    (skip,) = report.skipped
    assert skip.sample_id == mp4.stem
    assert skip.path == (FACE_VIDEO / avi.name).as_posix()
    assert "decoded 22 of 45 declared frames" in skip.reason
    assert mp4.stem not in set(Pack(report.pack).samples["id"])
    with pytest.raises(StrictModeError, match=f"{avi.name}: {mp4.stem}: decoded 22 of 45"):
        prepare_dataset("emer", emer_copy, tmp_path / "strict.h5", strict=True)
    assert not (tmp_path / "strict.h5").exists()


def test_a_container_a_frame_long_is_still_sampled_over_the_frames_that_decode(tmp_path):
    """Within ``declared_slack`` the old behaviour holds: the clip is re-sampled over the
    frames that decode (some containers estimate their length)."""
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (32, 32))
    for i in range(40):
        writer.write(np.full((32, 32, 3), i * 6, np.uint8))
    writer.release()
    whole = path.read_bytes()
    for share in np.arange(0.99, 0.9, -0.01):  # cut off the index and the last frame or two
        path.write_bytes(whole[: int(len(whole) * share)])
        with ClipFrames(path) as clip:
            declared, decoded = clip.declared, clip.length()
        if declared > decoded:
            break
    assert 0 < declared - decoded <= 2
    sampled = sample_video(path, t=40, size=8)  # wants every declared frame, the last too
    assert sampled.source_frames == decoded and sampled.padded
    assert sampled.indices == tuple(int((k + 0.5) * decoded / 40) for k in range(40))


def test_frames_of_a_video_are_named_one_based_like_the_sheets(tmp_path):
    path = tmp_path / "ten.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (16, 16))
    for _ in range(10):
        writer.write(np.zeros((16, 16, 3), np.uint8))
    writer.release()
    with ClipFrames(path) as clip:
        assert sorted(clip.read([0, 9])) == [0, 9]
        with pytest.raises(InputError, match="decoded 10 of 10 declared frames; frame 13 is not"):
            clip.read([12])


def test_a_jpeg_cut_short_is_named_not_grey_filled(dfew_raw, tmp_path):
    raw = tmp_path / "dfew"
    shutil.copytree(dfew_raw, raw)
    samples, _ = DfewAdapter(raw).scan()
    victim = samples[3]
    folder = raw / victim.media["face_frames_dir"]
    frames = sorted(folder.iterdir())
    for frame in frames:  # whichever frames are sampled, they are cut
        _cut(frame, 1 / 3)
    assert cv2.imread(str(frames[0])) is not None  # libjpeg alone would pass it, grey-filled
    with pytest.raises(InputError, match=f"{frames[0].name}: JPEG is cut short"):
        read_image(frames[0])

    report = prepare_dataset("dfew", raw, tmp_path / "d.h5")
    (skip,) = report.skipped
    assert skip.sample_id == victim.id
    assert skip.path.startswith(victim.media["face_frames_dir"] + "/")
    assert skip.path.endswith(".jpg") and "JPEG is cut short" in skip.reason
    with pytest.raises(StrictModeError, match="JPEG is cut short"):
        prepare_dataset("dfew", raw, tmp_path / "strict.h5", strict=True)


def test_the_end_of_image_marker_is_looked_for_after_the_last_scan():
    ok, encoded = cv2.imencode(".jpg", np.full((24, 24, 3), 90, np.uint8))
    data = encoded.tobytes()
    assert jpeg_problem(data) is None
    assert jpeg_problem(data + b"trailer bytes") is None  # data after the image is allowed
    assert "cut short" in jpeg_problem(data[:-2])
    thumbnail_eoi = data[:2] + b"\xff\xe1\x00\x04\xff\xd9" + data[2:-2]  # an EOI before the scan
    assert "cut short" in jpeg_problem(thumbnail_eoi)
    assert jpeg_problem(b"\x89PNG not a jpeg") is None  # left to the decoder


def test_an_unexpected_error_in_a_step_is_a_listed_skip_naming_the_file(
    emer_copy, tmp_path, monkeypatch
):
    eyes = step_module.STEPS.get("eyes")
    real_run = type(eyes).run
    victim = sorted(p.stem for p in (emer_copy / "Data/eye_movement data").iterdir())[5]

    def run(self, root, sample, settings, used):
        if sample.id == victim:
            return {}["not a key"]  # a bug inside a step: KeyError
        return real_run(self, root, sample, settings, used)

    monkeypatch.setattr(type(eyes), "run", run)
    report = prepare_dataset("emer", emer_copy, tmp_path / "p.h5")
    (skip,) = report.skipped
    assert skip.sample_id == victim
    assert skip.path.startswith("Data/eye_movement data/" + victim)
    assert skip.reason == "the eyes step failed: KeyError: 'not a key'"
    assert report.n_samples == 179
    with pytest.raises(StrictModeError, match="the eyes step failed: KeyError"):
        prepare_dataset("emer", emer_copy, tmp_path / "strict.h5", strict=True)
