"""The ``streams`` step on the small EmoReact world: one clip per stream cut from the same
sampled frames, the body with its face blacked out, masks on the streams that show the face,
frames without a face kept and counted, and a missing pose model named before any work."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from emobench.errors import EmobenchError
from emobench.pack import Pack
from emobench.prepare.person_streams import nearest_boxes, square_box
from emobench.prepare.pipeline import prepare_dataset


def test_square_box_keeps_the_centre_and_stays_inside_the_frame():
    assert square_box((10, 20, 30, 50), (200, 200, 3)) == (0, 20, 50, 50)
    assert square_box((50, 50, 20, 10), (200, 200, 3)) == (50, 45, 20, 20)
    assert square_box((180, 180, 40, 40), (200, 200, 3)) == (160, 160, 40, 40)
    assert square_box((0, 0, 300, 100), (120, 160, 3)) == (40, 0, 120, 120)


def test_nearest_boxes_fill_frames_without_a_face_from_the_closest_frame():
    a, b = (1, 1, 5, 5), (9, 9, 5, 5)
    assert nearest_boxes([a, None, None, b], (50, 50, 3)) == ([a, a, b, b], "nearest")
    assert nearest_boxes([a, b], (50, 50, 3)) == ([a, b], "landmarks")
    assert nearest_boxes([None, None], (40, 60, 3)) == ([(0, 0, 60, 40)] * 2, "whole-frame")


def test_face_and_body_streams_from_the_pose_model(emoreact_pack):
    pack = Pack(emoreact_pack)
    face, body = (pack.get(f"{s}/frames", 0) for s in ("face", "body"))
    assert face.shape == body.shape == (10, 112, 112, 3)
    assert "fullbody/frames" not in pack.keys  # only the streams asked for
    samples = pack.samples
    assert samples["face_found_share"].mean() > 0.95  # MediaPipe finds the drawn faces
    assert set(samples["body_box_source"]) <= {"pose", "face-relative", "pose+face-relative"}
    assert (samples["body_pose_share"] > 0).any()  # the pose model ran and found bodies
    # the face box is blacked out inside every body crop, never in the face crop
    assert all((pack.get("body/frames", i).max(axis=-1) == 0).mean() > 0.05 for i in range(4))
    assert (face.max(axis=-1) == 0).mean() < 0.01
    assert pack.steps["streams"]["streams"] == "face,body,scene"
    assert pack.steps["frames"]["frames"] == 10  # sampling comes from the frames step
    for stream in ("face", "body", "scene"):  # and is recorded where the protocols check it
        attrs = pack.array_attrs(f"{stream}/frames")
        assert (attrs["frames"], attrs["stride"], attrs["stream"]) == (10, 0, stream)


def test_masks_reach_the_streams_that_show_the_face(emoreact_levels_pack):
    pack = Pack(emoreact_levels_pack)
    levels = ("full", "nose_exposed", "chin_only")
    for stream in ("face", "scene"):
        assert {f"{stream}_{c}/frames" for c in levels} <= set(pack.keys)
        plain, full = pack.get(f"{stream}/frames", 0), pack.get(f"{stream}_full/frames", 0)
        assert plain.shape == full.shape and not np.array_equal(plain, full)
    assert not any(k.startswith("body_") for k in pack.keys)  # the face is blacked out there
    assert pack.array_attrs("face_full/frames")["variant_of"] == "face/frames"
    samples = pack.samples
    assert (samples["mask_frames_share"] > 0.9).all()
    assert samples["mask_face_covered_full"].mean() > samples["mask_face_covered_chin_only"].mean()
    assert "mask=surgical/levels" in pack.attrs["variant"]


def test_a_clip_without_a_face_is_kept_and_counted_or_skipped_when_asked(
    emoreact_raw, tmp_path, body_model
):
    raw = tmp_path / "raw"
    shutil.copytree(emoreact_raw, raw)
    video = sorted(raw.rglob("Data/Train/*.mp4"))[0]
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 25, (224, 224))
    for _ in range(20):
        writer.write(np.full((224, 224, 3), 90, np.uint8))
    writer.release()
    options = {"streams": "face", "body_box": "face-relative", "frames": 3}
    kept = prepare_dataset("emoreact", raw, tmp_path / "kept.h5", options=options)
    samples = Pack(kept.pack).samples.set_index("id")
    assert samples.loc[video.stem, "face_found_share"] == 0.0
    assert samples.loc[video.stem, "face_box_source"] == "whole-frame"
    strict = {**options, "min_face_share": 0.5}
    skipped = prepare_dataset("emoreact", raw, tmp_path / "skip.h5", options=strict)
    (skip,) = skipped.skipped
    assert skip.sample_id == video.stem and "a face was found in 0 of 3" in skip.reason


def test_a_missing_pose_model_is_one_error_saying_what_to_run(emoreact_raw, tmp_path, monkeypatch):
    monkeypatch.setenv("EMOBENCH_HOME", str(tmp_path / "empty-home"))
    with pytest.raises(EmobenchError, match="emobench setup body-model"):
        prepare_dataset("emoreact", emoreact_raw, tmp_path / "p.h5")
    assert not (tmp_path / "p.h5").exists()
