"""One header normaliser for every raw table: what counts as the same header, at both levels."""

from __future__ import annotations

import re

import pytest

from emobench.datasets import coding_sheet, emer, masked, tobii
from emobench.datasets.headers import header_key

TRICKY = [
    "Onset Frame",
    " onset_frame ",
    "OnsetFrame",
    "ER 7-class",
    "ER_7",
    "Größe",
    "ſubject",
    "Pupil diameter left [mm]",
    "Recording timestamp [µs]",
    "Recording  TIMESTAMP [μs]",
    "Unnamed: 3",
    "",
    "\ufeffID",
]


def _before_sheets(name: object) -> str:
    # coding_sheet.normalise_header and emer._normalise_header before they became one
    return re.sub(r"[^a-z0-9]+", "", str(name).lower())


def _before_tobii(header: object) -> str:
    return " ".join(str(header).split()).casefold().replace("µ", "μ")


def _all_spellings() -> list[str]:
    spellings = list(TRICKY)
    for table in (emer.LABEL_COLUMNS, tobii.ACCEPTED_COLUMNS, masked.MaskedAdapter.label_columns):
        spellings += [s for aliases in table.values() for s in aliases]
    return spellings


@pytest.mark.parametrize("name", _all_spellings())
def test_both_levels_key_every_accepted_spelling_as_before(name: str) -> None:
    assert header_key(name) == _before_sheets(name)
    assert header_key(name, exact=True) == _before_tobii(name)
    assert coding_sheet.normalise_header(name) == header_key(name)


def test_loose_level_ignores_spacing_case_and_punctuation() -> None:
    assert header_key("Onset Frame") == header_key("onset_frame") == header_key("OnsetFrame")
    assert header_key("ER 7-class") == "er7class"


def test_exact_level_keeps_units_apart() -> None:
    assert header_key("Recording timestamp [µs]", exact=True) == header_key(
        "recording  timestamp [μs]", exact=True
    )
    assert header_key("Recording timestamp [ms]", exact=True) != header_key(
        "Recording timestamp [μs]", exact=True
    )
    column_map, unknown = tobii.match_columns(["Recording timestamps", "Gaze point X"])
    assert "Recording timestamp" not in column_map and unknown == ("Recording timestamps",)
