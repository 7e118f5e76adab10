"""The EMER miniature: official layout, byte-identical per seed, and the paper's ER/FER gap."""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections import Counter
from pathlib import Path

import cv2
import openpyxl
import pandas as pd
import pytest

from emobench.datasets.synth.emer import (
    LABEL_SHEET_COLUMNS,
    THREE_CLASS,
    TOBII_COLUMNS,
    plan_emer_samples,
    write_emer_miniature,
)
from emobench.errors import EmobenchError, InputError

CLASSES_7 = {"Happiness", "Sadness", "Fear", "Surprise", "Disgust", "Anger", "Neutral"}
CLASSES_3 = {"Positive", "Negative", "Neutral"}
ID_PATTERN = re.compile(r"\d+_(film|sport)_(happy|sad|fear|surprise|disgust|anger|neutral)")
MOVEMENT_TYPES = {"Fixation", "Saccade", "EyesNotFound", "Unclassified"}
SMALL = {"subjects": 10, "samples_per_subject": 2}


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def worlds(tmp_path_factory) -> dict[str, tuple[Path, dict, list]]:
    base = tmp_path_factory.mktemp("emer-synth")
    out = {}
    for name, seed in (("a", 0), ("b", 0), ("other", 1)):
        calls: list[tuple[int, int]] = []
        root = base / name / "raw"
        summary = write_emer_miniature(
            root, seed=seed, progress=lambda d, t, c=calls: c.append((d, t)), **SMALL
        )
        out[name] = (root, summary, calls)
    return out


def test_official_layout_is_written(worlds) -> None:
    root, summary, calls = worlds["a"]
    ids = [line.split("\t")[0] for line in _split_lines(root)]
    assert summary["n_samples"] == 20 and summary["n_subjects"] == 10
    assert len(ids) == len(set(ids)) == 20
    for sample_id in ids:
        assert re.fullmatch(
            r"\d+_(film|sport)_(happy|sad|fear|surprise|disgust|anger|neutral)", sample_id
        )
        assert (root / "Data" / "face video" / f"{sample_id}.mp4").is_file()
        assert (root / "Data" / "eye_movement data" / f"{sample_id}.tsv").is_file()
    assert (root / "Labels" / "EMER_label.xlsx").is_file()
    assert sorted(_digests(root)) == summary["files"]
    assert not list(root.parent.glob(".*partial*"))  # staging folder renamed away
    assert calls == [(i, 20) for i in range(1, 21)]


def test_same_seed_gives_identical_bytes(worlds) -> None:
    assert _digests(worlds["a"][0]) == _digests(worlds["b"][0])


def test_different_seed_gives_different_files(worlds) -> None:
    a, other = _digests(worlds["a"][0]), _digests(worlds["other"][0])
    assert a["Labels/EMER_label.xlsx"] != other["Labels/EMER_label.xlsx"]
    videos = [name for name in a if name.endswith(".mp4") and name in other]
    assert all(a[name] != other[name] for name in videos)


def test_label_sheet_columns_and_values(worlds) -> None:
    root = worlds["a"][0]
    workbook = openpyxl.load_workbook(root / "Labels" / "EMER_label.xlsx", read_only=True)
    assert workbook.sheetnames[0] == "labels"
    df = pd.read_excel(root / "Labels" / "EMER_label.xlsx", sheet_name=0)
    assert tuple(df.columns) == LABEL_SHEET_COLUMNS == (
        "ID", "Subject", "ER_7", "ER_3", "ER_Valence", "ER_Arousal",
        "FER_7", "FER_3", "FER_Valence", "FER_Arousal", "FER_Intensity",
    )  # fmt: skip
    assert len(df) == 20
    assert set(df.ER_7) <= CLASSES_7 and set(df.FER_7) <= CLASSES_7
    assert set(df.ER_3) <= CLASSES_3 and set(df.FER_3) <= CLASSES_3
    for column in ("ER_Valence", "ER_Arousal", "FER_Valence", "FER_Arousal"):
        assert df[column].between(-1.0, 1.0).all()
    assert df.FER_Intensity.between(0.0, 3.0).all()
    assert ((df.FER_Intensity == 0.0) == (df.FER_7 == "Neutral")).all()
    assert (df.Subject == df.ID.str.split("_").str[0].astype(int)).all()


