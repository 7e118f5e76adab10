"""Thermal images read as data, not pictures: one float32 channel per file, and how it was read.

A thermal camera measures radiance at every pixel; what a model should learn from is that
measurement (or the temperature computed from it), one value per pixel. Databases deliver it
in several forms, each read here into a :class:`ThermalReading` (``values`` (H, W) float32,
``source``, ``unit``):

``8-bit grey`` (unit ``grey level 0-255``)
    a camera's display image in grey — one channel, or three channels equal to within
    ``GREY_CHANNEL_SLACK`` = 2 levels (what JPEG or a converter may leave) — in PNG, JPEG, TIFF
    or BMP: the grey level rises with temperature over the span the camera showed, so it is
    kept as it is (an alpha channel is dropped).
``16-bit counts`` (unit ``raw counts``)
    a one-channel 16-bit PNG or TIFF: the sensor's raw counts or a linear temperature (FLIR's
    TLinear is 0.01 K per count), the most faithful form; the thermal step's
    ``--thermal-scale``/``--thermal-offset`` turn it into °C.
``float matrix (.npy)`` (unit ``as stored``)
    a temperature matrix exported by the camera's tools (°C or K, as the database says), 2-D
    or with one singleton channel axis, float or integer, kept as stored.
``float matrix (.csv)`` (unit ``as stored``)
    the same as text, comma- or semicolon-separated (with semicolons a decimal comma is
    accepted); every cell must be a number.
``palette <name>`` (unit ``palette position 0-255``)
    an 8-bit display image painted through a colour palette (jet, inferno, ...), given with
    ``--thermal-palette <name>``: each pixel becomes the position of the nearest palette colour
    (0 = the palette's coldest end), found with a k-d tree over the palette's 256 colours. A
    palette applies to 8-bit images only: matrices and 16-bit counts are read as they are
    whatever the palette (a database may mix them), while an 8-bit grey image given a palette
    must fit it (``grey_r`` inverts a black-hot grey image).

A colour image is never read as if its colours were grey levels: without a palette it is an
error naming the file and the known palettes, because averaging the channels of a jet or
inferno image does not give a value that rises with temperature. A palette that does not fit
the pixels is an error too (see :func:`palette_fit`); so are an unreadable or cut-short file,
an empty matrix, NaN or infinite values, a 1-D array, and an unknown suffix — each an
:class:`~emobench.errors.InputError` naming the file and the problem.

Palettes are OpenCV's colour maps (``cv2.applyColorMap`` on the ramp 0..255, ``PALETTES``
lower-cased, e.g. ``jet``, ``inferno``, ``turbo``) plus ``grey``, each also reversed
(``<name>_r``: position 0 at the other end) because cameras differ in which end is cold —
OpenCV's ``rainbow`` runs from red to violet, while many cameras paint cold as violet. The
cyclic maps (``hsv``, ``twilight``, ``twilight_shifted``) start and end on the same colour, so
they cannot be inverted and are left out. Palettes that share colours cannot be told apart by
the pixels (``autumn``'s red-to-yellow lies inside ``hot``): the fit check catches a palette
that lacks the image's colours, not one whose colours are a superset of them. Camera-vendor
palettes (FLIR's iron, arctic, ...) are not OpenCV maps and are not offered: export the
radiometric data (``.npy``, ``.csv``, 16-bit TIFF) instead.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pandas as pd

from emobench.errors import InputError

if TYPE_CHECKING:
    from sklearn.neighbors import KDTree
from emobench.prepare.video import jpeg_problem

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")
MATRIX_SUFFIXES: tuple[str, ...] = (".npy", ".csv")
SUFFIXES: tuple[str, ...] = IMAGE_SUFFIXES + MATRIX_SUFFIXES

# Cyclic OpenCV maps: both ends share a colour, so a position cannot be read back.
_CYCLIC = frozenset({"hsv", "twilight", "twilight_shifted"})
_BASE_PALETTES: tuple[str, ...] = (
    *sorted(
        name[len("COLORMAP_") :].lower()
        for name in dir(cv2)
        if name.startswith("COLORMAP_") and name[len("COLORMAP_") :].lower() not in _CYCLIC
    ),
    "grey",
)
PALETTES: tuple[str, ...] = (*_BASE_PALETTES, *(f"{name}_r" for name in _BASE_PALETTES))
"""Names a user can pass as ``--thermal-palette`` (``<name>_r``: the same colours reversed)."""
_KNOWN_PALETTES = f"known palettes: {', '.join(_BASE_PALETTES)}, each also reversed as <name>_r"

# The palette tolerance, in RGB units (Euclidean distance to the nearest palette colour): an
# image fits when its median distance is at most ``FIT_MEDIAN`` and at most ``FIT_FAR_SHARE``
# of its pixels lie further than ``FIT_FAR`` — room for JPEG-blurred colour edges and a small
# overlay (scale bar, logo), not for a foreign region (how the limits were measured: CHANGELOG,
# 2026-12-01). Low-saturation palettes (grey, bone, pink) lie close to pale, greyish
# photographs and can fit them: the check is a safety net, not a classifier.
FIT_MEDIAN = 15.0
FIT_FAR = 60.0
FIT_FAR_SHARE = 0.15
GREY_CHANNEL_SLACK = 2  # a pixel is grey when its three channels differ by at most this
GREY_PIXEL_SHARE = 0.99  # a 3-channel image is grey when this share of its pixels is grey


@dataclass(frozen=True)
class ThermalReading:
    """One thermal file's values and how they were read (recorded per row in the pack)."""

    values: np.ndarray  # (H, W) float32
    source: str  # "8-bit grey" | "16-bit counts" | "float matrix (.npy)" | ... | "palette <name>"
    unit: str  # "grey level 0-255" | "raw counts" | "as stored" | "palette position 0-255"


