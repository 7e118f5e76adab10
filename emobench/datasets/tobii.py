"""Reader for a Tobii Pro Lab data export (``.tsv``, ``.csv`` or ``.xlsx``) into a `GazeRecording`.

Headers are matched case-insensitively, ignoring surrounding and repeated whitespace; a unit
suffix in square brackets belongs to the spelling (``Gaze point X [DACS px]``). The micro sign
``µ`` and the Greek ``μ`` are the same letter here (`emobench.datasets.headers`, exact level).
Where several accepted spellings of one column are present, the first one listed below wins.
Tobii Studio spellings (``RecordingTimestamp``, ``GazePointX (ADCSpx)``, ``PupilLeft``,
``ValidityLeft`` ...) are accepted too. A text export's encoding is detected from its bytes
(UTF-8, a byte-order mark, UTF-16 without one, else cp1252; `emobench.datasets.text_encoding`)
and noted when it is not UTF-8.

Accepted columns (canonical name: accepted spellings; ``ACCEPTED_COLUMNS`` holds the full list):

- ``Recording timestamp`` (required): ``... [ms]`` in milliseconds; ``Recording timestamp
  [μs]`` / ``[us]`` in microseconds (converted to ms); as a fallback ``Eyetracker timestamp
  [μs]`` / ``[us]``. A header without a unit (``Recording timestamp``, ``RecordingTimestamp``)
  is read in the unit whose sampling rate fits an eye tracker (`PLAUSIBLE_RATE_HZ`), and that
  the unit was inferred is recorded; a stated unit that implies an implausible rate is an
  error naming the rate and the unit that would fit (`timestamps_in_ms`).
- ``Gaze point X`` / ``Gaze point Y`` (required): bare, ``[DACS px]`` or ``[MCS px]``, pixels
  from the top-left corner of the screen.
- ``Pupil diameter left`` / ``Pupil diameter right`` (bare or ``[mm]``) and
  ``Pupil diameter filtered [mm]`` (used for both eyes when neither eye has its own column). At
  least one pupil column is required.
- ``Validity left`` / ``Validity right`` (optional): ``Valid``/``Invalid``; ``1``/``0``; or the
  Tobii Studio codes 0-4 (0 certain ... 4 eye not found; 0 and 1 are valid, as the Tobii SDK
  recommends). A 0/1 column is read as 1 = valid unless that contradicts the gaze data (a
  Tobii Studio column of only 0 and 1 codes). Without these columns an eye is valid where the
  gaze point is present.
- optional: ``Eye movement type``, ``Gaze event duration`` (``[ms]``), ``Eye movement type index``,
  ``Fixation point X`` / ``Fixation point Y`` (``[DACS px]``), ``Sensor``, ``Participant name``,
  ``Recording name``. When a ``Sensor`` column exists only its ``Eye Tracker`` rows are kept (Pro
  Glasses exports interleave gyroscope and accelerometer rows).

Numbers written with a decimal comma (``512,3``, some locales) are detected and read. Other
columns are listed in `GazeRecording.unknown_columns`, never an error. Rows are sorted by time
when the timestamps are not increasing, and duplicate timestamps keep one row (one with gaze
where there is one); both are noted in `GazeRecording.notes`.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from emobench.datasets.headers import header_key
from emobench.datasets.text_encoding import read_text
from emobench.errors import InputError

TIME = "Recording timestamp"
GAZE_X = "Gaze point X"
GAZE_Y = "Gaze point Y"
PUPIL_LEFT = "Pupil diameter left"
PUPIL_RIGHT = "Pupil diameter right"
PUPIL_FILTERED = "Pupil diameter filtered"
VALIDITY_LEFT = "Validity left"
VALIDITY_RIGHT = "Validity right"
MOVEMENT_TYPE = "Eye movement type"
SENSOR = "Sensor"
PARTICIPANT = "Participant name"
RECORDING = "Recording name"

ACCEPTED_COLUMNS: dict[str, tuple[str, ...]] = {
    TIME: (
        "Recording timestamp",
        "Recording timestamp [ms]",
        "Recording timestamp [μs]",
        "Recording timestamp [us]",
        "RecordingTimestamp",
        "Eyetracker timestamp [μs]",
        "Eyetracker timestamp [us]",
    ),
    GAZE_X: (
        "Gaze point X",
        "Gaze point X [DACS px]",
        "Gaze point X [MCS px]",
        "GazePointX (ADCSpx)",
        "GazePointX (MCSpx)",
        "GazePointX",
    ),
    GAZE_Y: (
        "Gaze point Y",
        "Gaze point Y [DACS px]",
        "Gaze point Y [MCS px]",
        "GazePointY (ADCSpx)",
        "GazePointY (MCSpx)",
        "GazePointY",
    ),
    PUPIL_LEFT: ("Pupil diameter left", "Pupil diameter left [mm]", "PupilLeft"),
    PUPIL_RIGHT: ("Pupil diameter right", "Pupil diameter right [mm]", "PupilRight"),
    PUPIL_FILTERED: ("Pupil diameter filtered", "Pupil diameter filtered [mm]"),
    VALIDITY_LEFT: ("Validity left", "ValidityLeft"),
    VALIDITY_RIGHT: ("Validity right", "ValidityRight"),
    MOVEMENT_TYPE: ("Eye movement type", "GazeEventType"),
    "Gaze event duration": (
        "Gaze event duration",
        "Gaze event duration [ms]",
        "GazeEventDuration",
    ),
    "Eye movement type index": ("Eye movement type index", "FixationIndex"),
    "Fixation point X": (
        "Fixation point X",
        "Fixation point X [DACS px]",
        "Fixation point X [MCS px]",
        "FixationPointX (MCSpx)",
    ),
    "Fixation point Y": (
        "Fixation point Y",
        "Fixation point Y [DACS px]",
        "Fixation point Y [MCS px]",
        "FixationPointY (MCSpx)",
    ),
    SENSOR: ("Sensor",),
    PARTICIPANT: ("Participant name", "ParticipantName"),
    RECORDING: ("Recording name", "RecordingName"),
}

REQUIRED_COLUMNS = (TIME, GAZE_X, GAZE_Y)
PUPIL_COLUMNS = (PUPIL_LEFT, PUPIL_RIGHT, PUPIL_FILTERED)

_MICROSECOND_SPELLINGS = frozenset(
    {
        "recording timestamp [μs]",
        "recording timestamp [us]",
        "eyetracker timestamp [μs]",
        "eyetracker timestamp [us]",
    }
)
# Sampling rates of screen-based and wearable eye trackers (Tobii Pro 30-1200 Hz, EyeLink up to
# 2000 Hz, webcam trackers from about 10 Hz): a recording outside this range was read in the wrong
# time unit.
PLAUSIBLE_RATE_HZ = (10.0, 2000.0)
_UNITS_PER_MS = {"ms": 1.0, "μs": 1000.0}
_UNIT_NAMES = {"ms": "milliseconds", "μs": "microseconds"}
_DECIMAL_COMMA = re.compile(r"^\s*[+-]?\d*,\d+\s*$")
_MAX_HEADERS_SHOWN = 40


_SPELLING_TO_CANONICAL: dict[str, tuple[str, int]] = {
    header_key(spelling, exact=True): (canonical, rank)
    for canonical, spellings in ACCEPTED_COLUMNS.items()
    for rank, spelling in enumerate(spellings)
}


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class GazeRecording:
    """One eye-tracking recording, cleaned of reading artefacts (not of tracking artefacts).

    ``t_ms`` is strictly increasing; ``x_px``/``y_px`` (screen pixels from the top-left corner)
    are NaN where neither eye is valid; each pupil is NaN where its eye is invalid. ``column_map``
    maps a canonical column name to the header it was read from. ``time_unit`` is the unit the
    source's timestamps were counted in (``"ms"`` or ``"μs"``) and ``time_unit_inferred`` says
    whether it was inferred from the sample spacing because the header states none.
    """

    path: str
    t_ms: np.ndarray
    x_px: np.ndarray
    y_px: np.ndarray
    pupil_left_mm: np.ndarray
    pupil_right_mm: np.ndarray
    valid_left: np.ndarray
    valid_right: np.ndarray
    movement_type: np.ndarray | None = None
    column_map: Mapping[str, str] = field(default_factory=dict)
    unknown_columns: tuple[str, ...] = ()
    participant: str | None = None
    recording: str | None = None
    sorted_timestamps: bool = False
    dropped_duplicates: int = 0
    notes: tuple[str, ...] = ()
    time_unit: str = "ms"
    time_unit_inferred: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_map", MappingProxyType(dict(self.column_map)))

    def __len__(self) -> int:
        return len(self.t_ms)

    @classmethod
    def from_arrays(
        cls,
        t_ms: Sequence[float] | np.ndarray,
        x_px: Sequence[float] | np.ndarray,
        y_px: Sequence[float] | np.ndarray,
        pupil_left_mm: Sequence[float] | np.ndarray | None = None,
        pupil_right_mm: Sequence[float] | np.ndarray | None = None,
        *,
        valid_left: Sequence[bool] | np.ndarray | None = None,
        valid_right: Sequence[bool] | np.ndarray | None = None,
        movement_type: Sequence[object] | np.ndarray | None = None,
        path: str | Path = "<arrays>",
        column_map: Mapping[str, str] | None = None,
        unknown_columns: Sequence[str] = (),
        participant: str | None = None,
        recording: str | None = None,
        notes: Sequence[str] = (),
        time_unit: str = "ms",
        time_unit_inferred: bool = False,
    ) -> GazeRecording:
        """Build a recording from per-sample arrays (any eye tracker, e.g. an EyeLink EDF).

        An eye without a validity array is valid where the gaze point is present; a missing
        pupil array is all NaN; pupils <= 0 (a common "missing" code) become NaN. Rows without a
        timestamp are dropped, rows are sorted by time, and of rows sharing a timestamp the
        first with a gaze point is kept; each of these is noted in ``notes``. ``time_unit`` and
        ``time_unit_inferred`` say in which unit the source counted time (see the class).
        """
        t = np.asarray(t_ms, dtype=np.float64).ravel()
        n = len(t)

        def column(values: Sequence[float] | np.ndarray | None, name: str) -> np.ndarray:
            if values is None:
                return np.full(n, np.nan)
            array = np.asarray(values, dtype=np.float64).ravel()
            if len(array) != n:
                raise InputError(path, f"{name} has {len(array)} samples, time has {n}")
            return array

        x = column(x_px, "x_px")
        y = column(y_px, "y_px")
        left = column(pupil_left_mm, "pupil_left_mm")
        right = column(pupil_right_mm, "pupil_right_mm")
        gaze_present = np.isfinite(x) & np.isfinite(y)

        def validity(values: Sequence[bool] | np.ndarray | None, name: str) -> np.ndarray:
            if values is None:
                return gaze_present.copy()
            array = np.asarray(values, dtype=bool).ravel()
            if len(array) != n:
                raise InputError(path, f"{name} has {len(array)} samples, time has {n}")
            return array

        v_left = validity(valid_left, "valid_left")
        v_right = validity(valid_right, "valid_right")
        movement = None
        if movement_type is not None:
            movement = np.asarray(movement_type, dtype=object).ravel()
            if len(movement) != n:
                raise InputError(path, f"movement_type has {len(movement)} samples, time has {n}")

        notes_out = list(notes)
        keep = np.isfinite(t)
        if not keep.all():
            notes_out.append(f"dropped {int((~keep).sum())} row(s) without a timestamp")
        # Order by time, rows with a gaze point first among equal timestamps, then keep the
        # first row of every timestamp.
        order = np.flatnonzero(keep)
        order = order[np.lexsort((~gaze_present[order], t[order]))]
        sorted_timestamps = bool(np.any(np.diff(t[keep]) < 0))
        if sorted_timestamps:
            notes_out.append("timestamps were not increasing; rows sorted by time")
        t_sorted = t[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = t_sorted[1:] != t_sorted[:-1]
        dropped = int((~first).sum())
        if dropped:
            notes_out.append(f"dropped {dropped} row(s) with a duplicate timestamp")
        order = order[first]

        v_left, v_right = v_left[order], v_right[order]
        either = v_left | v_right
        x, y = np.where(either, x[order], np.nan), np.where(either, y[order], np.nan)
        left = np.where(v_left & (left[order] > 0), left[order], np.nan)
        right = np.where(v_right & (right[order] > 0), right[order], np.nan)
        return cls(
            path=str(path),
            t_ms=_readonly(t[order]),
            x_px=_readonly(x),
            y_px=_readonly(y),
            pupil_left_mm=_readonly(left),
            pupil_right_mm=_readonly(right),
            valid_left=_readonly(v_left),
            valid_right=_readonly(v_right),
            movement_type=None if movement is None else _readonly(movement[order]),
            column_map=dict(column_map or {}),
            unknown_columns=tuple(unknown_columns),
            participant=participant,
            recording=recording,
            sorted_timestamps=sorted_timestamps,
            dropped_duplicates=dropped,
            notes=tuple(notes_out),
            time_unit=time_unit,
            time_unit_inferred=time_unit_inferred,
        )


def match_columns(headers: Sequence[object]) -> tuple[dict[str, str], tuple[str, ...]]:
    """Map canonical column names to headers; return it and the unrecognised headers in order.

    Empty headers (a trailing tab gives one) are neither matched nor reported.
    """
    best: dict[str, tuple[int, str]] = {}
    unknown: list[str] = []
    for header in headers:
        text = str(header)
        match = _SPELLING_TO_CANONICAL.get(header_key(text, exact=True))
        if match is None:
            if text.strip() and not text.startswith("Unnamed: "):
                unknown.append(text)
            continue
        canonical, rank = match
        if canonical not in best or rank < best[canonical][0]:
            best[canonical] = (rank, text)
    return {canonical: text for canonical, (_, text) in best.items()}, tuple(unknown)


def _describe_missing(canonicals: Sequence[str]) -> str:
    names = " or ".join(f"'{c}'" for c in canonicals)
    accepted = ", ".join(f"'{s}'" for c in canonicals for s in ACCEPTED_COLUMNS[c])
    return f"{names} (accepted names: {accepted})"


def _describe_found(headers: Sequence[object]) -> str:
    shown = [f"'{h}'" for h in headers[:_MAX_HEADERS_SHOWN]]
    if len(headers) > _MAX_HEADERS_SHOWN:
        shown.append(f"... ({len(headers) - _MAX_HEADERS_SHOWN} more)")
    return ", ".join(shown) if shown else "no columns"


def _separator(first_line: str) -> str:
    counts = {sep: first_line.count(sep) for sep in ("\t", ";", ",")}
    return max(counts, key=lambda sep: counts[sep]) if max(counts.values()) else "\t"


def _read_text_table(path: Path, notes: list[str]) -> pd.DataFrame:
    decoded = read_text(path)
    if decoded.fallback or not decoded.encoding.startswith("utf-8"):
        notes.append(f"text {decoded.describe()}")
    first_line = decoded.text.split("\n", 1)[0]
    # Let pandas infer numbers (fast); columns written with a decimal comma stay text and are
    # converted by _numbers().
    return pd.read_csv(io.StringIO(decoded.text), sep=_separator(first_line), low_memory=False)


def read_table(path: str | Path, notes: list[str] | None = None) -> pd.DataFrame:
    """The raw export as a DataFrame (text cells for text files); errors name the file.

    A text file's encoding is detected (`emobench.datasets.text_encoding`); when it is not
    UTF-8, or was a guess, a line saying which encoding was read is appended to ``notes``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        if path.suffix.casefold() in (".xlsx", ".xlsm"):
            table = pd.read_excel(path, engine="openpyxl")
        else:
            table = _read_text_table(path, [] if notes is None else notes)
    except pd.errors.EmptyDataError:
        raise InputError(path, "file is empty") from None
    except pd.errors.ParserError as err:
        raise InputError(path, f"cannot parse as a table: {err}") from None
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as err:
        raise InputError(path, f"cannot read the file: {err}") from None
    if table.shape[1] == 0:
        raise InputError(path, "file is empty")
    return table


