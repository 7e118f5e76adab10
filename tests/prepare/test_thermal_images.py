"""The thermal reader: every format, the palette inversion and its tolerance (both sides), and
an error naming the file for every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from emobench.datasets.synth.face_renderer import Identity, render_face
from emobench.datasets.synth.thermal_layer import ThermalIdentity, render_thermal
from emobench.errors import InputError
from emobench.prepare.thermal_images import (
    FIT_FAR,
    FIT_FAR_SHARE,
    FIT_MEDIAN,
    GREY_CHANNEL_SLACK,
    PALETTES,
    palette_colours,
    palette_fit,
    read_thermal,
)


def ramp(h: int = 32, w: int = 48) -> np.ndarray:
    """A uint8 image whose values cover 0..255 (every palette position appears)."""
    return (np.arange(h * w).reshape(h, w) % 256).astype(np.uint8)


def write_image(path: Path, image: np.ndarray, *params: int) -> Path:
    assert cv2.imwrite(str(path), image, list(params))
    return path


def bad_input(path: Path, palette: str | None = None) -> str:
    """The problem ``read_thermal`` reports for ``path``; asserts that it names the file."""
    with pytest.raises(InputError) as caught:
        read_thermal(path, palette)
    assert caught.value.path == str(path)
    assert str(path) in str(caught.value)
    return caught.value.problem


@pytest.fixture(scope="module")
def thermal_face() -> np.ndarray:
    """A drawn face's temperature map as 8-bit levels over 20-40 °C (what a camera shows)."""
    rng = np.random.default_rng(4)
    temps = render_thermal(Identity.sample(rng), ThermalIdentity.sample(rng), {}, 96, rng)
    return np.clip(np.round((temps - 20.0) / 20.0 * 255.0), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# Formats.


def test_one_channel_grey(tmp_path) -> None:
    grey = ramp()
    reading = read_thermal(write_image(tmp_path / "t.png", grey))
    assert (reading.source, reading.unit) == ("8-bit grey", "grey level 0-255")
    assert reading.values.dtype == np.float32 and reading.values.shape == grey.shape
    np.testing.assert_array_equal(reading.values, grey)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".jpg"])
def test_three_equal_channels_are_grey(tmp_path, suffix) -> None:
    grey = cv2.GaussianBlur(ramp(), (0, 0), 2)  # smooth, so JPEG keeps it close
    reading = read_thermal(write_image(tmp_path / f"t{suffix}", cv2.merge([grey] * 3)))
    assert reading.source == "8-bit grey"
    assert np.abs(reading.values - grey).max() <= (0 if suffix != ".jpg" else 12)


def test_grey_channel_slack_both_sides(tmp_path) -> None:
    grey = (20 + ramp() % 200).astype(np.uint8)
    near = cv2.merge([grey, grey + GREY_CHANNEL_SLACK, grey])
    reading = read_thermal(write_image(tmp_path / "near.png", near))
    assert reading.source == "8-bit grey"
    assert np.abs(reading.values - grey).max() <= 1  # the channels' mean
    far = cv2.merge([grey, grey + GREY_CHANNEL_SLACK + 1, grey])
    assert "is a colour image" in bad_input(write_image(tmp_path / "far.png", far))


def test_grey_with_alpha_channel(tmp_path) -> None:
    grey = ramp()
    rgba = cv2.merge([grey, grey, grey, np.full_like(grey, 255)])
    reading = read_thermal(write_image(tmp_path / "t.png", rgba))
    assert reading.source == "8-bit grey"
    np.testing.assert_array_equal(reading.values, grey)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".tiff"])
def test_sixteen_bit_counts(tmp_path, suffix) -> None:
    counts = (30000 + ramp().astype(np.uint16) * 37).astype(np.uint16)
    reading = read_thermal(write_image(tmp_path / f"t{suffix}", counts))
    assert (reading.source, reading.unit) == ("16-bit counts", "raw counts")
    np.testing.assert_array_equal(reading.values, counts.astype(np.float32))


def test_sixteen_bit_colour_is_refused(tmp_path) -> None:
    counts = (30000 + ramp().astype(np.uint16)).astype(np.uint16)
    image = cv2.merge([counts, counts + 1, counts])
    assert "one channel" in bad_input(write_image(tmp_path / "t.png", image))


def test_palette_applies_to_eight_bit_images_only(tmp_path) -> None:
    counts = (30000 + ramp().astype(np.uint16)).astype(np.uint16)
    assert read_thermal(write_image(tmp_path / "t.png", counts), "jet").source == "16-bit counts"
    np.save(tmp_path / "t.npy", np.ones((3, 3)))
    assert read_thermal(tmp_path / "t.npy", "jet").source == "float matrix (.npy)"


def test_float_tiff_is_refused_with_advice(tmp_path) -> None:
    path = write_image(tmp_path / "t.tif", ramp().astype(np.float32) / 7.0)
    assert ".npy" in bad_input(path)


