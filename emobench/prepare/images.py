"""Still images as the visible and thermal steps store them: read checked, cropped to the
centre square, resized.

A capture of a paired visible/thermal database is one photograph per camera, usually taller
or wider than square; cutting the centre square before resizing keeps the face's proportions
(resizing the whole image would stretch it). Colour images are read as RGB uint8; values of
one-channel float matrices (thermal) are resized with area averaging when shrinking, so a
resized temperature is a mean of the temperatures it covers.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from emobench.errors import InputError
from emobench.prepare.video import read_image


def centre_square(image: np.ndarray) -> np.ndarray:
    """The largest centred square of an image (rows × columns first)."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[top : top + side, left : left + side]


def resized_square(image: np.ndarray, size: int) -> np.ndarray:
    """The centre square of ``image`` resized to ``size × size`` (area averaging when
    shrinking, bilinear when growing); dtype and channels are kept."""
    square = centre_square(image)
    interp = cv2.INTER_AREA if square.shape[0] >= size else cv2.INTER_LINEAR
    out = cv2.resize(square, (size, size), interpolation=interp)
    return out.reshape(size, size, *image.shape[2:])


def read_rgb(path: Path) -> np.ndarray:
    """A visible image as RGB uint8 (grey images get three equal channels). A missing,
    cut-short or undecodable file is an InputError naming it
    (:func:`~emobench.prepare.video.read_image`)."""
    if not path.is_file():
        raise InputError(path, "image file not found")
    return cv2.cvtColor(read_image(path), cv2.COLOR_BGR2RGB)