def _distinct(col: pd.Series) -> tuple[np.ndarray, list[str]]:
    """``(codes, texts)``: each cell's index into ``texts`` (-1 for an empty cell) and the
    text of every distinct value, ``str(value)``.

    Text is worked out once per distinct value, not per cell: an export's text columns hold a
    few values (``Valid``, ``Eye Tracker``, a participant's name) over thousands of rows, and
    pandas' per-cell string methods were most of the time a recording took to read (figures
    in CHANGELOG)."""
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    return codes, [str(value) for value in uniques]


def _per_cell(codes: np.ndarray, values: Sequence[Any], empty: Any, dtype=object) -> np.ndarray:
    """The value of each cell's distinct value (``empty`` for an empty cell)."""
    return np.array([*values, empty], dtype=dtype)[codes]


def _uses_decimal_comma(columns: Sequence[pd.Series]) -> bool:
    for col in columns:
        if pd.api.types.is_numeric_dtype(col):
            continue
        if any(_DECIMAL_COMMA.match(text) for text in _distinct(col)[1]):
            return True
    return False


def _numbers(col: pd.Series, decimal_comma: bool) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(col):
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    codes, texts = _distinct(col)
    texts = [t.strip().replace(",", ".") if decimal_comma else t.strip() for t in texts]
    numbers = pd.to_numeric(pd.Series(texts, dtype=object), errors="coerce")
    return _per_cell(codes, numbers.to_numpy(np.float64, na_value=np.nan), np.nan, np.float64)