def test_xlsx_carries_no_timestamps(worlds) -> None:
    path = worlds["a"][0] / "Labels" / "EMER_label.xlsx"
    with zipfile.ZipFile(path) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        core = archive.read("docProps/core.xml").decode()
    assert "2024-01-01T00:00:00Z" in core


def _split_lines(root: Path) -> list[str]:
    lines = (root / "Labels" / "emer_set.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# EMER 5-fold split: <ID> <set>"
    return lines[1:]


def test_split_is_five_subject_disjoint_folds(worlds) -> None:
    folds_of_subject: dict[str, set[int]] = {}
    for line in _split_lines(worlds["a"][0]):
        sample_id, fold = line.split("\t")
        folds_of_subject.setdefault(sample_id.split("_")[0], set()).add(int(fold))
    assert all(len(folds) == 1 for folds in folds_of_subject.values())
    assert Counter(next(iter(f)) for f in folds_of_subject.values()) == {k: 2 for k in range(1, 6)}


def test_videos_decode_with_the_release_format(worlds) -> None:
    root = worlds["a"][0]
    for video in sorted((root / "Data" / "face video").glob("*.mp4"))[:4]:
        capture = cv2.VideoCapture(str(video))
        assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(15.0)
        frames = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
        capture.release()
        assert len(frames) == 45
        assert frames[0].shape == (128, 128, 3)


def test_tobii_export_parses_with_pandas(worlds) -> None:
    root = worlds["a"][0]
    for table in sorted((root / "Data" / "eye_movement data").glob("*.tsv"))[:4]:
        df = pd.read_csv(table, sep="\t")
        assert tuple(df.columns) == TOBII_COLUMNS
        sample_id = table.stem
        assert (df["Recording name"] == sample_id).all()
        assert (df["Participant name"].astype(str) == sample_id.split("_")[0]).all()
        assert (df["Sensor"] == "Eye Tracker").all()
        t = df["Recording timestamp [ms]"]
        assert t.dtype.kind == "i" and t.iloc[0] == 0 and t.is_monotonic_increasing
        assert 3000 <= t.iloc[-1] <= 3200
        lost = (df["Validity left"] == "Invalid") & (df["Validity right"] == "Invalid")
        assert (df["Gaze point X [DACS px]"].isna() == lost).all()
        assert (df["Pupil diameter left [mm]"].isna() == (df["Validity left"] == "Invalid")).all()
        assert set(df["Eye movement type"]) <= {
            "Fixation",
            "Saccade",
            "EyesNotFound",
            "Unclassified",
        }
        fixation = df["Eye movement type"] == "Fixation"
        assert (df["Fixation point X [DACS px]"].notna() == fixation).all()
        assert df["Eye movement type index"].min() == 1


def test_default_world_has_the_papers_gap_and_balanced_classes() -> None:
    samples = plan_emer_samples()
    assert len(samples) == 180
    disagreement = sum(s.er7 != s.fer7 for s in samples) / len(samples)
    assert disagreement == pytest.approx(0.3, abs=0.03)
    assert sum(s.er7 == s.stimulus for s in samples) / len(samples) == pytest.approx(0.9, abs=0.03)
    counts = Counter(s.er7 for s in samples)
    assert set(counts) == CLASSES_7 and max(counts.values()) - min(counts.values()) <= 2
    masked = [s for s in samples if s.er7 != s.fer7]
    assert sum(s.fer7 in ("Happiness", "Neutral") for s in masked) / len(masked) > 0.6
    off_mapping = [
        s for s in samples if s.er3 != THREE_CLASS[s.er7] or s.fer3 != THREE_CLASS[s.fer7]
    ]
    assert 1 <= len(off_mapping) <= 0.06 * len(samples)
    assert len({s.id for s in samples}) == 180


def test_refuses_a_non_empty_output_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        write_emer_miniature(tmp_path, **SMALL)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_refuses_impossible_sizes(tmp_path: Path) -> None:
    with pytest.raises(EmobenchError, match="samples_per_subject"):
        write_emer_miniature(tmp_path / "x", subjects=10, samples_per_subject=8)
    with pytest.raises(EmobenchError, match="subjects"):
        write_emer_miniature(tmp_path / "y", subjects=3, samples_per_subject=2)
