"""``preview_masks``: the style × coverage sheet on astronaut, and its named errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from emobench.errors import InputError
from emobench.prepare.mask_drawing import COVERAGES, MASK_STYLES
from emobench.prepare.mask_preview import CELL, HEADER, LEGEND, preview_masks


def write_rgb(path: Path, rgb: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    return path


def test_the_sheet_has_a_row_per_style_and_a_column_per_coverage(tmp_path) -> None:
    image = write_rgb(tmp_path / "astronaut.png", skimage.data.astronaut())
    report = preview_masks(image, tmp_path / "out" / "sheet.png")
    sheet = cv2.imread(str(report.out))
    assert sheet is not None
    height, width = sheet.shape[:2]
    assert (width, height) == report.size
    assert width == LEGEND + CELL * (1 + len(COVERAGES))
    assert height == HEADER + CELL * len(MASK_STYLES)
    assert set(report.covered) == {(s, c) for s in MASK_STYLES for c in COVERAGES}
    for style in MASK_STYLES:
        shares = [report.covered[(style, c)] for c in COVERAGES]
        assert shares[0] > shares[1] > shares[2] > 0
    cells = [
        [
            sheet[
                HEADER + i * CELL : HEADER + (i + 1) * CELL,
                LEGEND + j * CELL : LEGEND + (j + 1) * CELL,
            ]
            for j in range(1 + len(COVERAGES))
        ]
        for i in range(len(MASK_STYLES))
    ]
    for row in cells:
        np.testing.assert_array_equal(row[0], cells[0][0])  # the same original in each row
        for masked in row[1:]:
            assert (masked != row[0]).any(axis=2).mean() > 0.03
    # The labels are drawn in the bands (white text on the dark grey background).
    assert (sheet[:HEADER] > 200).all(axis=2).any()
    assert (sheet[HEADER:, :LEGEND] > 200).all(axis=2).any()
    # The same image and seed give the same sheet.
    again = preview_masks(image, tmp_path / "again.png")
    np.testing.assert_array_equal(cv2.imread(str(again.out)), sheet)


def test_an_image_without_a_face_is_named(tmp_path) -> None:
    image = write_rgb(tmp_path / "blank.png", np.full((240, 320, 3), 127, dtype=np.uint8))
    with pytest.raises(InputError) as err:
        preview_masks(image, tmp_path / "sheet.png")
    assert err.value.path == str(image) and "no face" in err.value.problem
    assert not (tmp_path / "sheet.png").exists()


def test_an_unreadable_or_missing_image_is_named(tmp_path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    with pytest.raises(InputError) as err:
        preview_masks(broken, tmp_path / "sheet.png")
    assert err.value.path == str(broken)
    with pytest.raises(InputError, match="not found"):
        preview_masks(tmp_path / "missing.jpg", tmp_path / "sheet.png")


def test_the_sheet_must_be_a_png(tmp_path) -> None:
    image = write_rgb(tmp_path / "astronaut.png", skimage.data.astronaut())
    with pytest.raises(InputError, match=r"\.png"):
        preview_masks(image, tmp_path / "sheet.jpg")
