"""The ``visible`` step: the visible-light image of a capture → ``visible/image``.

It applies to every sample with a ``visible_image`` (a paired visible/thermal database, or a
visible-only pool image). The image is read as RGB, cropped to its centre square and resized
to ``--image-size`` (:mod:`emobench.prepare.images`); it is stored as one (1, S, S, 3) uint8
image, the ``visible`` input. An unreadable or cut-short file is a listed skip naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emobench.datasets.sample import Sample
from emobench.modalities import Modality, register_modality
from emobench.prepare.images import read_rgb, resized_square
from emobench.prepare.step import (
    ArraySpec,
    PrepareStep,
    StepOutput,
    StepSettings,
    option,
    register_step,
)

VISIBLE = register_modality(
    Modality("visible", "visible/image", "image", "the visible-light image of a capture (RGB)")
)

IMAGE_SIZE_HELP = "Side in pixels of stored visible and thermal images (centre square, resized)."


@dataclass(frozen=True)
class VisibleSettings(StepSettings):
    image_size: int = option(64, IMAGE_SIZE_HELP, minimum=8)


def _visible_attrs(settings: VisibleSettings) -> dict[str, Any]:
    return {
        "colour": "RGB",
        "size": settings.image_size,
        "crop": "centre square of the image, resized (area averaging when shrinking)",
    }


@register_step("visible")
class VisibleStep(PrepareStep):
    settings = VisibleSettings
    order = 30
    media = ("visible_image",)
    arrays = (ArraySpec(VISIBLE.key, _visible_attrs),)

    def applies(self, sample: Sample) -> bool:
        return "visible_image" in sample.media

    def run(
        self, root: Path, sample: Sample, settings: VisibleSettings, used: Mapping[str, Any]
    ) -> StepOutput:
        rgb = read_rgb(root / sample.media["visible_image"])
        return StepOutput({VISIBLE.key: resized_square(rgb, settings.image_size)[None]})

    def variant(self, settings: VisibleSettings) -> dict[str, Any]:
        return {"image": settings.image_size}
