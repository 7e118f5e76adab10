"""The vt-pairs adapter: the list format (pairs.csv), the unpaired pools and the KTFE-style
naming, on small hand-built folders (images written with cv2 in tmp_path)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from emobench.datasets.paired_captures import natural_key
from emobench.datasets.registry import dataset_names, get_adapter
from emobench.datasets.vt_pairs import CLASSES, VtPairsAdapter, relative_media_path
from emobench.errors import EmobenchError, InputError

HEADER = "subject,capture,visible,thermal,label"


def image(path: Path, side: int = 8, channels: int = 3) -> Path:
    """A small image at ``path`` (parents made); ``.npy`` gets a float matrix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npy":
        np.save(path, np.full((side, side), 34.5, np.float32))
    else:
        shape = (side, side, channels) if channels > 1 else (side, side)
        assert cv2.imwrite(str(path), np.full(shape, 100, np.uint8))
    return path


def pair(root: Path, subject: str, capture: str, label: str) -> str:
    """Write the two images of one capture and return its list row."""
    vis = f"visible/{subject}/{capture}.png"
    th = f"thermal/{subject}/{capture}.png"
    image(root / vis)
    image(root / th, channels=1)
    return f"{subject},{capture},{vis},{th},{label}"


def write_list(root: Path, rows: list[str], header: str = HEADER, encoding="utf-8") -> Path:
    path = root / "pairs.csv"
    path.write_bytes(("\n".join([header, *rows]) + "\n").encode(encoding))
    return path


@pytest.fixture
def raw(tmp_path) -> Path:
    """Four good captures of two subjects, listed s02 before s01 (not sorted)."""
    root = tmp_path / "vt"
    rows = [
        pair(root, "s02", "s02_a", "Happiness"),
        pair(root, "s02", "s02_b", "sad"),
        pair(root, "s01", "s01_a", "ANGRY"),
        pair(root, "s01", "s01_b", "Afraid"),
    ]
    write_list(root, rows)
    return root


def by_id(skips) -> dict:
    return {s.sample_id: s for s in skips}


def test_registered() -> None:
    assert "vt-pairs" in dataset_names()
    assert get_adapter("vt-pairs") is VtPairsAdapter


def test_records_follow_the_spec_in_list_order(raw) -> None:
    adapter = VtPairsAdapter(raw)
    samples, skips = adapter.scan()
    assert skips == [] and adapter.unknown_columns == [] and adapter.notes == []
    assert [s.id for s in samples] == ["s02_a", "s02_b", "s01_a", "s01_b"]
    first = samples[0]
    assert first.subject == "s02" and first.source == "vt-pairs"
    assert dict(first.media) == {
        "visible_image": "visible/s02/s02_a.png",
        "thermal_image": "thermal/s02/s02_a.png",
    }
    assert dict(first.labels) == {"expression": "Happiness"}
    assert dict(first.annotations) == {"capture": "s02_a", "pool": "", "train_only": False}
    assert [s.labels["expression"] for s in samples] == ["Happiness", "Sadness", "Anger", "Fear"]
    assert set(CLASSES) == {
        "Anger",
        "Disgust",
        "Fear",
        "Happiness",
        "Sadness",
        "Surprise",
        "Neutral",
    }