def _folded_text(col: pd.Series) -> np.ndarray:
    """Each cell stripped and case-folded (None for an empty cell)."""
    codes, texts = _distinct(col)
    return _per_cell(codes, [t.strip().casefold() for t in texts], None)


def parse_validity(col: pd.Series, gaze_present: np.ndarray, decimal_comma: bool) -> np.ndarray:
    """Validity of one eye per row from ``Valid``/``Invalid``, 0/1, or Tobii Studio codes 0-4."""
    text = _folded_text(col)
    valid = text == "valid"
    if valid.any() or (text == "invalid").any():
        return valid
    codes = _numbers(col, decimal_comma)
    if np.nanmax(codes, initial=0.0) > 1:
        return codes <= 1  # Tobii Studio: 0 certain, 1 probable; 2-4 uncertain to not found
    as_flag = codes == 1
    as_studio = codes <= 1
    if np.mean(as_studio == gaze_present) > np.mean(as_flag == gaze_present):
        return as_studio
    return as_flag


def _first_text(col: pd.Series | None) -> str | None:
    if col is None:
        return None
    texts = (str(value).strip() for value in col.dropna())
    return next((text for text in texts if text), None)


def sample_interval(t: np.ndarray) -> float | None:
    """Mean interval between consecutive distinct finite timestamps ``t``, ignoring gaps (more
    than 3× the median interval); None below two timestamps.

    The mean, not the median: Pro Lab writes whole milliseconds, so a 120 Hz recording has
    intervals 8, 8, 9 ms whose median (8 ms) would read as 125 Hz.
    """
    steps = np.diff(np.unique(t[np.isfinite(t)]))
    if len(steps) == 0:
        return None
    return float(steps[steps <= 3.0 * np.median(steps)].mean())


