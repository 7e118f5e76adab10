"""The CASME II adapter and miniature: release layout and quirks, byte-identical per seed."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from emobench.datasets.casme2 import CLASSES, Casme2Adapter, subject_folder
from emobench.datasets.registry import dataset_names, get_adapter, get_synth
from emobench.datasets.synth.casme2 import (
    N_FRAMES,
    SHEET_FILE,
    SHEET_HEADER,
    write_casme2_miniature,
)
from emobench.errors import InputError

SMALL = {"subjects": 4, "clips_per_subject": 3}


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def worlds(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    base = tmp_path_factory.mktemp("casme2")
    return {
        name: (base / name, write_casme2_miniature(base / name, seed=seed, **SMALL))
        for name, seed in (("a", 0), ("b", 0), ("other", 1))
    }


@pytest.fixture
def raw(worlds, tmp_path) -> Path:
    dst = tmp_path / "casme2"
    shutil.copytree(worlds["a"][0], dst)
    return dst


def _sheet(root: Path) -> pd.DataFrame:
    return pd.read_excel(root / SHEET_FILE, dtype=object)


def _save(root: Path, sheet: pd.DataFrame) -> None:
    sheet.to_excel(root / SHEET_FILE, index=False)


def test_registered() -> None:
    assert "casme2" in dataset_names()
    assert get_adapter("casme2") is Casme2Adapter
    assert get_synth("casme2") is write_casme2_miniature


def test_release_layout_is_written(worlds) -> None:
    root, summary = worlds["a"]
    header = next(openpyxl.load_workbook(root / SHEET_FILE).active.iter_rows(values_only=True))
    assert header == SHEET_HEADER  # two blank spacer columns, as in the release
    sheet = _sheet(root)
    assert len(sheet) == summary["n_samples"] == 12
    assert all(isinstance(v, int) for v in sheet["Subject"])  # a number, folder sub01
    assert set(sheet["Estimated Emotion"]) <= set(CLASSES)
    assert (sheet["ApexFrame"] == "/").sum() == summary["n_uncoded_apex"] == 1
    for row in sheet.itertuples():
        folder = root / "CASME2_RAW_selected" / f"sub{row.Subject:02d}" / row.Filename
        numbers = sorted(int(p.stem[3:]) for p in folder.glob("img*.jpg"))
        assert len(numbers) == N_FRAMES and numbers == list(range(numbers[0], numbers[-1] + 1))
        assert numbers[0] > 1  # absolute numbering from a random first frame
        assert numbers[0] < row.OnsetFrame < row.OffsetFrame <= numbers[-1]
        if row.ApexFrame != "/":
            assert 4 <= row.ApexFrame - row.OnsetFrame <= 8
        assert re.fullmatch(r"EP\d\d_\d\df?", row.Filename)
        assert re.fullmatch(r"\d+(\+\d+)*", row._8)  # Action Units
    assert sorted(_digests(root)) == summary["files"]


def test_same_seed_gives_identical_bytes(worlds) -> None:
    a, b, other = (_digests(worlds[k][0]) for k in ("a", "b", "other"))
    assert a == b
    assert a[SHEET_FILE] != other[SHEET_FILE]


def test_scan_of_the_miniature(worlds) -> None:
    root, _ = worlds["a"]
    adapter = Casme2Adapter(root)
    samples, skips = adapter.scan()
    assert adapter.unknown_columns == []
    (skip,) = skips  # the clip whose apex the sheet leaves uncoded
    assert skip.reason == "ApexFrame is '/' (no frame coded), not a frame number"
    assert skip.path.startswith("CASME2_RAW_selected/sub")
    assert len(samples) == 11
    s = samples[0]
    assert re.fullmatch(r"sub\d\d_EP\d\d_\d\df?", s.id) and s.subject == s.id[:5]
    assert s.media == {"face_frames_dir": f"CASME2_RAW_selected/{s.subject}/{s.id[6:]}"}
    assert s.labels["emotion"] in CLASSES
    a = s.annotations
    assert a["first_frame"] > 1 and a["n_frames"] == N_FRAMES
    assert a["first_frame"] <= a["onset"] <= a["apex"] <= a["offset"]
    assert a["offset"] < a["first_frame"] + N_FRAMES
    assert re.fullmatch(r"\d+(\+\d+)*", a["action_units"])
    assert len(adapter.source_digest(samples)) == 64


def test_bad_clips_are_listed_skips(raw) -> None:
    sheet = _sheet(raw)
    coded = sheet.index[sheet["ApexFrame"] != "/"].tolist()
    ids = {i: f"sub{sheet.loc[i, 'Subject']:02d}_{sheet.loc[i, 'Filename']}" for i in coded}
    folder = {i: raw / "CASME2_RAW_selected" / ids[i][:5] / ids[i][6:] for i in coded}
    r = coded
    sheet.loc[r[0], "ApexFrame"] = sheet.loc[r[0], "OffsetFrame"] + 1
    sheet.loc[r[1], "OnsetFrame"] = sheet.loc[r[1], "OffsetFrame"] + 1
    shutil.rmtree(folder[r[2]])
    sheet.loc[r[3], "Estimated Emotion"] = "contempt"
    sheet.loc[r[4], "OffsetFrame"] = sheet.loc[r[4], "OffsetFrame"] + N_FRAMES
    (folder[r[5]] / "thumbs.jpg").write_bytes(b"")
    sheet.loc[r[6], "Subject"] = "subject one"
    sheet.loc[r[7], "Estimated Emotion"] = "Other"  # a spelling of "others": fine
    _save(raw, sheet)
    samples, skips = Casme2Adapter(raw).scan()
    reasons = {s.sample_id: (s.path, s.reason) for s in skips}
    expected = {
        r[0]: "outside onset..offset",
        r[1]: "is after offset frame",
        r[2]: "frame folder not on disk",
        r[3]: "unknown Estimated Emotion 'contempt'",
        r[4]: "clip shorter than the sheet says",
        r[5]: "without a number in their name: thumbs.jpg",
    }
    for row, reason in expected.items():
        path, got = reasons[ids[row]]
        assert reason in got, (row, got)
        assert path == (SHEET_FILE if row == r[3] else folder[row].relative_to(raw).as_posix())
    bad_subject = next(s for s in skips if "not a subject number" in s.reason)
    assert bad_subject.path == SHEET_FILE
    assert reasons[ids[r[6]]][1] == "on disk but not in the coding sheet"
    assert any("'/'" in reason for _, reason in reasons.values())
    others = next(s for s in samples if s.id == ids[r[7]])
    assert others.labels["emotion"] == "others"
    assert len(samples) == 12 - 8


def test_sheet_errors_and_column_mapping(raw) -> None:
    sheet = _sheet(raw)
    _save(raw, sheet.rename(columns={"Estimated Emotion": "Label"}))
    with pytest.raises(InputError, match=f"{SHEET_FILE}: missing required column 'emotion'"):
        Casme2Adapter(raw).scan()
    samples, _ = Casme2Adapter(raw, columns={"emotion": "Label"}).scan()
    assert len(samples) == 11
    (raw / SHEET_FILE).unlink()
    with pytest.raises(InputError, match=r"CASME2-coding-\*\.xlsx: coding sheet not found"):
        Casme2Adapter(raw).scan()
    (raw / SHEET_FILE).write_bytes(b"garbage")
    with pytest.raises(InputError, match="cannot read the coding sheet"):
        Casme2Adapter(raw).scan()
    shutil.rmtree(raw / "CASME2_RAW_selected")
    _save(raw, sheet)
    with pytest.raises(InputError, match="CASME2_RAW_selected: frame folder not found"):
        Casme2Adapter(raw).scan()


def test_archive_layout_variants(raw) -> None:
    """A doubled CASME2_RAW_selected folder with the sheet inside, as the archive unpacks."""
    inner = raw / "CASME2_RAW_selected"
    nested = raw / "tmp"
    inner.rename(nested)
    inner.mkdir()
    nested.rename(inner / "CASME2_RAW_selected")
    (raw / SHEET_FILE).rename(inner / SHEET_FILE)
    samples, skips = Casme2Adapter(raw).scan()
    assert len(samples) == 11 and len(skips) == 1
    assert samples[0].media["face_frames_dir"].startswith("CASME2_RAW_selected/CASME2_RAW_")


def test_subject_folder() -> None:
    assert subject_folder("1") == subject_folder("01") == subject_folder("sub01") == "sub01"
    assert subject_folder("17.0") == "sub17" and subject_folder("one") is None
