"""The masked-expression adapter and the coding-sheet helpers it shares with CASME II."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pandas as pd
import pytest

from emobench.datasets.coding_sheet import (
    check_phases,
    frame_number,
    list_numbered_frames,
    parse_column_mapping,
    parse_frame_number,
)
from emobench.datasets.masked import CLASSES, COLUMNS, MaskedAdapter
from emobench.datasets.registry import dataset_names, get_adapter
from emobench.datasets.synth.masked import write_masked_miniature
from emobench.errors import EmobenchError, InputError


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("masked-adapter") / "raw"
    write_masked_miniature(root, seed=0, subjects=1)
    return root


@pytest.fixture
def raw(world, tmp_path) -> Path:
    """A private copy to damage."""
    dst = tmp_path / "masked"
    shutil.copytree(world, dst)
    return dst


def _sheet(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "coding.csv", dtype=str, keep_default_na=False)


def _save(root: Path, sheet: pd.DataFrame) -> None:
    sheet.to_csv(root / "coding.csv", index=False)


def _skips_by_id(skips) -> dict[str, list]:
    out: dict[str, list] = {}
    for skip in skips:
        out.setdefault(skip.sample_id, []).append(skip)
    return out


def test_registered() -> None:
    assert "masked" in dataset_names()
    assert get_adapter("masked") is MaskedAdapter


def test_scan_of_the_miniature(world) -> None:
    adapter = MaskedAdapter(world)
    samples, skips = adapter.scan()
    assert skips == [] and adapter.unknown_columns == []
    assert len(samples) == 12
    s = samples[0]
    assert s.id == f"{s.subject}_{s.media['face_frames_dir'].split('/')[1]}"
    assert s.source == "masked"
    assert s.media["face_frames_dir"].startswith(f"{s.subject}/")
    assert set(s.labels) == {"true_emotion", "expression"}
    assert set(s.labels.values()) <= set(CLASSES)
    assert set(s.annotations) == {"onset", "apex", "offset", "n_frames"}
    assert s.annotations["onset"] < s.annotations["apex"] < s.annotations["offset"] <= 24
    assert s.annotations["n_frames"] == 24
    digest = adapter.source_digest(samples)
    assert digest == MaskedAdapter(world).source_digest(samples) and len(digest) == 64


def test_bad_clips_are_listed_skips(raw) -> None:
    sheet = _sheet(raw)
    ids = [f"{r.Subject}_{r.Clip}" for r in sheet.itertuples()]
    sheet.loc[0, "ApexFrame"] = str(int(sheet.loc[0, "OffsetFrame"]) + 1)  # apex after offset
    sheet.loc[1, "OnsetFrame"] = "22"  # onset after offset
    sheet.loc[1, "OffsetFrame"] = "20"
    shutil.rmtree(raw / sheet.loc[2, "Subject"] / sheet.loc[2, "Clip"])  # frames missing
    sheet.loc[3, "TrueEmotion"] = "Contempt"  # not one of the six
    sheet.loc[4, "OffsetFrame"] = "30"  # clip shorter than the sheet says
    (raw / sheet.loc[5, "Subject"] / sheet.loc[5, "Clip"] / "cover.jpg").write_bytes(b"x")
    (raw / sheet.loc[6, "Subject"] / sheet.loc[6, "Clip"] / "img10.jpg").unlink()  # a gap
    sheet.loc[7, "ApexFrame"] = "n/a"
    sheet.loc[8, "Expression"] = "happy"  # a synonym: fine
    sheet.loc[8, "TrueEmotion"] = "SAD"
    _save(raw, sheet)
    samples, skips = MaskedAdapter(raw).scan()
    by_id = _skips_by_id(skips)
    expected = {
        0: "outside onset..offset",
        1: "is after offset frame",
        2: "neither a frame folder nor a video",
        3: "unknown TrueEmotion 'Contempt'",
        4: "clip shorter than the sheet says",
        5: "without a number in their name: cover.jpg",
        6: "frames missing between onset and offset: [10]",
        7: "ApexFrame is 'n/a', not a frame number",
    }
    for row, reason in expected.items():
        (skip,) = by_id[ids[row]]
        assert reason in skip.reason, (row, skip)
        folder = f"{sheet.loc[row, 'Subject']}/{sheet.loc[row, 'Clip']}"
        assert skip.path == ("coding.csv" if row == 3 else folder)
    assert len(skips) == len(expected)
    labels = {s.id: s.labels for s in samples}
    assert labels[ids[8]] == {"true_emotion": "Sadness", "expression": "Happiness"}
    assert len(samples) == 12 - len(expected)


def test_sheet_level_problems_are_skips(raw) -> None:
    sheet = _sheet(raw)
    duplicate = sheet.iloc[[0]]
    sheet = pd.concat([sheet, duplicate], ignore_index=True)
    sheet.loc[1, "Subject"] = ""
    _save(raw, sheet)
    (raw / "sub01" / "extra").mkdir()
    samples, skips = MaskedAdapter(raw).scan()
    reasons = {s.sample_id: s.reason for s in skips}
    first = f"{sheet.loc[0, 'Subject']}_{sheet.loc[0, 'Clip']}"
    assert "listed more than once" in reasons[first]
    assert any("empty subject or clip" in r for r in reasons.values())
    assert reasons["sub01_extra"] == "on disk but not in the coding sheet"
    assert all(s.id != first for s in samples)


def test_videos_are_read_and_counted(raw) -> None:
    sheet = _sheet(raw)
    subject, clip = sheet.loc[0, "Subject"], sheet.loc[0, "Clip"]
    folder = raw / subject / clip
    writer = cv2.VideoWriter(
        str(raw / subject / f"{clip}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25, (96, 96)
    )
    for n in range(1, 25):
        writer.write(cv2.imread(str(folder / f"img{n}.jpg")))
    writer.release()
    shutil.rmtree(folder)
    broken = raw / sheet.loc[1, "Subject"] / f"{sheet.loc[1, 'Clip']}.avi"
    broken.write_bytes(b"not a video")
    shutil.rmtree(raw / sheet.loc[1, "Subject"] / sheet.loc[1, "Clip"])
    samples, skips = MaskedAdapter(raw).scan()
    video = next(s for s in samples if s.id == f"{subject}_{clip}")
    assert video.media == {"face_video": f"{subject}/{clip}.mp4"}
    assert video.annotations["n_frames"] == 24
    (skip,) = skips
    assert skip.path == broken.relative_to(raw).as_posix()
    assert "cannot open the video" in skip.reason


def test_user_column_mapping_and_aliases(raw) -> None:
    sheet = _sheet(raw).rename(
        columns={
            "TrueEmotion": "Context",
            "Expression": "Shown",
            "Subject": "participant",
            "Clip": "Clip ID",
            "OnsetFrame": "onset",
        }
    )
    _save(raw, sheet)
    with pytest.raises(InputError, match="coding.csv: missing required column 'true_emotion'"):
        MaskedAdapter(raw).scan()
    samples, skips = MaskedAdapter(
        raw, columns={"true_emotion": "Context", "expression": "shown"}
    ).scan()
    assert skips == [] and len(samples) == 12
    assert {s.labels["true_emotion"] for s in samples} <= set(CLASSES)
    with pytest.raises(InputError, match="column 'Felt' \\(given for true_emotion\\) not found"):
        MaskedAdapter(raw, columns={"true_emotion": "Felt"}).scan()
    with pytest.raises(EmobenchError, match="does not use"):
        MaskedAdapter(raw, columns={"emotion": "Context"}).scan()
    assert parse_column_mapping("true_emotion=Context, expression=Shown") == {
        "true_emotion": "Context",
        "expression": "Shown",
    }
    with pytest.raises(EmobenchError, match="expected 'name=Header"):
        parse_column_mapping("true_emotion")


def test_every_alias_is_accepted(raw) -> None:
    sheet = _sheet(raw)
    for canon, aliases in COLUMNS.items():
        header = next(c for c in sheet.columns if c == aliases[0])
        for alias in aliases:
            renamed = sheet.rename(columns={header: alias.upper().replace(" ", "_")})
            _save(raw, renamed)
            samples, _ = MaskedAdapter(raw).scan()
            assert len(samples) == 12, (canon, alias)


def test_xlsx_sheet_and_sheet_errors(raw) -> None:
    sheet = _sheet(raw)
    (raw / "coding.csv").unlink()
    with pytest.raises(InputError, match="coding.csv: coding sheet not found"):
        MaskedAdapter(raw).scan()
    sheet.to_excel(raw / "coding.xlsx", index=False)
    samples, skips = MaskedAdapter(raw).scan()
    assert len(samples) == 12 and skips == []
    (raw / "coding.xlsx").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(InputError, match="coding.xlsx: cannot read the coding sheet"):
        MaskedAdapter(raw).scan()
    sheet.drop(columns=["ApexFrame"]).to_excel(raw / "coding.xlsx", index=False)
    with pytest.raises(InputError, match="coding.xlsx: missing required column 'apex'"):
        MaskedAdapter(raw).scan()
    with pytest.raises(InputError, match="not found"):
        MaskedAdapter(raw / "nowhere")


def test_frame_helpers(tmp_path) -> None:
    assert frame_number("img46.jpg") == 46 and frame_number("reg_img7.png") == 7
    assert frame_number("006_05562.jpg") == 5562 and frame_number("cover.jpg") is None
    assert parse_frame_number("46") == 46 and parse_frame_number("46.0") == 46
    assert parse_frame_number("/") is None and parse_frame_number("4.5") is None
    for name in ("img3.jpg", "img1.jpg", "img10.jpg", "img2.jpg", ".hidden1.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    listing = list_numbered_frames(tmp_path)
    assert listing.numbers == (1, 2, 3, 10) and listing.problem() is None
    assert listing.names == ("img1.jpg", "img2.jpg", "img3.jpg", "img10.jpg")
    (tmp_path / "img01.jpg").write_bytes(b"")
    assert "same number: [1]" in list_numbered_frames(tmp_path).problem()
    headers = {"onset": "On", "apex": "Ap", "offset": "Off"}
    row = {"onset": "2", "apex": "3", "offset": "3"}
    assert check_phases(row, headers, [1, 2, 3]) == ({"onset": 2, "apex": 3, "offset": 3}, None)
    _, reason = check_phases({**row, "apex": "/"}, headers, [1, 2, 3])
    assert reason == "Ap is '/' (no frame coded), not a frame number"
    _, reason = check_phases({**row, "onset": ""}, headers, [1, 2, 3])
    assert reason == "On is empty, not a frame number"


def test_a_folder_listing_numbers_each_name_as_frame_number_does(tmp_path) -> None:
    """The listing's own loop keeps ``frame_number``'s rule and ``os.path.splitext``'s
    suffix: dots inside a stem, upper-case suffixes, names without a suffix or a number."""
    names = ("a.b12.jpg", "x7y.JPG", "v2.3.png", "cover.jpeg", "noext12", "12.png.txt", ".4.jpg")
    for name in names:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "9.jpg").mkdir()  # a folder is no frame, whatever its name
    listing = list_numbered_frames(tmp_path)
    suffixes = (".jpg", ".jpeg", ".png")
    images = sorted(n for n in names if n[0] != "." and Path(n).suffix.lower() in suffixes)
    assert sorted(listing.names + listing.unnumbered) == images
    assert listing.unnumbered == ("cover.jpeg",)
    numbered = {n: frame_number(n) for n in images if n != "cover.jpeg"}
    assert dict(zip(listing.names, listing.numbers, strict=True)) == numbered
    assert listing.numbers == (3, 7, 12)
