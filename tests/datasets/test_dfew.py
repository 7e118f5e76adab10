"""The DFEW adapter: both release layouts, fold checks, listed skips and named errors."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from emobench.datasets.dfew import (
    CLASSES,
    EXCLUDED_LABEL_0,
    EXCLUDED_UNLISTED,
    LAYOUTS,
    DfewAdapter,
)
from emobench.datasets.registry import dataset_names, get_adapter, get_synth
from emobench.datasets.synth.dfew import write_dfew_miniature
from emobench.errors import EmobenchError, InputError
from emobench.pack import Pack
from emobench.prepare.pipeline import StrictModeError, prepare_dataset

LABELS = Path("data_affine/single_label/label")
DATA = Path("data_affine/single_label/data")


@pytest.fixture
def raw(dfew_raw, tmp_path) -> Path:
    """A private copy of the small DFEW world to damage."""
    dst = tmp_path / "dfew"
    shutil.copytree(dfew_raw, dst)
    return dst


@pytest.fixture(scope="module")
def tim_raw(tmp_path_factory) -> Path:
    """The 16-frame (time-interpolated) release layout of a tiny world."""
    root = tmp_path_factory.mktemp("dfew-16f") / "raw"
    write_dfew_miniature(root, seed=0, per_class=2, label_0=2, layout="clip_224x224_16f")
    return root


def _csv(root: Path, part: str, k: int) -> Path:
    return root / LABELS / f"single_{part}set_{k}.csv"


def _edit(root: Path, edit) -> None:
    """Apply ``edit(table, part, k)`` to every split list."""
    for part in ("train", "test"):
        for k in range(1, 6):
            path = _csv(root, part, k)
            table = pd.read_csv(path, dtype=str)
            edit(table, part, k)
            table.to_csv(path, index=False)


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_registered() -> None:
    assert "dfew" in dataset_names()
    assert get_adapter("dfew") is DfewAdapter and get_adapter("dfew").default_frames == 16
    assert get_synth("dfew") is write_dfew_miniature


def test_scan_of_the_miniature(dfew_raw) -> None:
    adapter = DfewAdapter(dfew_raw)
    samples, skips = adapter.scan()
    assert skips == [] and adapter.layout_found == "data_affine"
    assert dict(adapter.excluded) == {EXCLUDED_LABEL_0: 5}  # counted, not skipped
    assert len(samples) == 70
    assert {s.labels["emotion"] for s in samples} == set(CLASSES)
    folds = pd.Series([s.annotations["fold"] for s in samples]).value_counts().sort_index()
    assert folds.to_dict() == {1: 14, 2: 14, 3: 14, 4: 14, 5: 14}
    for s in samples:
        assert s.source == "dfew" and s.subject == s.id and len(s.id) == 5
        assert s.media == {"face_frames_dir": f"{DATA.as_posix()}/{s.id}"}
        assert 10 <= s.annotations["n_frames"] <= 40
    test_1 = pd.read_csv(_csv(dfew_raw, "test", 1))
    single = test_1[test_1["label"] != 0]
    assert {f"{v:05d}" for v in single["video_name"]} == {
        s.id for s in samples if s.annotations["fold"] == 1
    }
    digest = adapter.source_digest(samples)
    assert digest == DfewAdapter(dfew_raw).source_digest(samples) and len(digest) == 64


def test_bad_clips_are_listed_skips(raw) -> None:
    samples, _ = DfewAdapter(raw).scan()
    ids = sorted(s.id for s in samples)
    shutil.rmtree(raw / DATA / ids[0])  # frames missing
    (raw / DATA / ids[1] / "cover.jpg").write_bytes(b"x")  # a name without a number
    first = raw / DATA / ids[2] / f"{ids[2]}_00001.jpg"
    shutil.copy(first, first.with_name(f"{ids[2]}_1.jpg"))  # frame 1 twice

    def relabel(table, part, k):
        table.loc[table["video_name"].astype(int) == int(ids[3]), "label"] = "9"

    _edit(raw, relabel)
    (raw / DATA / "99999").mkdir()  # a folder no list names: counted, not skipped
    adapter = DfewAdapter(raw)
    samples, skips = adapter.scan()
    reasons = {s.sample_id: (s.path, s.reason) for s in skips}
    assert reasons[ids[0]] == (f"{DATA.as_posix()}/{ids[0]}", "frame folder not on disk")
    assert "without a number in their name: cover.jpg" in reasons[ids[1]][1]
    assert "several frame files carry the same number: [1]" in reasons[ids[2]][1]
    path, reason = reasons[ids[3]]
    assert path.startswith(f"{LABELS.as_posix()}/single_testset_")  # its test list
    assert "label '9' is not a DFEW class" in reason and reason.startswith("line ")
    assert len(skips) == 4 and len(samples) == 66
    assert adapter.excluded[EXCLUDED_UNLISTED] == 1


def test_clip_in_train_and_test_of_a_fold_is_named(raw) -> None:
    test_3 = pd.read_csv(_csv(raw, "test", 3), dtype=str)
    clip = test_3.loc[0, "video_name"]
    train_3 = pd.read_csv(_csv(raw, "train", 3), dtype=str)
    pd.concat([train_3, test_3.iloc[[0]]]).to_csv(_csv(raw, "train", 3), index=False)
    with pytest.raises(
        InputError, match=f"single_testset_3.csv: fold 3: clip\\(s\\) '{int(clip):05d}'"
    ):
        DfewAdapter(raw).scan()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("absolute", "line 2: absolute path '/data/DFEW/00001'"),
        ("not_a_number", "line 2: video_name 'clip-a' is not a clip number"),
        ("missing_list", "single_trainset_4.csv: list file not found"),
        ("no_label_column", "missing column 'label'"),
        ("conflicting_label", "has label"),
        ("fold_lacks_clip", "fold 5's training and test lists lack clip"),
        ("listed_twice", "is listed again"),
    ],
)
def test_bad_lists_are_named_errors(raw, change, message) -> None:
    path = _csv(raw, "train", 4 if change == "missing_list" else 2)
    table = pd.read_csv(path, dtype=str)
    if change == "absolute":
        table.loc[0, "video_name"] = "/data/DFEW/00001"
    elif change == "not_a_number":
        table.loc[0, "video_name"] = "clip-a"
    elif change == "missing_list":
        path.unlink()
    elif change == "no_label_column":
        table = table.rename(columns={"label": "emotion"})
    elif change == "conflicting_label":
        table.loc[0, "label"] = "7" if table.loc[0, "label"] != "7" else "6"
    elif change == "fold_lacks_clip":
        path = _csv(raw, "train", 5)
        table = pd.read_csv(path, dtype=str).iloc[1:]
    elif change == "listed_twice":
        table = pd.concat([table, table.iloc[[0]]])
    if path.exists():
        table.to_csv(path, index=False)
    with pytest.raises(InputError, match=message):
        DfewAdapter(raw).scan()


def test_layouts_detected_or_chosen(raw, tim_raw, tmp_path) -> None:
    with pytest.raises(EmobenchError, match="unknown DFEW layout 'affine'"):
        DfewAdapter(raw, layout="affine")
    with pytest.raises(InputError, match="layout clip_224x224_16f: expected"):
        DfewAdapter(raw, layout="clip_224x224_16f").scan()
    with pytest.raises(InputError, match="layout data_affine"):
        DfewAdapter(tim_raw, layout="data_affine").scan()
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no DFEW layout found"):
        DfewAdapter(tmp_path / "empty").scan()
    with pytest.raises(InputError, match="raw DFEW folder not found"):
        DfewAdapter(tmp_path / "nowhere")
    # --src may be the single_label folder itself
    samples, skips = DfewAdapter(raw / "data_affine" / "single_label").scan()
    assert len(samples) == 70 and not skips
    assert samples[0].media["face_frames_dir"] == f"data/{samples[0].id}"
    assert set(LAYOUTS) == {"data_affine", "clip_224x224_16f", "clip_224x224"}


def test_the_16_frame_release(tim_raw, tmp_path) -> None:
    adapter = DfewAdapter(tim_raw)
    samples, skips = adapter.scan()
    assert adapter.layout_found == "clip_224x224_16f" and not skips
    assert len(samples) == 14 and dict(adapter.excluded) == {EXCLUDED_LABEL_0: 2}
    assert all(s.annotations["n_frames"] == 16 for s in samples)
    assert samples[0].media["face_frames_dir"] == f"Clip/clip_224x224_16f/{samples[0].id}"
    # the same world in the official layout: same clips, labels and folds
    affine = tmp_path / "affine"
    write_dfew_miniature(affine, seed=0, per_class=2, label_0=2)
    again, _ = DfewAdapter(affine).scan()
    assert [(s.id, s.labels, s.annotations["fold"]) for s in again] == [
        (s.id, s.labels, s.annotations["fold"]) for s in samples
    ]
    # other spellings of the split folders
    split = tim_raw / "EmoLabel_DataSplit"
    copy = tmp_path / "renamed"
    shutil.copytree(tim_raw, copy)
    (copy / split.name / "train(single_labeled)").rename(copy / split.name / "train_single-labeled")
    (copy / split.name / "test(single_labeled)").rename(copy / split.name / "test_single-labeled")
    assert len(DfewAdapter(copy).scan()[0]) == 14


def test_frames_are_ordered_by_number_not_by_name(tim_raw, tmp_path) -> None:
    """``10.jpg`` sorts before ``2.jpg`` as text; the pack must hold frames 1..16 in order."""
    pack = tmp_path / "tim.h5"
    prepare_dataset("dfew", tim_raw, pack, options={"frames": 16, "size": 112})
    p = Pack(pack)
    sid = p.samples["id"][0]
    folder = tim_raw / "Clip/clip_224x224_16f" / sid
    expected = [
        cv2.cvtColor(cv2.imread(str(folder / f"{n}.jpg")), cv2.COLOR_BGR2RGB) for n in range(1, 17)
    ]
    assert np.array_equal(p.get("face/frames", 0), np.stack(expected))
    assert p.attrs["variant"] == "frames=16,size=112"


def test_prepare_reports_padding_exclusions_and_stays_read_only(dfew_raw, tmp_path) -> None:
    before = _digests(dfew_raw)
    report = prepare_dataset(
        "dfew", dfew_raw, tmp_path / "d.h5", options={"frames": 16}, strict=True
    )
    assert _digests(dfew_raw) == before  # the raw folder is only read
    assert report.excluded == {EXCLUDED_LABEL_0: 5} and not report.skipped  # strict passes
    samples = Pack(report.pack).samples
    assert report.padded_clips == int((samples["n_frames"] < 16).sum()) > 0
    assert Pack(report.pack).attrs["excluded"] == f'{{"{EXCLUDED_LABEL_0}": 5}}'
    strided = prepare_dataset(
        "dfew", dfew_raw, tmp_path / "s.h5", options={"frames": 8, "stride": 3}
    )
    assert strided.padded_clips == int((samples["n_frames"] < 24).sum())


def test_corrupt_or_empty_jpegs_are_skipped_at_prepare_and_fail_strict(raw, tmp_path) -> None:
    samples, _ = DfewAdapter(raw).scan()
    bad = sorted(s.id for s in samples)[:2]
    for sid, content in zip(bad, (b"", b"\xff\xd8 not a jpeg"), strict=True):
        for frame in (raw / DATA / sid).iterdir():
            frame.write_bytes(content)
    report = prepare_dataset("dfew", raw, tmp_path / "d.h5", options={"frames": 16})
    assert {s.sample_id for s in report.skipped} == set(bad)
    assert all("does not decode (empty or corrupt)" in s.reason for s in report.skipped)
    assert all(s.path.startswith(f"{DATA.as_posix()}/") for s in report.skipped)
    assert report.n_samples == 68
    with pytest.raises(StrictModeError, match="would be skipped:\n.*does not decode"):
        prepare_dataset("dfew", raw, tmp_path / "e.h5", options={"frames": 16}, strict=True)
    assert not (tmp_path / "e.h5").exists()
