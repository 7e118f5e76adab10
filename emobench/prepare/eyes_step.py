"""The ``eyes`` step: a Tobii gaze export → ``eye/series``, ``eye/windows``, ``eye/gaze`` and
``eye/fixation_map`` (what each holds: :mod:`emobench.prepare.eyes`, which computes them).

It applies to every sample with an ``eye_table``. Its settings are
:class:`~emobench.prepare.eyes.EyeSettings` (the Tobii I-VT filter defaults); their fields
carry no help text, so they are recorded in the pack but are not ``prepare`` options.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from emobench.datasets.sample import Sample
from emobench.datasets.tobii import read_tobii_export
from emobench.prepare.eyes import (
    SERIES_COLUMNS,
    SERIES_UNITS,
    WINDOW_FEATURES,
    WINDOW_UNITS,
    EyeSettings,
    process_gaze_recording,
)
from emobench.prepare.step import ArraySpec, PrepareStep, StepOutput, register_step


def _series_attrs(eye: EyeSettings) -> dict[str, Any]:
    return {
        "columns": list(SERIES_COLUMNS),
        "units": list(SERIES_UNITS),
        "rate_hz": eye.rate_hz,
        "screen": str(eye.as_dict().get("screen")),
    }


def _windows_attrs(eye: EyeSettings) -> dict[str, Any]:
    return {"features": list(WINDOW_FEATURES), "units": list(WINDOW_UNITS), "windows": eye.windows}


def _gaze_attrs(eye: EyeSettings) -> dict[str, Any]:
    return {"columns": ["x", "y"], "units": "screen-normalised, centred"}


def _map_attrs(eye: EyeSettings) -> dict[str, Any]:
    return {
        "height": eye.map_height,
        "width": eye.map_width,
        "sigma_deg": eye.map_sigma_deg,
        "normalisation": "sums to 1",
    }


@register_step("eyes")
class EyesStep(PrepareStep):
    """An eye-tracker export → gaze series (ragged: one row per resampled instant), window
    features, the per-window gaze sequence and a fixation map."""

    settings = EyeSettings
    order = 40
    media = ("eye_table",)
    arrays = (
        ArraySpec("eye/series", _series_attrs, ragged=True),
        ArraySpec("eye/windows", _windows_attrs),
        ArraySpec("eye/gaze", _gaze_attrs),
        ArraySpec("eye/fixation_map", _map_attrs),
    )

    def applies(self, sample: Sample) -> bool:
        return "eye_table" in sample.media

    def run(
        self, root: Path, sample: Sample, settings: EyeSettings, used: Mapping[str, Any]
    ) -> StepOutput:
        recording = read_tobii_export(root / sample.media["eye_table"])
        eye = process_gaze_recording(recording, settings)
        return StepOutput(
            {
                "eye/series": eye.series,
                "eye/windows": eye.windows,
                "eye/gaze": eye.gaze,
                "eye/fixation_map": eye.fixation_map,
            },
            # the per-sample manifest of this step: how the export's time was read, and
            # what had to be left out of the fixation map
            row={
                "eye_time_unit": eye.summary["time_unit"],
                "eye_time_unit_inferred": int(eye.summary["time_unit_inferred"]),
                "eye_fixations_without_position": eye.summary["fixations_without_position"],
                "eye_notes": "; ".join(recording.notes),
            },
        )