def test_every_bad_row_is_a_listed_skip_naming_row_and_file(raw, tmp_path) -> None:
    outside = image(tmp_path / "outside.png")  # exists, but must never be used
    image(raw / "visible/s03/gif.gif")
    image(raw / "thermal/s03/gif.png")
    (raw / "visible/s03/folder.png").mkdir(parents=True)
    image(raw / "thermal/s03/folder.png")
    rows = (raw / "pairs.csv").read_text().splitlines()[1:]
    rows += [
        pair(raw, "s03", "calm", "calm"),  # row 6: not a class
        f"s03,abs,{outside},thermal/s02/s02_a.png,Happiness",  # row 7
        "s03,win,C:\\data\\x.png,thermal/s02/s02_a.png,Happiness",  # row 8
        "s03,up,../outside.png,thermal/s02/s02_a.png,Happiness",  # row 9
        "s03,novis,visible/s03/none.png,thermal/s02/s02_a.png,Happiness",  # row 10
        "s03,noth,visible/s02/s02_a.png,thermal/s03/none.npy,Happiness",  # row 11
        "s03,empty,,thermal/s02/s02_a.png,Happiness",  # row 12
        pair(raw, "s03", "dup", "Fear"),  # row 13
        pair(raw, "s04", "dup", "Fear"),  # row 14
        "s03,gif,visible/s03/gif.gif,thermal/s03/gif.png,Fear",  # row 15
        "s03,folder,visible/s03/folder.png,thermal/s03/folder.png,Fear",  # row 16
        ",,,,",  # row 17: a blank row is no capture
        "s03,nolabel,visible/s02/s02_a.png,thermal/s02/s02_a.png,",  # row 18
        ",,visible/s02/s02_a.png,thermal/s02/s02_a.png,Fear",  # row 19
    ]
    write_list(raw, rows)
    samples, skips = VtPairsAdapter(raw).scan()
    assert [s.id for s in samples] == ["s02_a", "s02_b", "s01_a", "s01_b"]
    found = by_id(skips)
    expected = {
        "calm": ("pairs.csv", "row 6: label 'calm' is not a class"),
        "abs": ("pairs.csv", "row 7: visible path"),
        "win": ("pairs.csv", "row 8: visible path 'C:/data/x.png' is an absolute path"),
        "up": ("pairs.csv", "row 9: visible path '../outside.png' holds '..'"),
        "novis": ("visible/s03/none.png", "row 10 of pairs.csv: visible file not on disk"),
        "noth": ("thermal/s03/none.npy", "row 11 of pairs.csv: thermal file not on disk"),
        "empty": ("pairs.csv", "row 12: empty cell(s) 'visible'"),
        "gif": ("visible/s03/gif.gif", "row 15 of pairs.csv: visible file suffix '.gif'"),
        "folder": ("visible/s03/folder.png", "row 16 of pairs.csv: visible path is a folder"),
        "nolabel": ("pairs.csv", "row 18: empty cell(s) 'label'"),
        "pairs.csv-row-19": ("pairs.csv", "row 19: empty cell(s) 'subject', 'capture'"),
    }
    for sid, (path, reason) in expected.items():
        assert found[sid].path == path, found[sid]
        assert reason in found[sid].reason, found[sid]
    assert "is an absolute path" in found["abs"].reason and "(not opened)" in found["abs"].reason
    dup = [s for s in skips if s.sample_id == "dup"]
    assert len(dup) == 2, "every row of a duplicated capture id is skipped"
    assert all("capture id 'dup' is on rows 13, 14" in s.reason for s in dup)
    assert {"row 13", "row 14"} == {s.reason.split(":")[0] for s in dup}
    assert len(skips) == len(expected) + 2  # the blank row 17 is neither a sample nor a skip


def test_missing_list_and_missing_columns_are_input_errors(tmp_path, raw) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError) as err:
        VtPairsAdapter(empty).scan()
    assert err.value.path == str(empty / "pairs.csv") and "list file not found" in str(err.value)
    write_list(raw, ["s01,x,a.png,b.png,Fear"], header="Subject,Capture,Visible,Emotion")
    with pytest.raises(InputError) as err:
        VtPairsAdapter(raw).scan()
    assert err.value.path == str(raw / "pairs.csv")
    assert "missing required column(s) thermal" in err.value.problem
    write_list(raw, ["x"], header="who")
    with pytest.raises(InputError, match="subject, capture, visible, thermal, label"):
        VtPairsAdapter(raw).scan()
    write_list(raw, [])
    with pytest.raises(InputError, match="names no capture"):
        VtPairsAdapter(raw).scan()
    (raw / "pairs.csv").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        VtPairsAdapter(raw).scan()


def test_headers_are_matched_loosely_and_columns_maps_yours(raw) -> None:
    text = (raw / "pairs.csv").read_text().splitlines()
    (raw / "pairs.csv").write_text(
        "\n".join(["Participant,Capture ID,RGB,IR,Emotion,Notes", *(r + ",x" for r in text[1:])])
    )
    adapter = VtPairsAdapter(raw)
    samples, skips = adapter.scan()
    assert len(samples) == 4 and skips == [] and adapter.unknown_columns == ["Notes"]
    (raw / "pairs.csv").write_text("\n".join(["who,shot,left,right,feeling", *text[1:]]))
    mapping = {
        "subject": "who",
        "capture": "shot",
        "visible": "left",
        "thermal": "Right",  # matched loosely too
        "label": "feeling",
    }
    samples, _ = VtPairsAdapter(raw, columns=mapping).scan()
    assert [s.id for s in samples] == ["s02_a", "s02_b", "s01_a", "s01_b"]
    with pytest.raises(InputError, match="column 'nope' \\(given for label\\) not found"):
        VtPairsAdapter(raw, columns={**mapping, "label": "nope"}).scan()
    with pytest.raises(EmobenchError, match="does not use"):
        VtPairsAdapter(raw, columns={"emotion": "feeling"})