@pytest.mark.parametrize(
    "array",
    [
        np.linspace(20.0, 37.0, 30 * 40).reshape(30, 40),
        np.linspace(20.0, 37.0, 30 * 40).reshape(30, 40).astype(np.float32),
        np.arange(30 * 40, dtype=np.int32).reshape(30, 40),
        np.linspace(20.0, 37.0, 30 * 40).reshape(30, 40, 1),
        np.linspace(20.0, 37.0, 30 * 40).reshape(1, 30, 40),
    ],
    ids=["float64", "float32", "int32", "HxWx1", "1xHxW"],
)
def test_npy_matrix(tmp_path, array) -> None:
    np.save(tmp_path / "t.npy", array)
    reading = read_thermal(tmp_path / "t.npy")
    assert (reading.source, reading.unit) == ("float matrix (.npy)", "as stored")
    assert reading.values.dtype == np.float32 and reading.values.shape == (30, 40)
    np.testing.assert_allclose(reading.values, array.reshape(30, 40), rtol=1e-6)


@pytest.mark.parametrize(
    "text",
    [
        "20.5,21.0,22\n23,24.25,25\n",
        "20.5;21.0;22\n23;24.25;25\n",
        "20,5;21,0;22\n23;24,25;25\n",  # decimal commas
        "20.5,21.0,22,\n23,24.25,25,\n",  # a trailing separator
        "\ufeff20.5, 21.0, 22\r\n23, 24.25, 25\r\n\r\n",  # BOM, spaces, CRLF, a blank line
    ],
    ids=["comma", "semicolon", "decimal-comma", "trailing-separator", "bom-crlf"],
)
def test_csv_matrix(tmp_path, text) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode("utf-8"))
    reading = read_thermal(path)
    assert (reading.source, reading.unit) == ("float matrix (.csv)", "as stored")
    np.testing.assert_allclose(reading.values, [[20.5, 21.0, 22.0], [23.0, 24.25, 25.0]])


# ----------------------------------------------------------------------------------------------
# Palettes.


def test_palettes_are_opencv_maps_plus_grey_and_reversed() -> None:
    assert {
        "jet",
        "hot",
        "inferno",
        "magma",
        "plasma",
        "viridis",
        "turbo",
        "rainbow",
        "bone",
    } <= set(PALETTES)
    assert "grey" in PALETTES and "jet_r" in PALETTES and "grey_r" in PALETTES
    assert not {"hsv", "twilight", "twilight_shifted"} & set(PALETTES)  # cyclic: not invertible
    for name in PALETTES:
        colours = palette_colours(name)
        assert colours.shape == (256, 3) and colours.dtype == np.uint8
    np.testing.assert_array_equal(palette_colours("grey")[:, 0], np.arange(256))
    np.testing.assert_array_equal(palette_colours("jet_r"), palette_colours("jet")[::-1])
    assert palette_colours("inferno")[0].sum() < palette_colours("inferno")[255].sum()  # 0 = cold
    assert tuple(palette_colours("hot")[0]) == (0, 0, 0)
    with pytest.raises(ValueError, match="unknown palette"):
        palette_colours("ironbow")


@pytest.mark.parametrize("name", PALETTES)
def test_palette_ramp_round_trip(tmp_path, name) -> None:
    grey = ramp()
    path = write_image(tmp_path / "t.png", palette_colours(name)[grey][:, :, ::-1])
    reading = read_thermal(path, name)
    assert (reading.source, reading.unit) == (f"palette {name}", "palette position 0-255")
    assert np.abs(reading.values - grey).max() <= 1


@pytest.mark.parametrize("name", PALETTES)
def test_palette_survives_jpeg(tmp_path, name, thermal_face) -> None:
    path = tmp_path / "t.jpg"
    write_image(path, palette_colours(name)[thermal_face][:, :, ::-1], cv2.IMWRITE_JPEG_QUALITY, 50)
    reading = read_thermal(path, name)
    assert np.median(np.abs(reading.values - thermal_face)) <= 3


def test_palette_median_tolerance_both_sides(tmp_path) -> None:
    """Pixels at a known distance from the grey palette: (g + a, g − a, g) lies a·√2 from its
    nearest palette grey (g, g, g)."""
    grey = (40 + ramp() % 170).astype(np.int32)
    inside = int(FIT_MEDIAN / np.sqrt(2))  # a·√2 just below the limit
    for a, fits in ((inside, True), (inside + 1, False)):
        rgb = np.stack([grey + a, grey - a, grey], axis=2).astype(np.uint8)
        assert palette_fit(rgb, "grey").fits is fits
        path = write_image(tmp_path / f"a{a}.png", rgb[:, :, ::-1])
        if fits:
            assert read_thermal(path, "grey").source == "palette grey"
        else:
            assert "do not fit palette 'grey'" in bad_input(path, "grey")


