"""Tobii Pro Lab export reader: column aliases, units, locales, formats and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emobench.datasets import tobii
from emobench.datasets.tobii import ACCEPTED_COLUMNS, GazeRecording, read_tobii_export
from emobench.errors import InputError

PRO_LAB_HEADER = [
    "Recording timestamp [μs]",
    "Sensor",
    "Participant name",
    "Gaze point X [DACS px]",
    "Gaze point Y [DACS px]",
    "Pupil diameter left [mm]",
    "Pupil diameter right [mm]",
    "Validity left",
    "Validity right",
    "Eye movement type",
    "Gaze event duration [ms]",
    "Presented Stimulus name",
]


def write_tsv(path: Path, header: list[str], rows: list[list[object]], sep: str = "\t") -> Path:
    lines = [sep.join(header)] + [sep.join("" if v is None else str(v) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def pro_lab_rows() -> list[list[object]]:
    return [
        [0, "Eye Tracker", "P01", 960, 540, 3.1, 3.3, "Valid", "Valid", "Fixation", 100, "img"],
        [8333, "Eye Tracker", "P01", 961, 541, 3.2, 3.4, "Valid", "Valid", "Fixation", 100, "img"],
        [16667, "Eye Tracker", "P01", None, None, None, None, "Invalid", "Invalid", "", "", ""],
        [25000, "Eye Tracker", "P01", 700, 300, 3.0, None, "Valid", "Invalid", "Saccade", 8, ""],
    ]


def test_pro_lab_export_with_unit_suffixes(tmp_path: Path) -> None:
    rec = read_tobii_export(write_tsv(tmp_path / "rec.tsv", PRO_LAB_HEADER, pro_lab_rows()))
    np.testing.assert_allclose(rec.t_ms, [0.0, 8.333, 16.667, 25.0])
    np.testing.assert_allclose(rec.x_px, [960, 961, np.nan, 700])
    np.testing.assert_allclose(rec.y_px, [540, 541, np.nan, 300])
    np.testing.assert_allclose(rec.pupil_left_mm, [3.1, 3.2, np.nan, 3.0])
    np.testing.assert_allclose(rec.pupil_right_mm, [3.3, 3.4, np.nan, np.nan])
    assert rec.valid_left.tolist() == [True, True, False, True]
    assert rec.valid_right.tolist() == [True, True, False, False]
    assert rec.movement_type.tolist() == ["Fixation", "Fixation", "", "Saccade"]
    assert rec.column_map["Gaze point X"] == "Gaze point X [DACS px]"
    assert rec.column_map["Recording timestamp"] == "Recording timestamp [μs]"
    assert rec.unknown_columns == ("Presented Stimulus name",)
    assert rec.participant == "P01"
    assert rec.t_ms.dtype == np.float64 and rec.valid_left.dtype == bool


def test_bare_names_any_case_and_spacing_are_milliseconds(tmp_path: Path) -> None:
    header = [" recording TIMESTAMP ", "Gaze  point x", "gaze point Y", "Pupil diameter left"]
    rows = [[100, 10.5, 20, 3], [110, 11.5, 21, 3], [120, 12.5, 22, 3]]
    rec = read_tobii_export(write_tsv(tmp_path / "bare.tsv", header, rows))
    np.testing.assert_allclose(rec.t_ms, [100, 110, 120])
    np.testing.assert_allclose(rec.x_px, [10.5, 11.5, 12.5])
    assert rec.valid_left.all() and rec.valid_right.all()  # no validity columns: gaze present
    assert np.isnan(rec.pupil_right_mm).all()
    assert rec.unknown_columns == ()


def test_micro_sign_spelling_and_eyetracker_timestamp_fallback(tmp_path: Path) -> None:
    header = ["Eyetracker timestamp [µs]", "Gaze point X [MCS px]", "Gaze point Y [MCS px]"]
    header.append("Pupil diameter filtered [mm]")
    rows = [[1_000_000, 5, 6, 2.5], [1_016_667, 7, 8, 2.6]]
    rec = read_tobii_export(write_tsv(tmp_path / "et.tsv", header, rows))
    np.testing.assert_allclose(rec.t_ms, [1000.0, 1016.667])
    np.testing.assert_allclose(rec.pupil_left_mm, [2.5, 2.6])  # filtered pupil for both eyes
    np.testing.assert_allclose(rec.pupil_right_mm, [2.5, 2.6])


def test_recording_timestamp_preferred_over_eyetracker_timestamp(tmp_path: Path) -> None:
    header = ["Eyetracker timestamp [μs]", "Recording timestamp [ms]", "Gaze point X"]
    header += ["Gaze point Y", "Pupil diameter left"]
    rows = [[5_000_000, 0, 1, 1, 3], [5_008_333, 8.333, 1, 1, 3]]
    rec = read_tobii_export(write_tsv(tmp_path / "both.tsv", header, rows))
    assert rec.column_map["Recording timestamp"] == "Recording timestamp [ms]"
    np.testing.assert_allclose(rec.t_ms, [0, 8.333])
    assert "Eyetracker timestamp [μs]" not in rec.unknown_columns


def test_decimal_comma(tmp_path: Path) -> None:
    header = ["Recording timestamp", "Gaze point X", "Gaze point Y", "Pupil diameter left [mm]"]
    rows = [[0, "512,3", "100,25", "3,5"], [8, "513,7", "101,5", "3,25"]]
    rec = read_tobii_export(write_tsv(tmp_path / "comma.tsv", header, rows))
    np.testing.assert_allclose(rec.x_px, [512.3, 513.7])
    np.testing.assert_allclose(rec.y_px, [100.25, 101.5])
    np.testing.assert_allclose(rec.pupil_left_mm, [3.5, 3.25])
    assert any("decimal comma" in note for note in rec.notes)


def test_semicolon_csv_with_decimal_comma(tmp_path: Path) -> None:
    header = ["Recording timestamp", "Gaze point X", "Gaze point Y", "Pupil diameter right"]
    rows = [[0, "1,5", "2,5", "3,5"], [10, "4,5", "5,5", "3,5"]]
    rec = read_tobii_export(write_tsv(tmp_path / "rec.csv", header, rows, sep=";"))
    np.testing.assert_allclose(rec.x_px, [1.5, 4.5])
    np.testing.assert_allclose(rec.pupil_right_mm, [3.5, 3.5])


def test_xlsx_export(tmp_path: Path) -> None:
    frame = pd.DataFrame(pro_lab_rows(), columns=PRO_LAB_HEADER)
    path = tmp_path / "rec.xlsx"
    frame.to_excel(path, index=False)
    rec = read_tobii_export(path)
    np.testing.assert_allclose(rec.t_ms, [0.0, 8.333, 16.667, 25.0])
    np.testing.assert_allclose(rec.x_px, [960, 961, np.nan, 700])
    assert rec.valid_right.tolist() == [True, True, False, False]


def test_missing_column_names_the_column_and_the_file(tmp_path: Path) -> None:
    header = ["Recording timestamp", "Gaze point Y", "Pupil diameter left", "Foo"]
    path = write_tsv(tmp_path / "nogx.tsv", header, [[0, 1, 3, 0]])
    with pytest.raises(InputError) as err:
        read_tobii_export(path)
    message = str(err.value)
    assert err.value.path == str(path)
    assert "nogx.tsv" in message
    assert "missing column(s) 'Gaze point X'" in message
    assert "'Gaze point X [DACS px]'" in message  # accepted names listed
    assert "found: 'Recording timestamp', 'Gaze point Y', 'Pupil diameter left', 'Foo'" in message
    assert "'Gaze point Y'" not in message.split(";")[0]


def test_missing_pupil_column_lists_all_pupil_spellings(tmp_path: Path) -> None:
    header = ["Recording timestamp", "Gaze point X", "Gaze point Y"]
    with pytest.raises(InputError, match="'Pupil diameter left' or 'Pupil diameter right'"):
        read_tobii_export(write_tsv(tmp_path / "nopupil.tsv", header, [[0, 1, 1]]))


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "file is empty"),
        ("Recording timestamp\tGaze point X\tGaze point Y\tPupil diameter left\n", "no data rows"),
    ],
)
def test_empty_files(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "empty.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=problem):
        read_tobii_export(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_tobii_export(tmp_path / "absent.tsv")


def test_sensor_column_keeps_only_eye_tracker_rows(tmp_path: Path) -> None:
    rows = pro_lab_rows()
    gyro = [4000, "Gyroscope", "P01", None, None, None, None, None, None, None, None, None]
    accel = [12000, "Accelerometer", "P01", None, None, None, None, None, None, None, None, None]
    rows = [rows[0], gyro, rows[1], accel, rows[2], rows[3]]
    rec = read_tobii_export(write_tsv(tmp_path / "glasses.tsv", PRO_LAB_HEADER, rows))
    assert len(rec) == 4
    np.testing.assert_allclose(rec.t_ms, [0.0, 8.333, 16.667, 25.0])
    assert any("kept 4 of 6 rows" in note for note in rec.notes)


def test_tobii_studio_validity_codes(tmp_path: Path) -> None:
    header = ["RecordingTimestamp", "GazePointX (ADCSpx)", "GazePointY (ADCSpx)", "PupilLeft"]
    header += ["PupilRight", "ValidityLeft", "ValidityRight"]
    rows = [
        [0, 100, 100, 3, 3, 0, 0],
        [17, 100, 100, 3, 3, 1, 3],
        [33, 100, 100, 3, 3, 2, 2],
        [50, None, None, -1, -1, 4, 4],
    ]
    rec = read_tobii_export(write_tsv(tmp_path / "studio.tsv", header, rows))
    assert rec.valid_left.tolist() == [True, True, False, False]
    assert rec.valid_right.tolist() == [True, False, False, False]
    np.testing.assert_allclose(rec.x_px, [100, 100, np.nan, np.nan])
    np.testing.assert_allclose(rec.pupil_right_mm, [3, np.nan, np.nan, np.nan])


def test_zero_one_validity_means_one_is_valid(tmp_path: Path) -> None:
    header = ["Recording timestamp", "Gaze point X", "Gaze point Y", "Pupil diameter left"]
    header += ["Validity left", "Validity right"]
    rows = [[0, 5, 5, 3, 1, 1], [10, None, None, None, 0, 0], [20, 6, 6, 3, 1, 0]]
    rec = read_tobii_export(write_tsv(tmp_path / "flags.tsv", header, rows))
    assert rec.valid_left.tolist() == [True, False, True]
    assert rec.valid_right.tolist() == [True, False, False]


def test_unsorted_and_duplicate_timestamps(tmp_path: Path) -> None:
    header = ["Recording timestamp", "Gaze point X", "Gaze point Y", "Pupil diameter left"]
    rows = [[20, 3, 3, 3], [0, 1, 1, 3], [10, None, None, None], [10, 2, 2, 3], [30, 4, 4, 3]]
    rec = read_tobii_export(write_tsv(tmp_path / "order.tsv", header, rows))
    np.testing.assert_allclose(rec.t_ms, [0, 10, 20, 30])
    np.testing.assert_allclose(rec.x_px, [1, 2, 3, 4])  # the duplicate with gaze is kept
    assert rec.sorted_timestamps
    assert rec.dropped_duplicates == 1
    assert any("sorted" in note for note in rec.notes)


def test_from_arrays_checks_lengths_and_marks_invalid() -> None:
    rec = GazeRecording.from_arrays([0, 1, 2], [1, np.nan, 3], [1, 2, 3], [3, 3, 0])
    assert rec.valid_left.tolist() == [True, False, True]
    np.testing.assert_allclose(rec.y_px, [1, np.nan, 3])
    np.testing.assert_allclose(rec.pupil_left_mm, [3, np.nan, np.nan])  # <= 0 means missing
    with pytest.raises(InputError, match="x_px has 2 samples"):
        GazeRecording.from_arrays([0, 1, 2], [1, 2], [1, 2, 3])
    assert not rec.t_ms.flags.writeable


def test_accepted_columns_are_documented_and_consistent() -> None:
    doc = tobii.__doc__ or ""
    for canonical, spellings in ACCEPTED_COLUMNS.items():
        assert canonical in doc
        assert spellings[0] == canonical
    column_map, unknown = tobii.match_columns(
        [s for spellings in ACCEPTED_COLUMNS.values() for s in spellings]
    )
    assert set(column_map) == set(ACCEPTED_COLUMNS)
    assert unknown == ()


def test_validity_column_of_only_zeros_follows_the_gaze_data(tmp_path: Path) -> None:
    header = ["RecordingTimestamp", "GazePointX", "GazePointY", "PupilLeft", "ValidityLeft"]
    rows = [[0, 5, 5, 3, 0], [10, 6, 6, 3, 0], [20, 7, 7, 3, 0]]
    rec = read_tobii_export(write_tsv(tmp_path / "studio_ok.tsv", header, rows))
    assert rec.valid_left.all()  # Tobii Studio code 0 = valid, not the 0 of a 0/1 flag


def test_corrupt_workbook_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"this is not a zip archive")
    with pytest.raises(InputError, match="broken.xlsx: cannot read the file"):
        read_tobii_export(path)


# ---- time units: the sampling rate must be one an eye tracker has ---------------------------

GAZE_HEADER = ["Gaze point X", "Gaze point Y", "Pupil diameter left"]


def _timed_rows(step: float, n: int = 6) -> list[list[object]]:
    return [[round(i * step, 3), 500 + i, 400, 3.0] for i in range(n)]


def test_microseconds_under_a_millisecond_header_are_an_error(tmp_path: Path) -> None:
    # 120 Hz in microseconds, labelled [ms]: read as written it is a 0.12 Hz, 11-hour recording
    rows = [[round(i * 8333.333), 500, 400, 3.0] for i in range(5000)]
    path = write_tsv(tmp_path / "P01.tsv", ["Recording timestamp [ms]", *GAZE_HEADER], rows)
    with pytest.raises(InputError) as err:
        read_tobii_export(path)
    assert err.value.path == str(path)
    message = err.value.problem
    assert "'Recording timestamp [ms]' states milliseconds" in message
    assert "0.12 Hz recording of 11.6 h" in message
    assert "look like microseconds (120 Hz)" in message


def test_milliseconds_under_a_microsecond_header_are_an_error(tmp_path: Path) -> None:
    path = write_tsv(
        tmp_path / "P02.tsv", ["Recording timestamp [μs]", *GAZE_HEADER], _timed_rows(8.333)
    )
    with pytest.raises(InputError, match=r"states microseconds.*look like milliseconds \(120 Hz\)"):
        read_tobii_export(path)


@pytest.mark.parametrize(
    ("step", "unit", "t_ms"),
    [(8.333, "ms", 8.333), (8333.0, "μs", 8.333), (1.0, "ms", 1.0), (40000.0, "μs", 40.0)],
)
def test_unit_of_a_bare_header_is_inferred_and_recorded(
    tmp_path: Path, step: float, unit: str, t_ms: float
) -> None:
    path = write_tsv(
        tmp_path / "bare.tsv", ["Recording timestamp", *GAZE_HEADER], _timed_rows(step)
    )
    rec = read_tobii_export(path)
    assert rec.time_unit == unit and rec.time_unit_inferred
    np.testing.assert_allclose(np.diff(rec.t_ms), t_ms, rtol=1e-3)
    assert any(
        "states no unit" in note and "inferred from the sample spacing" in note
        for note in rec.notes
    )


def test_stated_unit_is_recorded_as_not_inferred(tmp_path: Path) -> None:
    rec = read_tobii_export(write_tsv(tmp_path / "rec.tsv", PRO_LAB_HEADER, pro_lab_rows()))
    assert rec.time_unit == "μs" and not rec.time_unit_inferred
    assert not any("unit" in note for note in rec.notes)


def test_bare_header_fitting_no_unit_is_an_error(tmp_path: Path) -> None:
    # 200 units apart: 5 Hz if they are ms, 5000 Hz if they are μs
    path = write_tsv(
        tmp_path / "slow.tsv", ["RecordingTimestamp", *GAZE_HEADER], _timed_rows(200.0)
    )
    with pytest.raises(InputError, match=r"slow.tsv: column 'RecordingTimestamp' states no unit"):
        read_tobii_export(path)


# ---- text encodings --------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig", "cp1252"])
def test_export_in_another_text_encoding_is_read(tmp_path: Path, encoding: str) -> None:
    header = ["Recording timestamp [µs]", "Gaze point X", "Gaze point Y", "Pupil diameter left"]
    header.append("Présentation")
    rows = [[i * 8333, 500 + i, 400, 3.0, "é"] for i in range(4)]
    text = "\n".join("\t".join(str(v) for v in r) for r in [header, *rows]) + "\n"
    path = tmp_path / "rec.tsv"
    path.write_bytes(text.encode(encoding))
    rec = read_tobii_export(path)
    np.testing.assert_allclose(rec.t_ms, [0, 8.333, 16.666, 24.999])
    assert rec.unknown_columns == ("Présentation",)
    if encoding != "utf-8-sig":
        assert any(encoding.split("-le")[0].split("-be")[0] in note for note in rec.notes)


def test_binary_file_names_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "rec.tsv"
    path.write_bytes(b"Recording timestamp\tGaze\x00\x01\x02 point X\n0\t1\n")
    with pytest.raises(InputError, match=r"rec.tsv: holds a NUL byte at offset 24"):
        read_tobii_export(path)


# The per-cell pandas string rules the reader used before 2026-12-07: the oracle for the
# per-distinct-value helpers that replaced them.
def _old_folded(col: pd.Series) -> np.ndarray:
    text = col.astype("string").str.strip().str.casefold()
    return text.to_numpy(dtype=object, na_value=None)


def _old_numbers(col: pd.Series, decimal_comma: bool) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(col):
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    text = col.astype("string").str.strip()
    if decimal_comma:
        text = text.str.replace(",", ".", regex=False)
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


@pytest.mark.parametrize(
    "cells",
    [
        [" Valid", "INVALID ", None, "valid", "Invalid", np.nan, "Valid"],
        ["3,25", " 3,5 ", None, "", "x", "-0,5", "3,25", "1"],
        ["1.5", " 2 ", "nan", "", None, "1e3", "1.5"],
        [0.0, 1.0, np.nan, 4.0, 1.0],
        [1, 0, 1, 1],
        ["Eye Tracker", " eye tracker", "Gyroscope", None, "EYE TRACKER"],
        [None, None],
        [],
    ],
)
def test_text_of_each_distinct_value_equals_the_per_cell_rules(cells: list) -> None:
    texts = any(isinstance(c, str) for c in cells)
    col = pd.Series(cells, dtype=object) if texts or not cells else pd.Series(cells)
    assert tobii._folded_text(col).tolist() == _old_folded(col).tolist()
    for comma in (False, True):
        np.testing.assert_array_equal(tobii._numbers(col, comma), _old_numbers(col, comma))
    old_first = col.dropna().astype(str).str.strip()
    old_first = old_first[old_first != ""]
    assert tobii._first_text(col) == (None if old_first.empty else old_first.iloc[0])
    if col.dtype == object:  # a text column, as eye movement types are
        old_movement = col.fillna("").astype(str).to_numpy(dtype=object)
        assert tobii._per_cell(*tobii._distinct(col), "").tolist() == old_movement.tolist()
    old_comma = not pd.api.types.is_numeric_dtype(col) and bool(
        col.dropna().astype(str).str.match(tobii._DECIMAL_COMMA).any()
    )
    assert tobii._uses_decimal_comma([col]) == old_comma
