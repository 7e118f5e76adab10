"""The ``thermal`` step: the thermal image of a capture → ``thermal/image``, as data.

A thermal camera measures radiance, not colour: what a model should see is one channel of
values (raw counts, or temperatures), not a picture. The file is read by
:func:`~emobench.prepare.thermal_images.read_thermal` (8-bit grey, 16-bit counts, a float
matrix in ``.npy`` or ``.csv``, or a colour-mapped image inverted through
``--thermal-palette``), converted as ``value × --thermal-scale + --thermal-offset`` (e.g.
``0.01`` and ``-273.15`` turn FLIR's centikelvin counts into °C), cropped to the centre square
and resized to ``--image-size`` by area averaging, and stored as one (1, S, S, 1) float32
channel — the ``thermal`` input, z-scored with statistics of each fold's training rows. Each
row records how its file was read (``thermal_source``) and the unit of what was stored
(``thermal_unit``); the array's attributes record the conversion.

After unpairing (the ``unpair`` step, whose settings this step records), a row whose
subject's training role is ``visible`` stores no thermal image at all: its ``/thermal/present``
is false and no byte of that capture's thermal file is in the pack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emobench.datasets.sample import Sample
from emobench.modalities import Modality, register_modality
from emobench.prepare.images import resized_square
from emobench.prepare.step import (
    ArraySpec,
    PrepareStep,
    StepOutput,
    StepSettings,
    option,
    register_step,
)
from emobench.prepare.thermal_images import PALETTES, read_thermal
from emobench.prepare.visible import IMAGE_SIZE_HELP

THERMAL = register_modality(
    Modality(
        "thermal",
        "thermal/image",
        "image",
        "the thermal image of a capture, one float channel (z-scored per fold)",
        standardise=True,
    )
)


def _palettes() -> tuple[str | None, ...]:
    return (None, *PALETTES)


@dataclass(frozen=True)
class ThermalSettings(StepSettings):
    image_size: int = option(64, IMAGE_SIZE_HELP, minimum=8)
    thermal_palette: str | None = option(
        None,
        "Colour palette of colour-mapped thermal images, inverted to one channel "
        "(not given: colour thermal images are refused).",
        choices=_palettes,
    )
    thermal_scale: float = option(
        1.0, "Stored thermal value = read value × this + --thermal-offset (0.01 for cK)."
    )
    thermal_offset: float = option(
        0.0, "Added after --thermal-scale (-273.15 turns kelvin into °C)."
    )


def _thermal_attrs(settings: ThermalSettings) -> dict[str, Any]:
    return {
        "channels": 1,
        "size": settings.image_size,
        "conversion": f"read value × {settings.thermal_scale} + {settings.thermal_offset}",
        "palette": settings.thermal_palette or "",
        "crop": "centre square of the image, resized by area averaging",
    }


def stored_unit(unit: str, settings: ThermalSettings) -> str:
    """The unit of the stored values: the reading's, or how the conversion changed it."""
    if settings.thermal_scale == 1.0 and settings.thermal_offset == 0.0:
        return unit
    return f"{unit} × {settings.thermal_scale} + {settings.thermal_offset}"


@register_step("thermal")
class ThermalStep(PrepareStep):
    settings = ThermalSettings
    order = 31
    media = ("thermal_image",)
    uses = ("unpair",)
    arrays = (ArraySpec(THERMAL.key, _thermal_attrs),)

    def applies(self, sample: Sample) -> bool:
        role = sample.annotations.get("unpair_role", "both")
        return "thermal_image" in sample.media and role != "visible"

    def run(
        self, root: Path, sample: Sample, settings: ThermalSettings, used: Mapping[str, Any]
    ) -> StepOutput:
        reading = read_thermal(root / sample.media["thermal_image"], settings.thermal_palette)
        values = reading.values.astype(np.float32) * np.float32(settings.thermal_scale)
        values += np.float32(settings.thermal_offset)
        image = resized_square(values, settings.image_size).astype(np.float32)
        return StepOutput(
            {THERMAL.key: image.reshape(1, settings.image_size, settings.image_size, 1)},
            row={
                "thermal_source": reading.source,
                "thermal_unit": stored_unit(reading.unit, settings),
            },
        )

    def variant(self, settings: ThermalSettings) -> dict[str, Any]:
        return {"image": settings.image_size}