def palette_colours(name: str) -> np.ndarray:
    """The 256 colours of palette ``name`` as (256, 3) uint8 RGB, position 0 = coldest."""
    return _palette(name).copy()


@functools.cache
def _palette(name: str) -> np.ndarray:
    if name not in PALETTES:
        raise ValueError(f"unknown palette {name!r}; known: {', '.join(PALETTES)}")
    base = name[:-2] if name.endswith("_r") else name
    ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
    if base == "grey":
        colours = np.repeat(ramp, 3, axis=1)
    else:
        bgr = cv2.applyColorMap(ramp, getattr(cv2, f"COLORMAP_{base.upper()}"))
        colours = bgr[:, 0, ::-1]
    colours = np.ascontiguousarray(colours[::-1] if name.endswith("_r") else colours)
    colours.flags.writeable = False
    return colours


@functools.cache
def _palette_tree(name: str) -> KDTree:
    from sklearn.neighbors import KDTree  # here: importing scikit-learn costs every CLI call 1 s

    return KDTree(_palette(name).astype(np.float64))


@dataclass(frozen=True)
class PaletteFit:
    """How well an RGB image fits a palette: per pixel, the nearest colour's position and
    distance; ``fits`` applies the documented tolerance."""

    positions: np.ndarray  # (H, W) float32, 0..255
    median_distance: float
    far_share: float  # share of pixels further than FIT_FAR

    @property
    def fits(self) -> bool:
        return self.median_distance <= FIT_MEDIAN and self.far_share <= FIT_FAR_SHARE


def palette_fit(rgb: np.ndarray, palette: str) -> PaletteFit:
    """Invert an (H, W, 3) uint8 RGB image through ``palette`` by nearest colour (a k-d tree
    over the 256 palette colours, queried once per distinct image colour)."""
    h, w = rgb.shape[:2]
    flat = rgb.reshape(-1, 3).astype(np.int32)
    keys = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    unique, inverse = np.unique(keys, return_inverse=True)
    colours = np.stack([(unique >> 16) & 255, (unique >> 8) & 255, unique & 255], axis=1)
    distance, index = _palette_tree(palette).query(colours.astype(np.float64), k=1)
    pixel_distance = distance[:, 0][inverse]
    positions = index[:, 0][inverse].astype(np.float32).reshape(h, w)
    return PaletteFit(
        positions=positions,
        median_distance=float(np.median(pixel_distance)),
        far_share=float(np.mean(pixel_distance > FIT_FAR)),
    )


def read_thermal(path: Path, palette: str | None = None) -> ThermalReading:
    """Read one thermal file (see the module docstring for the forms); ``palette`` names the
    colour map of a colour-mapped image. Raises InputError(path, problem) on bad input."""
    path = Path(path)
    if palette is not None and palette not in PALETTES:
        raise InputError(path, f"unknown thermal palette {palette!r} ({_KNOWN_PALETTES})")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(
            path,
            f"unknown thermal file type {path.suffix or '(no suffix)'!r}; "
            f"known: {', '.join(SUFFIXES)}",
        )
    if not path.is_file():
        raise InputError(path, "thermal file not found")
    if suffix == ".npy":
        reading = ThermalReading(_read_npy(path), "float matrix (.npy)", "as stored")
    elif suffix == ".csv":
        reading = ThermalReading(_read_csv(path), "float matrix (.csv)", "as stored")
    else:
        reading = _read_image(path, palette)
    _check_matrix(path, reading.values)
    return reading


# ----------------------------------------------------------------------------------------------
# Images.