def test_palette_far_share_tolerance_both_sides(tmp_path) -> None:
    """A block of a colour far from every inferno colour (pure green), on fewer or more than
    ``FIT_FAR_SHARE`` of the pixels."""
    rows = 100
    green = np.array([0, 255, 0], np.uint8)
    assert palette_fit(green.reshape(1, 1, 3), "inferno").median_distance > FIT_FAR
    for share, fits in ((FIT_FAR_SHARE - 0.05, True), (FIT_FAR_SHARE + 0.05, False)):
        rgb = palette_colours("inferno")[ramp(rows, 64)].copy()
        rgb[: round(share * rows)] = green
        fit = palette_fit(rgb, "inferno")
        assert fit.fits is fits and fit.median_distance <= FIT_MEDIAN
        path = write_image(tmp_path / f"s{share:.2f}.png", rgb[:, :, ::-1])
        if fits:
            assert read_thermal(path, "inferno").source == "palette inferno"
        else:
            assert "% of pixels further than" in bad_input(path, "inferno")


def test_wrong_palette_and_photo_do_not_fit(tmp_path, thermal_face) -> None:
    jet = write_image(tmp_path / "jet.png", palette_colours("jet")[thermal_face][:, :, ::-1])
    assert "do not fit palette 'inferno'" in bad_input(jet, "inferno")
    face = render_face(Identity(), {}, 96, np.random.default_rng(0))
    photo = write_image(tmp_path / "photo.jpg", face)
    assert "do not fit palette 'jet'" in bad_input(photo, "jet")


def test_grey_image_with_colour_palette(tmp_path) -> None:
    path = write_image(tmp_path / "t.png", ramp())
    assert "leave it out for a grey image" in bad_input(path, "jet")
    reading = read_thermal(path, "grey_r")  # a black-hot grey image, inverted on purpose
    np.testing.assert_array_equal(reading.values, 255 - ramp())


def test_colour_image_without_palette_names_the_option(tmp_path, thermal_face) -> None:
    path = write_image(tmp_path / "t.jpg", palette_colours("jet")[thermal_face][:, :, ::-1])
    problem = bad_input(path)
    assert "--thermal-palette" in problem and "jet" in problem and "inferno" in problem


# ----------------------------------------------------------------------------------------------
# Bad input: every problem names the file.


def _npy(array: np.ndarray):
    return lambda path: np.save(path, array)


def _text(text: str):
    return lambda path: path.write_text(text, encoding="utf-8")


def _bytes(data: bytes):
    return lambda path: path.write_bytes(data)


def _cut_jpeg(path: Path) -> None:
    ok, buf = cv2.imencode(".jpg", cv2.GaussianBlur(ramp(64, 64), (0, 0), 3))
    path.write_bytes(buf.tobytes()[: len(buf) // 2])


BAD = {
    "unknown suffix": ("t.gif", _bytes(b"GIF89a"), "unknown thermal file type"),
    "no suffix": ("thermal", _bytes(b"x"), "unknown thermal file type"),
    "corrupt png": ("t.png", _bytes(b"\x89PNG\r\n\x1a\n broken"), "not a readable image"),
    "empty image file": ("t.png", _bytes(b""), "empty"),
    "cut-short jpeg": ("t.jpg", _cut_jpeg, "cut short"),
    "1-D npy": ("t.npy", _npy(np.arange(10.0)), "1-D"),
    "3-channel npy": ("t.npy", _npy(np.zeros((4, 4, 3))), "3-D"),
    "empty npy": ("t.npy", _npy(np.zeros((0, 5))), "empty"),
    "nan npy": ("t.npy", _npy(np.array([[1.0, np.nan], [2.0, 3.0]])), "NaN"),
    "inf npy": ("t.npy", _npy(np.array([[1.0, np.inf], [2.0, 3.0]])), "infinite"),
    "bool npy": ("t.npy", _npy(np.ones((3, 3), bool)), "bool"),
    "one-row npy": ("t.npy", _npy(np.ones((1, 5))), "at least 2×2"),
    "object npy": ("t.npy", _npy(np.array([[{}, 1], [2, 3]], dtype=object)), ".npy"),
    "not npy": ("t.npy", _bytes(b"not an array"), ".npy"),
    "non-numeric csv": ("t.csv", _text("1,2,3\n4,warm,6\n"), "'warm' at row 2, column 2"),
    "header csv": ("t.csv", _text("a,b\n1,2\n"), "non-numeric cell 'a' at row 1"),
    "empty cell csv": ("t.csv", _text("1,,3\n4,5,6\n"), "empty cell at row 1, column 2"),
    "ragged csv": ("t.csv", _text("1,2\n3,4,5\n"), "rows of different lengths"),
    "empty csv": ("t.csv", _text("\n \n"), "empty"),
    "nan csv": ("t.csv", _text("1,nan\n2,3\n"), "NaN"),
    "inf csv": ("t.csv", _text("1,inf\n2,3\n"), "infinite"),
    "1-D csv": ("t.csv", _text("1,2,3,4\n"), "at least 2×2"),
    "binary csv": ("t.csv", _bytes(b"\xff\xfe\x00\x81"), "not a readable text file"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_input_names_the_file(tmp_path, case) -> None:
    name, write, expected = BAD[case]
    path = tmp_path / name
    write(path)
    assert expected in bad_input(path)


def test_missing_file_and_unknown_palette(tmp_path) -> None:
    assert "not found" in bad_input(tmp_path / "absent.png")
    path = write_image(tmp_path / "t.png", ramp())
    assert "unknown thermal palette 'ironbow'" in bad_input(path, "ironbow")