@pytest.mark.parametrize(
    ("encoding", "note"),
    [("utf-8-sig", None), ("utf-16", "read as utf-16"), ("latin-1", "not UTF-8; read as cp1252")],
)
def test_list_encodings(raw, encoding, note) -> None:
    rows = [pair(raw, "sé01", "sé01_a", "joy")]
    write_list(raw, rows, encoding=encoding)
    adapter = VtPairsAdapter(raw)
    samples, skips = adapter.scan()
    assert skips == [] and [s.subject for s in samples] == ["sé01"]
    assert samples[0].media["visible_image"] == "visible/sé01/sé01_a.png"
    if note is None:
        assert adapter.notes == []
    else:
        assert adapter.notes == [f"pairs.csv: {note}"]


def test_semicolons_backslashes_and_blank_lines(raw) -> None:
    rows = (raw / "pairs.csv").read_text().splitlines()[1:]
    rows = [r.replace(",", ";").replace("/", "\\") for r in rows]
    rows.insert(1, "")  # a blank line keeps the numbering of the rows after it
    rows.append("s09;bad;visible\\none.png;thermal\\none.png;Fear")
    write_list(raw, rows, header=HEADER.replace(",", ";"))
    adapter = VtPairsAdapter(raw)
    samples, skips = adapter.scan()
    assert [s.id for s in samples] == ["s02_a", "s02_b", "s01_a", "s01_b"]
    assert samples[0].media["visible_image"] == "visible/s02/s02_a.png"
    assert adapter.notes == ["pairs.csv: separated by ';'"]
    assert [(s.path, s.reason.split(" of ")[0]) for s in skips] == [("visible/none.png", "row 7")]


def test_relative_media_path() -> None:
    assert relative_media_path(" ./a\\b.png ") == ("a/b.png", None)
    for bad in ("/etc/passwd", "C:/x.png", "c:x.png", "//server/share/x.png", "a/../../b", "."):
        rel, problem = relative_media_path(bad)
        assert rel is None and problem


# ---- pools ----------------------------------------------------------------------------------


def test_pools_are_train_only_single_modality_samples(raw) -> None:
    image(raw / "pools/visible/Happiness/p1.jpg")
    image(raw / "pools/visible/happy/p2.png")  # a synonym folder: canonical id
    image(raw / "pools/thermal/Neutral/t1.npy")
    image(raw / "pools/thermal/Neutral/t2.png", channels=1)
    samples, skips = VtPairsAdapter(raw).scan()
    assert skips == []
    pools = samples[4:]
    assert [s.id for s in pools] == [
        "pool-visible-Happiness-p1",
        "pool-visible-Happiness-p2",
        "pool-thermal-Neutral-t1",
        "pool-thermal-Neutral-t2",
    ]
    first, thermal = pools[0], pools[2]
    assert first.subject == first.id and first.source == "vt-pairs"
    assert dict(first.media) == {"visible_image": "pools/visible/Happiness/p1.jpg"}
    assert dict(first.labels) == {"expression": "Happiness"}
    assert dict(first.annotations) == {
        "capture": "pool-visible-Happiness-p1",
        "pool": "visible",
        "train_only": True,
    }
    assert dict(thermal.media) == {"thermal_image": "pools/thermal/Neutral/t1.npy"}
    assert thermal.annotations["pool"] == "thermal" and thermal.annotations["train_only"]