def _read_image(path: Path, palette: str | None) -> ThermalReading:
    data = path.read_bytes()
    if not data:
        raise InputError(path, "thermal image file is empty")
    problem = jpeg_problem(data)
    if problem:
        raise InputError(path, problem)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(path, "not a readable image (OpenCV could not decode it)")
    if image.ndim == 3 and image.shape[2] in (2, 4):
        image = image[:, :, :-1]  # drop the alpha channel
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.dtype == np.uint16:
        return ThermalReading(_one_channel(path, image, "16-bit"), "16-bit counts", "raw counts")
    if image.dtype != np.uint8:
        raise InputError(
            path,
            f"{image.dtype} image data is not supported (8-bit grey or colour-mapped, 16-bit "
            "counts); save a float temperature matrix as .npy or .csv",
        )
    grey = image if image.ndim == 2 else _equal_channels(image)
    if palette is None:
        if grey is None:
            raise InputError(
                path,
                "is a colour image: a colour-mapped thermal image needs --thermal-palette "
                f"naming its colour map ({_KNOWN_PALETTES})",
            )
        return ThermalReading(grey.astype(np.float32), "8-bit grey", "grey level 0-255")
    rgb = np.repeat(grey[:, :, None], 3, axis=2) if grey is not None else image[:, :, ::-1]
    fit = palette_fit(rgb, palette)
    if not fit.fits:
        kind = "grey" if grey is not None else "colour"
        raise InputError(
            path,
            f"the {kind} pixels do not fit palette {palette!r}: median distance to the nearest "
            f"palette colour {fit.median_distance:.1f} (at most {FIT_MEDIAN:g} fits), "
            f"{100 * fit.far_share:.1f} % of pixels further than {FIT_FAR:g} (at most "
            f"{100 * FIT_FAR_SHARE:g} %); check --thermal-palette"
            + (" or leave it out for a grey image" if grey is not None else ""),
        )
    return ThermalReading(fit.positions, f"palette {palette}", "palette position 0-255")


def _equal_channels(image: np.ndarray) -> np.ndarray | None:
    """The grey level of a 3-channel image whose channels agree (within the slack JPEG or a
    converter may leave), else None."""
    wide = image.astype(np.int16)
    spread = wide.max(axis=2) - wide.min(axis=2)
    if spread.size and float((spread <= GREY_CHANNEL_SLACK).mean()) < GREY_PIXEL_SHARE:
        return None  # a few coloured pixels (a logo, a cursor) leave a grey image grey
    return np.round(wide.mean(axis=2)).astype(np.uint8)


def _one_channel(path: Path, image: np.ndarray, depth: str) -> np.ndarray:
    if image.ndim == 2:
        return image.astype(np.float32)
    grey = image.astype(np.int32)
    if np.ptp(grey, axis=2).max(initial=0) > 0:
        raise InputError(
            path, f"is a {depth} colour image; thermal counts must be one channel (grey)"
        )
    return grey[:, :, 0].astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Matrices.


def _read_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise InputError(path, f"not a readable .npy array ({err})") from err
    if not isinstance(array, np.ndarray):
        raise InputError(path, "holds several arrays (.npz); expected one 2-D matrix")
    if array.dtype.kind not in "fiu":
        raise InputError(path, f"holds {array.dtype} values; expected a float or int matrix")
    if array.ndim == 3 and 1 in (array.shape[0], array.shape[2]):
        array = array.reshape(
            array.shape[1:] if array.shape[0] == 1 else array.shape[:2]
        )  # one channel, first or last
    if array.ndim != 2:
        raise InputError(
            path, f"is a {array.ndim}-D array of shape {array.shape}; expected a 2-D matrix"
        )
    return array.astype(np.float32)


def _read_csv(path: Path) -> np.ndarray:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (UnicodeDecodeError, OSError) as err:
        raise InputError(path, f"not a readable text file ({err})") from err
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise InputError(path, "the thermal matrix is empty (no rows)")
    sep = ";" if ";" in lines[0] else ","
    decimal = "," if sep == ";" and "," in text else "."
    try:
        frame = pd.read_csv(
            io.StringIO("\n".join(lines)),
            sep=sep,
            header=None,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
        )
    except pd.errors.ParserError as err:
        problem = str(err).strip().removeprefix("Error tokenizing data. C error: ")
        raise InputError(path, f"not a matrix: rows of different lengths ({problem})") from err
    cells = frame.apply(lambda column: column.str.strip()).to_numpy(str)
    while cells.shape[1] > 1 and (cells[:, -1] == "").all():
        cells = cells[:, :-1]  # a trailing separator on every row
    if decimal == ",":
        cells = np.char.replace(cells, ",", ".")
    numbers = pd.DataFrame(cells).apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    written_nan = np.char.lower(cells) == "nan"  # a NaN the file states: reported as NaN below
    bad = np.argwhere(np.isnan(numbers) & ~written_nan)
    if len(bad):
        r, c = (int(v) for v in bad[0])
        value = str(cells[r, c])
        shown = "an empty cell" if value == "" else f"non-numeric cell {value!r}"
        raise InputError(
            path, f"{shown} at row {r + 1}, column {c + 1} ({len(bad)} bad cells in all)"
        )
    return numbers.astype(np.float32)


def _check_matrix(path: Path, values: np.ndarray) -> None:
    if values.size == 0:
        raise InputError(path, f"the thermal matrix is empty (shape {values.shape})")
    if values.ndim != 2:
        raise InputError(path, f"is {values.ndim}-D; expected a 2-D matrix")
    if min(values.shape) < 2:
        raise InputError(
            path, f"is a {values.shape[0]}×{values.shape[1]} matrix; need at least 2×2 values"
        )
    bad = ~np.isfinite(values)
    if bad.any():
        n_nan = int(np.isnan(values).sum())
        raise InputError(
            path,
            f"holds {n_nan} NaN and {int(bad.sum()) - n_nan} infinite values; "
            "every pixel needs a finite number",
        )
