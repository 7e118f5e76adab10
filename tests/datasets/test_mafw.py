"""The MAFW adapter: 11 classes, 5 official folds, listed skips and named errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest

from emobench.datasets.mafw import CLASSES, EXCLUDED_UNLISTED, MafwAdapter
from emobench.datasets.registry import dataset_names, get_adapter, get_synth
from emobench.datasets.synth.mafw import write_mafw_miniature
from emobench.errors import InputError
from emobench.pack import Pack
from emobench.prepare.pipeline import prepare_dataset

FRAMES = Path("data/faces")
LISTS = Path("label/no_caption")


@pytest.fixture
def raw(mafw_raw, tmp_path) -> Path:
    dst = tmp_path / "mafw"
    shutil.copytree(mafw_raw, dst)
    return dst


def _list(root: Path, part: str, k: int) -> Path:
    return root / LISTS / f"set_{k}" / f"{part}.txt"


def _relabel(root: Path, stem: str, label: str) -> None:
    for part in ("train", "test"):
        for k in range(1, 6):
            path = _list(root, part, k)
            lines = [
                f"{stem}.mp4 {label}" if line.startswith(f"{stem}.") else line
                for line in path.read_text().splitlines()
            ]
            path.write_text("\n".join(lines) + "\n")


def test_registered() -> None:
    assert "mafw" in dataset_names()
    assert get_adapter("mafw") is MafwAdapter and MafwAdapter.default_frames == 16
    assert get_synth("mafw") is write_mafw_miniature


def test_scan_of_the_miniature(mafw_raw) -> None:
    adapter = MafwAdapter(mafw_raw)
    samples, skips = adapter.scan()
    assert skips == [] and dict(adapter.excluded) == {}
    assert len(samples) == 55
    assert {s.labels["emotion"] for s in samples} == set(CLASSES) and len(CLASSES) == 11
    per_fold = {k: sum(s.annotations["fold"] == k for s in samples) for k in range(1, 6)}
    assert per_fold == dict.fromkeys(range(1, 6), 11)
    for s in samples:
        assert s.subject == s.id and s.media == {"face_frames_dir": f"data/faces/{s.id}"}
    line = _list(mafw_raw, "test", 1).read_text().splitlines()[0]
    stem, label = line.split(" ")
    assert stem.endswith(".mp4") and label in CLASSES
    assert {s.id: s.annotations["fold"] for s in samples}[stem[:-4]] == 1


def test_bad_clips_are_listed_skips(raw) -> None:
    samples, _ = MafwAdapter(raw).scan()
    ids = sorted(s.id for s in samples)
    shutil.rmtree(raw / FRAMES / ids[0])
    _relabel(raw, ids[1], "boredom")
    _relabel(raw, ids[2], "HAPPINESS")  # case-insensitive: fine
    (raw / FRAMES / "99999").mkdir()
    adapter = MafwAdapter(raw)
    samples, skips = adapter.scan()
    reasons = {s.sample_id: (s.path, s.reason) for s in skips}
    assert reasons[ids[0]] == (f"data/faces/{ids[0]}", "frame folder not on disk")
    path, reason = reasons[ids[1]]
    assert path.startswith("label/no_caption/set_") and path.endswith("/test.txt")
    assert "unknown label 'boredom'" in reason
    assert len(skips) == 2 and len(samples) == 53
    assert {s.id: s.labels["emotion"] for s in samples}[ids[2]] == "happiness"
    assert adapter.excluded == {EXCLUDED_UNLISTED: 1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("in_train_and_test", "set_2/test.txt: fold 2: clip\\(s\\) '.*' are in this test list"),
        ("absolute", "set_2/train.txt: line 1: absolute path"),
        ("fold_lacks_clip", "fold 2's training and test lists lack clip"),
        ("no_list", "set_4/test.txt: list file not found"),
    ],
)
def test_bad_lists_are_named_errors(raw, change, message) -> None:
    train, test = _list(raw, "train", 2), _list(raw, "test", 2)
    lines = train.read_text().splitlines()
    if change == "in_train_and_test":
        test.write_text(test.read_text() + lines[0] + "\n")
    elif change == "absolute":
        train.write_text("\n".join(["/mnt/MAFW/data/clips/" + lines[0]] + lines[1:]) + "\n")
    elif change == "fold_lacks_clip":
        train.write_text("\n".join(lines[1:]) + "\n")
    elif change == "no_list":
        _list(raw, "test", 4).unlink()
    with pytest.raises(InputError, match=message):
        MafwAdapter(raw).scan()


def test_release_folder_variants_and_png_frames(raw, tmp_path) -> None:
    (raw / "data" / "faces").rename(raw / "frames")
    (raw / "Train & Test Set" / "single").mkdir(parents=True)
    (raw / "label" / "no_caption").rename(raw / "Train & Test Set" / "single" / "no_caption")
    clip = sorted((raw / "frames").iterdir())[0]
    for jpg in sorted(clip.iterdir()):
        cv2.imwrite(str(jpg.with_suffix(".png")), cv2.imread(str(jpg)))
        jpg.unlink()
    samples, skips = MafwAdapter(raw).scan()
    assert len(samples) == 55 and not skips
    assert samples[0].media["face_frames_dir"] == f"frames/{clip.name}"
    pack = prepare_dataset("mafw", raw, tmp_path / "m.h5", options={"frames": 16})
    assert pack.n_samples == 55
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="frame folder not found"):
        MafwAdapter(tmp_path / "empty").scan()


def test_32_frames_at_stride_2(mafw_raw, tmp_path) -> None:
    report = prepare_dataset(
        "mafw", mafw_raw, tmp_path / "m.h5", options={"frames": 32, "stride": 2}
    )
    pack = Pack(report.pack)
    assert pack.file()["face/frames"].shape[1:] == (32, 112, 112, 3)
    assert pack.steps["frames"] == {"frames": 32, "size": 112, "stride": 2, "decode": "full"}
    assert pack.attrs["variant"] == "frames=32,size=112,stride=2"
    assert pack.array_attrs("face/frames")["stride"] == 2
    n_frames = pack.samples["n_frames"]
    assert report.padded_clips == int((n_frames < 64).sum())
    assert (n_frames >= 64).any()  # the miniature also has clips long enough for the window