def test_bad_pool_entries_are_listed_skips(raw) -> None:
    image(raw / "pools/visible/Happiness/ok.png")
    image(raw / "pools/visible/Happiness/bad.gif")
    image(raw / "pools/visible/Happiness/twin.png")
    image(raw / "pools/visible/happy/twin.jpg")
    image(raw / "pools/visible/Contempt/a.png")
    image(raw / "pools/visible/Contempt/b.png")
    image(raw / "pools/visible/loose.png")
    image(raw / "pools/thermal/Fear/t.npy")
    (raw / "pools/thermal/Fear/nested").mkdir()
    (raw / "pools/thermal/Fear/notes.txt").write_text("x")
    image(raw / "pools/rgb/Fear/x.png")
    (raw / "pools/visible/.DS_Store").write_text("hidden files are ignored")
    samples, skips = VtPairsAdapter(raw).scan()
    assert [s.id for s in samples[4:]] == ["pool-visible-Happiness-ok", "pool-thermal-Fear-t"]
    reasons = {s.path: s.reason for s in skips}
    assert (
        "visible file suffix '.gif' is not accepted" in reasons["pools/visible/Happiness/bad.gif"]
    )
    assert (
        "also the id of pools/visible/happy/twin.jpg" in reasons["pools/visible/Happiness/twin.png"]
    )
    assert (
        "also the id of pools/visible/Happiness/twin.png" in reasons["pools/visible/happy/twin.jpg"]
    )
    assert "'Contempt' is not a class" in reasons["pools/visible/Contempt"]
    assert "its 2 file(s) are not read" in reasons["pools/visible/Contempt"]
    assert "class folder" in reasons["pools/visible/loose.png"]
    assert "folder inside a pool class folder" in reasons["pools/thermal/Fear/nested"]
    assert "suffix '.txt'" in reasons["pools/thermal/Fear/notes.txt"]
    assert "only the folders visible/ and thermal/" in reasons["pools/rgb"]
    assert len(skips) == 8


# ---- KTFE-style naming ----------------------------------------------------------------------


def ktfe(root: Path, subject: str, emotion: str, number: str, sides: str = "RT") -> None:
    for side in sides:
        image(root / subject / f"{side}_{emotion}_{number}_KTFE.jpg")


@pytest.fixture
def ktfe_raw(tmp_path) -> Path:
    root = tmp_path / "ktfe"
    for subject in ("p10", "p2"):
        ktfe(root, subject, "Happy", "12")
        ktfe(root, subject, "Happy", "3")
        ktfe(root, subject, "Neutral", "1")
    return root


def test_ktfe_records(ktfe_raw) -> None:
    adapter = VtPairsAdapter(ktfe_raw, layout="ktfe")
    samples, skips = adapter.scan()
    assert skips == [] and adapter.notes == []
    assert [s.id for s in samples] == [
        "p2_Happy_3",
        "p2_Happy_12",
        "p2_Neutral_1",
        "p10_Happy_3",
        "p10_Happy_12",
        "p10_Neutral_1",
    ]
    s = samples[0]
    assert s.subject == "p2" and s.source == "vt-pairs"
    assert dict(s.media) == {
        "visible_image": "p2/R_Happy_3_KTFE.jpg",
        "thermal_image": "p2/T_Happy_3_KTFE.jpg",
    }
    assert dict(s.labels) == {"expression": "Happiness"}
    assert dict(s.annotations) == {"capture": "p2_Happy_3", "pool": "", "train_only": False}


def test_ktfe_bad_pairs_are_listed_skips(ktfe_raw) -> None:
    ktfe(ktfe_raw, "p2", "Sad", "5", sides="R")
    ktfe(ktfe_raw, "p2", "Sad", "6", sides="T")
    ktfe(ktfe_raw, "p2", "Contempt", "7")
    image(ktfe_raw / "p2/R_Fear_8_KTFE.jpg")
    image(ktfe_raw / "p2/R_Fear_8_KTFE.png")
    image(ktfe_raw / "p2/T_Fear_8_KTFE.jpg")
    (ktfe_raw / "p2/readme.txt").write_text("not a pair")
    image(ktfe_raw / "pools/thermal/Fear/t.png")  # pools are read in this layout too
    adapter = VtPairsAdapter(ktfe_raw, layout="ktfe")
    samples, skips = adapter.scan()
    assert len(samples) == 7 and samples[-1].id == "pool-thermal-Fear-t"
    found = by_id(skips)
    assert found["p2_Sad_5"].path == "p2/R_Sad_5_KTFE.jpg"
    assert "visible image without its thermal partner" in found["p2_Sad_5"].reason
    assert found["p2_Sad_6"].path == "p2/T_Sad_6_KTFE.jpg"
    assert "thermal image without its visible partner" in found["p2_Sad_6"].reason
    assert "'Contempt' in the file name is not a class" in found["p2_Contempt_7"].reason
    assert "several visible files" in found["p2_Fear_8"].reason
    assert len(skips) == 4
    assert adapter.notes == [
        "ignored 1 file(s) or folder(s) in subject folders that are not "
        "R_/T_<Emotion>_<id>_KTFE images: p2/readme.txt"
    ]