def implied_rate_hz(t: np.ndarray, units_per_ms: float = 1.0) -> float | None:
    """Sampling rate (Hz) implied by timestamps ``t`` counted in units of 1/``units_per_ms`` ms
    (`sample_interval`); None below two timestamps."""
    interval = sample_interval(t)
    return None if interval is None else 1000.0 * units_per_ms / interval


def _plausible(rate: float | None) -> bool:
    low, high = PLAUSIBLE_RATE_HZ
    return rate is not None and low <= rate <= high


def _header_unit(header: str) -> str | None:
    key = header_key(header, exact=True)
    if key in _MICROSECOND_SPELLINGS:
        return "μs"
    if key.endswith("[ms]"):
        return "ms"
    return None


def timestamps_in_ms(
    t: np.ndarray, header: str, path: str | Path
) -> tuple[np.ndarray, str, str | None]:
    """Timestamps of column ``header`` converted to ms, the unit they were read in, and a note
    when that unit was inferred.

    A header with a unit (``[ms]``, ``[μs]``) is trusted only if the sampling rate it implies is
    one an eye tracker has (`PLAUSIBLE_RATE_HZ`); otherwise the file is an `InputError` naming
    the column, the implied rate and the unit that would fit. A header without one (``Recording
    timestamp``, Tobii Studio's ``RecordingTimestamp``) is read in the unit that gives a
    plausible rate (the range spans less than a factor 1000, so at most one does), and the
    returned note says so; with fewer than two distinct timestamps it is read as ms.
    """
    low, high = PLAUSIBLE_RATE_HZ
    rates = {unit: implied_rate_hz(t, scale) for unit, scale in _UNITS_PER_MS.items()}
    fits = [unit for unit, rate in rates.items() if _plausible(rate)]
    stated = _header_unit(header)
    if rates["ms"] is None:
        unit = stated or "ms"
        note = None if stated else f"{header!r}: unit not stated, too few samples to infer; ms"
        return t / _UNITS_PER_MS[unit], unit, note
    if stated is not None:
        if stated in fits:
            return t / _UNITS_PER_MS[stated], stated, None
        problem = (
            f"column {header!r} states {_UNIT_NAMES[stated]}, which makes this a "
            f"{rates[stated]:.3g} Hz recording of {_duration(t, stated)}; eye trackers sample "
            f"at {low:g}-{high:g} Hz"
        )
        if fits:
            problem += (
                f". The timestamps look like {_UNIT_NAMES[fits[0]]} ({rates[fits[0]]:.3g} Hz): "
                "correct the unit in the header"
            )
        raise InputError(path, problem)
    if not fits:
        raise InputError(
            path,
            f"column {header!r} states no unit, and neither milliseconds "
            f"({rates['ms']:.3g} Hz) nor microseconds ({rates['μs']:.3g} Hz) gives an eye-tracker "
            f"sampling rate ({low:g}-{high:g} Hz)",
        )
    unit = fits[0]
    note = (
        f"{header!r} states no unit; read as {_UNIT_NAMES[unit]}, inferred from the sample "
        f"spacing ({rates[unit]:.3g} Hz)"
    )
    return t / _UNITS_PER_MS[unit], unit, note


