import hashlib

import pandas as pd
import pytest

from emobench.datasets.emer import LABEL_COLUMNS, EmerAdapter
from emobench.errors import InputError
from emobench.prepare.pipeline import StrictModeError, prepare_dataset


def _tree_digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _sheet(root):
    return pd.read_excel(root / "Labels/EMER_label.xlsx", dtype=str)


def _save_sheet(root, sheet):
    sheet.to_excel(root / "Labels/EMER_label.xlsx", index=False)


def test_scan_of_the_miniature(emer_raw):
    samples, skips = EmerAdapter(emer_raw).scan()
    assert skips == []
    assert len(samples) >= 24 * 6
    assert len({s.subject for s in samples}) >= 24
    s = samples[0]
    assert s.media["face_video"].startswith("Data/face video/")
    assert s.media["eye_table"].startswith("Data/eye_movement data/")
    assert set(s.labels) == set(LABEL_COLUMNS) - {"id", "subject"}
    assert s.annotations["fold"] in range(1, 6)


def test_prepare_never_writes_to_src(emer_copy, tmp_path):
    before = _tree_digest(emer_copy)
    for p in emer_copy.rglob("*"):
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        report = prepare_dataset("emer", emer_copy, tmp_path / "out.h5")
    finally:
        for p in emer_copy.rglob("*"):
            p.chmod(0o755 if p.is_dir() else 0o644)
    assert report.n_samples > 0 and not report.skipped
    assert _tree_digest(emer_copy) == before
    with pytest.raises(InputError, match="inside the raw folder"):
        prepare_dataset("emer", emer_copy, emer_copy / "pack.h5")


def test_bad_samples_are_listed_skips(emer_copy, tmp_path):
    sheet = _sheet(emer_copy)
    ids = sheet["ID"].tolist()
    # 1. an unknown label name
    sheet.loc[0, "ER_7"] = "Joy"
    # 2. a labelled sample whose video is missing, 3. an undecodable video
    (emer_copy / f"Data/face video/{ids[1]}.mp4").unlink()
    (emer_copy / f"Data/face video/{ids[2]}.mp4").write_bytes(b"\x00" * 2048)
    # 4. an eye export whose gaze rows are all NaN
    eye = emer_copy / f"Data/eye_movement data/{ids[3]}.tsv"
    table = pd.read_csv(eye, sep="\t")
    table["Gaze point X [DACS px]"] = float("nan")
    table["Gaze point Y [DACS px]"] = float("nan")
    table.to_csv(eye, sep="\t", index=False)
    # 5. a sample on disk but not in the labels
    sheet = sheet[sheet["ID"] != ids[4]]
    _save_sheet(emer_copy, sheet)
    report = prepare_dataset("emer", emer_copy, tmp_path / "p.h5")
    reasons = {s.sample_id: (s.path, s.reason) for s in report.skipped}
    assert "unknown er7 label 'Joy'" in reasons[ids[0]][1]
    assert reasons[ids[1]] == (f"Data/face video/{ids[1]}.mp4", "face video not on disk")
    assert reasons[ids[2]][0] == f"Data/face video/{ids[2]}.mp4"
    assert reasons[ids[3]][0] == f"Data/eye_movement data/{ids[3]}.tsv"
    assert "not in the label sheet" in reasons[ids[4]][1]
    assert report.n_samples == len(ids) - 5
    with pytest.raises(StrictModeError, match="--strict"):
        prepare_dataset("emer", emer_copy, tmp_path / "strict.h5", strict=True)
    assert not (tmp_path / "strict.h5").exists()


def test_split_errors(emer_copy):
    split = emer_copy / "Labels/emer_set.txt"
    lines = [line for line in split.read_text().splitlines() if not line.startswith("#")]
    first_id, first_set = lines[0].split()
    moved = [f"{first_id}\t{int(first_set) % 5 + 1}"]
    # another sample of the same subject stays in the original set → subject in two folds
    subject = first_id.split("_")[0]
    assert any(line.split()[0].split("_")[0] == subject for line in lines[1:])
    split.write_text("\n".join(moved + lines[1:]) + "\n")
    with pytest.raises(InputError, match=f"subject {subject} is in set"):
        EmerAdapter(emer_copy).scan()
    split.write_text("this line has no set number at all\n")
    with pytest.raises(InputError, match="emer_set.txt: line 1"):
        EmerAdapter(emer_copy).scan()


def test_missing_files_are_named(emer_copy):
    (emer_copy / "Labels/EMER_label.xlsx").unlink()
    with pytest.raises(InputError, match="EMER_label.xlsx: label sheet not found"):
        EmerAdapter(emer_copy).scan()


def test_unreadable_label_sheet(emer_copy):
    (emer_copy / "Labels/EMER_label.xlsx").write_bytes(b"garbage")
    with pytest.raises(InputError, match="cannot read the label sheet"):
        EmerAdapter(emer_copy).scan()


def test_header_aliases_and_unknown_columns(emer_copy):
    sheet = _sheet(emer_copy).rename(columns={"ER_7": "ER 7-class", "FER_Intensity": "Intensity"})
    sheet["Comment"] = "x"
    _save_sheet(emer_copy, sheet)
    adapter = EmerAdapter(emer_copy)
    samples, skips = adapter.scan()
    assert not skips and "er7" in samples[0].labels and "fer_intensity" in samples[0].labels
    assert adapter.unknown_columns == ["Comment"]


def test_split_file_in_latin1_is_read_and_its_encoding_noted(emer_copy):
    split = emer_copy / "Labels/emer_set.txt"
    text = split.read_text(encoding="utf-8")
    split.write_bytes(("# séance du 3 février\n" + text).encode("latin-1"))
    adapter = EmerAdapter(emer_copy)
    samples, skips = adapter.scan()
    assert not skips and len(samples) == len(EmerAdapter(emer_copy).read_split())
    assert adapter.notes == ["Labels/emer_set.txt: not UTF-8; read as cp1252"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_split_file_in_unicode_encodings_needs_no_note(emer_copy, encoding):
    split = emer_copy / "Labels/emer_set.txt"
    split.write_bytes(("# séance\n" + split.read_text(encoding="utf-8")).encode(encoding))
    adapter = EmerAdapter(emer_copy)
    assert len(adapter.read_split()) > 0
    assert adapter.notes == []


def test_csv_label_sheet_in_cp1252_is_read(emer_copy):
    sheet = _sheet(emer_copy)
    (emer_copy / "Labels/EMER_label.xlsx").unlink()
    sheet["Remarque"] = "réussi"
    sheet.to_csv(emer_copy / "Labels/EMER_label.csv", index=False, encoding="cp1252")
    adapter = EmerAdapter(emer_copy)
    samples, skips = adapter.scan()
    assert not skips and adapter.unknown_columns == ["Remarque"]
    assert adapter.notes == ["Labels/EMER_label.csv: not UTF-8; read as cp1252"]