def test_ktfe_files_without_a_subject_folder_are_an_input_error(tmp_path) -> None:
    root = tmp_path / "flat"
    image(root / "R_Happy_1_KTFE.jpg")
    image(root / "T_Happy_1_KTFE.jpg")
    with pytest.raises(InputError) as err:
        VtPairsAdapter(root, layout="ktfe").scan()
    assert err.value.path == str(root)
    assert "KTFE names carry no subject" in err.value.problem
    assert "<subject>/R_<Emotion>_<id>_KTFE.jpg" in err.value.problem
    # the list layout says where to look
    with pytest.raises(InputError, match="list file not found"):
        VtPairsAdapter(root).scan()
    by_class = tmp_path / "by-class"
    ktfe(by_class, "Happy", "Happy", "1")
    with pytest.raises(InputError) as err:
        VtPairsAdapter(by_class, layout="ktfe").scan()
    assert err.value.path == str(by_class / "Happy") and "named for a class" in err.value.problem
    with pytest.raises(InputError, match="--layout ktfe"):
        VtPairsAdapter(by_class).scan()


def test_ktfe_layout_on_a_folder_without_ktfe_names_is_an_input_error(raw) -> None:
    with pytest.raises(InputError) as err:
        VtPairsAdapter(raw, layout="ktfe").scan()
    assert err.value.path == str(raw) and "no KTFE-named pair" in err.value.problem
    assert "drop --layout ktfe" in err.value.problem


def test_options_are_checked(ktfe_raw, tmp_path) -> None:
    with pytest.raises(EmobenchError, match="unknown vt-pairs layout 'nvie'"):
        VtPairsAdapter(ktfe_raw, layout="nvie")
    with pytest.raises(EmobenchError, match="list layout"):
        VtPairsAdapter(ktfe_raw, layout="ktfe", columns={"label": "Emotion"})
    with pytest.raises(InputError, match="not found"):
        VtPairsAdapter(tmp_path / "absent")
    assert VtPairsAdapter(ktfe_raw, layout="list").layout == "list"


# ---- order and provenance -------------------------------------------------------------------


@pytest.fixture
def reversed_listing(monkeypatch):
    """Make Path.iterdir list every folder in reverse name order (an 'unlucky' file system)."""
    original = Path.iterdir

    def iterdir(self):
        return iter(sorted(original(self), key=lambda p: p.name, reverse=True))

    def scan_all(make):
        monkeypatch.setattr(Path, "iterdir", original)
        plain = make().scan()
        monkeypatch.setattr(Path, "iterdir", iterdir)
        flipped = make().scan()
        monkeypatch.setattr(Path, "iterdir", original)
        return plain, flipped

    return scan_all


def test_order_never_depends_on_the_listing_order(raw, ktfe_raw, reversed_listing) -> None:
    for root in (raw, ktfe_raw):
        image(root / "pools/visible/Happiness/b.png")
        image(root / "pools/visible/Happiness/a.png")
        image(root / "pools/visible/Fear/c.png")
        image(root / "pools/thermal/Fear/d.png")
    plain, flipped = reversed_listing(lambda: VtPairsAdapter(raw))
    assert plain == flipped
    assert [s.id for s in plain[0][4:]] == [
        "pool-visible-Fear-c",
        "pool-visible-Happiness-a",
        "pool-visible-Happiness-b",
        "pool-thermal-Fear-d",
    ]
    plain, flipped = reversed_listing(lambda: VtPairsAdapter(ktfe_raw, layout="ktfe"))
    assert plain == flipped and len(plain[0]) == 10


def test_natural_key() -> None:
    assert sorted(["s10", "s2", "s1", "a"], key=natural_key) == ["a", "s1", "s2", "s10"]


def test_source_digest_follows_the_list_and_the_media_sizes(raw, ktfe_raw) -> None:
    adapter = VtPairsAdapter(raw)
    samples, _ = adapter.scan()
    digest = adapter.source_digest(samples)
    assert len(digest) == 64 and digest == VtPairsAdapter(raw).source_digest(samples)
    image(raw / "thermal/s01/s01_b.png", side=16, channels=1)  # same name, another size
    changed = adapter.source_digest(samples)
    assert changed != digest
    with open(raw / "pairs.csv", "a") as f:
        f.write("\n")
    assert adapter.source_digest(samples) != changed
    kt = VtPairsAdapter(ktfe_raw, layout="ktfe")
    ksamples, _ = kt.scan()
    before = kt.source_digest(ksamples)
    image(ktfe_raw / "p2/T_Happy_3_KTFE.jpg", side=32)
    assert kt.source_digest(ksamples) != before
