"""The FERV39k adapter: the fixed train/test lists, listed skips and named errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from emobench.datasets.ferv39k import CLASSES, EXCLUDED_UNLISTED, Ferv39kAdapter
from emobench.datasets.registry import dataset_names, get_adapter, get_synth
from emobench.datasets.synth.ferv39k import SCENES, write_ferv39k_miniature
from emobench.errors import InputError

FRAMES = Path("2_ClipsforFaceCrop")
LISTS = Path("All_scenes")


@pytest.fixture
def raw(ferv39k_raw, tmp_path) -> Path:
    dst = tmp_path / "ferv39k"
    shutil.copytree(ferv39k_raw, dst)
    return dst


def _lines(root: Path, part: str) -> list[str]:
    return (root / LISTS / f"{part}_All.csv").read_text().splitlines()


def _write(root: Path, part: str, lines: list[str]) -> None:
    (root / LISTS / f"{part}_All.csv").write_text("\n".join(lines) + "\n")


def test_registered() -> None:
    assert "ferv39k" in dataset_names()
    assert get_adapter("ferv39k") is Ferv39kAdapter and Ferv39kAdapter.default_frames == 16
    assert get_synth("ferv39k") is write_ferv39k_miniature


def test_scan_of_the_miniature(ferv39k_raw) -> None:
    adapter = Ferv39kAdapter(ferv39k_raw)
    samples, skips = adapter.scan()
    assert skips == [] and dict(adapter.excluded) == {}
    assert len(samples) == 2 * 7 * 5
    parts = [s.annotations["partition"] for s in samples]
    assert parts.count("train") == 56 and parts.count("test") == 14
    assert {s.annotations["scene"] for s in samples} == set(SCENES[:2])
    assert {s.labels["emotion"] for s in samples} == set(CLASSES)
    for s in samples:
        scene, label, clip = s.id.split("/")
        assert label == s.labels["emotion"] and len(clip) == 4 and s.subject == s.id
        assert s.media == {"face_frames_dir": f"{FRAMES.as_posix()}/{s.id}"}
    line = _lines(ferv39k_raw, "train")[0]
    assert line.split(" ")[0].count("/") == 2 and line.split(" ")[1] in CLASSES
    assert len(adapter.source_digest(samples)) == 64


def test_bad_clips_are_listed_skips(raw) -> None:
    train = _lines(raw, "train")
    clips = [line.split(" ")[0] for line in train]
    shutil.rmtree(raw / FRAMES / clips[0])
    (raw / FRAMES / clips[1] / "thumb.jpg").write_bytes(b"x")
    train[2] = f"{clips[2]} Contempt"
    train[3] = f"{clips[3]} happy"  # case-insensitive: fine
    _write(raw, "train", train)
    (raw / FRAMES / "Action" / "Sad" / "9999").mkdir()
    adapter = Ferv39kAdapter(raw)
    samples, skips = adapter.scan()
    reasons = {s.sample_id: (s.path, s.reason) for s in skips}
    assert reasons[clips[0]] == (f"{FRAMES.as_posix()}/{clips[0]}", "frame folder not on disk")
    assert "without a number in their name: thumb.jpg" in reasons[clips[1]][1]
    assert reasons[clips[2]] == (
        "All_scenes/train_All.csv",
        "line 3: unknown class 'Contempt' (known: " + ", ".join(CLASSES) + ")",
    )
    assert len(skips) == 3 and len(samples) == 70 - 3
    assert {s.id: s.labels["emotion"] for s in samples}[clips[3]] == "Happy"
    assert adapter.excluded == {EXCLUDED_UNLISTED: 1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("in_both", "test_All.csv: clip\\(s\\) '.*' are in this test list"),
        ("absolute", "train_All.csv: line 1: absolute path '/data/FERV39k/"),
        ("one_field", "line 1: expected '<clip> <label>'"),
        ("twice", "is listed again"),
        ("no_list", "test_All.csv: list file not found"),
    ],
)
def test_bad_lists_are_named_errors(raw, change, message) -> None:
    train, test = _lines(raw, "train"), _lines(raw, "test")
    if change == "in_both":
        test.append(train[0])
    elif change == "absolute":
        train[0] = "/data/FERV39k/2_ClipsforFaceCrop/" + train[0]
    elif change == "one_field":
        train[0] = train[0].split(" ")[0]
    elif change == "twice":
        train.append(train[0])
    _write(raw, "train", train)
    _write(raw, "test", test)
    if change == "no_list":
        (raw / LISTS / "test_All.csv").unlink()
    with pytest.raises(InputError, match=message):
        Ferv39kAdapter(raw).scan()


def test_release_folder_variants(raw, tmp_path) -> None:
    (raw / "4_setups").mkdir()
    (raw / LISTS).rename(raw / "4_setups" / "All_scenes")
    inner = raw / FRAMES / FRAMES.name
    inner.mkdir()
    for scene in SCENES[:2]:
        (raw / FRAMES / scene).rename(inner / scene)
    samples, skips = Ferv39kAdapter(raw).scan()
    assert len(samples) == 70 and not skips
    assert samples[0].media["face_frames_dir"].startswith("2_ClipsforFaceCrop/2_ClipsforFaceCrop/")
    shutil.rmtree(raw / "4_setups")
    with pytest.raises(InputError, match="split-list folder not found"):
        Ferv39kAdapter(raw).scan()
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="frame folder not found"):
        Ferv39kAdapter(tmp_path / "empty").scan()