def _duration(t: np.ndarray, unit: str) -> str:
    finite = t[np.isfinite(t)]
    seconds = float(finite.max() - finite.min()) / _UNITS_PER_MS[unit] / 1000.0
    if seconds >= 7200:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.3g} s"


def read_tobii_export(path: str | Path) -> GazeRecording:
    """Read a Tobii Pro Lab (or Tobii Studio) data export; see the module docstring."""
    path = Path(path)
    notes: list[str] = []
    table = read_table(path, notes)
    headers = list(table.columns)
    column_map, unknown = match_columns(headers)

    missing = [_describe_missing([c]) for c in REQUIRED_COLUMNS if c not in column_map]
    if not any(c in column_map for c in PUPIL_COLUMNS):
        missing.append(_describe_missing(PUPIL_COLUMNS))
    if missing:
        raise InputError(
            path, f"missing column(s) {', '.join(missing)}; found: {_describe_found(headers)}"
        )
    if table.empty:
        raise InputError(path, "no data rows below the header")

    if SENSOR in column_map:
        eye_rows = _folded_text(table[column_map[SENSOR]]) == "eye tracker"
        if not eye_rows.any():
            raise InputError(path, f"no rows with {column_map[SENSOR]!r} = 'Eye Tracker'")
        if not eye_rows.all():
            notes.append(
                f"kept {int(eye_rows.sum())} of {len(eye_rows)} rows (Sensor = Eye Tracker)"
            )
            table = table.loc[eye_rows]

    numeric = [
        table[column_map[c]] for c in (TIME, GAZE_X, GAZE_Y, *PUPIL_COLUMNS) if c in column_map
    ]
    decimal_comma = _uses_decimal_comma(numeric)
    if decimal_comma:
        notes.append("numbers use a decimal comma")

    def numbers(canonical: str) -> np.ndarray | None:
        if canonical not in column_map:
            return None
        return _numbers(table[column_map[canonical]], decimal_comma)

    t = numbers(TIME)
    x, y = numbers(GAZE_X), numbers(GAZE_Y)
    if not np.isfinite(t).any():
        raise InputError(path, f"column {column_map[TIME]!r} holds no numeric timestamps")
    t, time_unit, unit_note = timestamps_in_ms(t, column_map[TIME], path)
    if unit_note:
        notes.append(unit_note)

    left, right = numbers(PUPIL_LEFT), numbers(PUPIL_RIGHT)
    if left is None and right is None:
        left = right = numbers(PUPIL_FILTERED)

    gaze_present = np.isfinite(x) & np.isfinite(y)
    valid = {
        eye: parse_validity(table[column_map[name]], gaze_present, decimal_comma)
        if name in column_map
        else None
        for eye, name in (("left", VALIDITY_LEFT), ("right", VALIDITY_RIGHT))
    }
    movement = None
    if MOVEMENT_TYPE in column_map:
        movement = _per_cell(*_distinct(table[column_map[MOVEMENT_TYPE]]), "")

    def text_column(canonical: str) -> pd.Series | None:
        return table[column_map[canonical]] if canonical in column_map else None

    return GazeRecording.from_arrays(
        t,
        x,
        y,
        left,
        right,
        valid_left=valid["left"],
        valid_right=valid["right"],
        movement_type=movement,
        path=path,
        column_map=column_map,
        unknown_columns=unknown,
        participant=_first_text(text_column(PARTICIPANT)),
        recording=_first_text(text_column(RECORDING)),
        notes=notes,
        time_unit=time_unit,
        time_unit_inferred=unit_note is not None,
    )
