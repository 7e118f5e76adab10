"""Check: eye-tracker exports (EMER's Tobii TSV exports) read, at a plausible sampling rate,
in plausible time units, without losing most of their gaze.

Each export is read with the reader ``prepare`` uses (`emobench.datasets.tobii`), which already
refuses a header unit that makes the sampling rate impossible (the timestamps of a
microsecond export under a ``[ms]`` header); its message is the finding. Of an export that
reads, the doctor checks:

- the sampling rate implied by the timestamps (`tobii.implied_rate_hz`): an error outside
  ``RATE_HZ`` (the screen-based and wearable trackers' range), and an error when the export
  declares a rate (a ``Sampling rate`` / ``Sampling frequency`` column) that differs from the
  implied one by more than ``RATE_TOLERANCE``;
- the time unit: a header without a unit, read in the unit that gave a plausible rate, is
  information;
- data loss, the share of samples where neither eye is valid: a warning above
  ``LOSS_WARNING`` (many studies exclude such recordings), an error above what ``prepare``
  accepts (`emobench.prepare.eyes.MAX_DATA_LOSS`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from emobench.datasets.headers import header_key
from emobench.doctor import Finding, register_check
from emobench.doctor.release import RawRelease
from emobench.errors import InputError

NAME = "eye-exports"
RATE_HZ = (30.0, 2000.0)
RATE_TOLERANCE = 0.10
LOSS_WARNING = 0.40

_DECLARED_RATE = re.compile(r"(eyetracker |eye tracker )?sampling (rate|frequency)( \[hz\])?")


@dataclass(frozen=True)
class EyeReading:
    """One export as read: the problem that stopped the reader, or the implied and declared
    sampling rates (Hz), the time unit (and whether it was inferred), and the share of
    samples without a valid eye."""

    problem: str | None = None
    rate_hz: float | None = None
    declared_hz: float | None = None
    time_unit: str = "ms"
    unit_inferred: bool = False
    loss: float = 0.0
    samples: int = 0


def declared_rate(path: Path, headers: tuple[str, ...]) -> float | None:
    """The sampling rate an export states in a column of its own (the first number of it),
    or None when it has no such column."""
    from emobench.datasets.tobii import read_table

    column = next((h for h in headers if _DECLARED_RATE.fullmatch(header_key(h, exact=True))), None)
    if column is None:
        return None
    text = read_table(path)[column].astype(str).str.replace(",", ".", regex=False)
    numbers = pd.to_numeric(text, errors="coerce").dropna()
    return float(numbers.iloc[0]) if len(numbers) else None


def read_export(root: Path, rel: str) -> EyeReading:
    """Read one export (never written) into an :class:`EyeReading`."""
    from emobench.datasets.tobii import implied_rate_hz, read_tobii_export

    path = root / rel
    try:
        rec = read_tobii_export(path)
    except InputError as err:
        return EyeReading(problem=err.problem)
    valid = np.asarray(rec.valid_left) | np.asarray(rec.valid_right)
    try:
        declared = declared_rate(path, rec.unknown_columns)
    except InputError:
        declared = None
    return EyeReading(
        rate_hz=implied_rate_hz(np.asarray(rec.t_ms)),
        declared_hz=declared,
        time_unit=rec.time_unit,
        unit_inferred=rec.time_unit_inferred,
        loss=float(1.0 - valid.mean()) if len(valid) else 1.0,
        samples=len(rec),
    )


@register_check(
    NAME,
    summary="eye exports read, at a plausible sampling rate and time unit, with little loss",
    media=("eye",),
    order=40,
)
def check_eye_exports(release: RawRelease) -> list[Finding]:
    from emobench.prepare.eyes import MAX_DATA_LOSS

    findings = []
    low, high = RATE_HZ
    for ref in release.media("eye"):
        reading: EyeReading = release.probe(ref).eye

        def add(severity: str, problem: str, rel: str = ref.rel) -> None:
            findings.append(Finding(NAME, severity, rel, problem))

        if reading.problem:
            add("error", reading.problem)
            continue
        rate = reading.rate_hz
        if rate is None:
            add("error", f"{reading.samples} sample(s): too few timestamps for a sampling rate")
        elif not low <= rate <= high:
            add(
                "error",
                f"the timestamps imply {rate:.3g} Hz; eye trackers sample at "
                f"{low:g}-{high:g} Hz (timestamps rewritten, or in another unit?)",
            )
        if rate is not None and reading.declared_hz:
            off = abs(rate - reading.declared_hz) / reading.declared_hz
            if off > RATE_TOLERANCE:
                add(
                    "error",
                    f"the export declares {reading.declared_hz:g} Hz but its timestamps imply "
                    f"{rate:.3g} Hz",
                )
        if reading.unit_inferred:
            add(
                "info",
                f"the timestamp header states no unit; read as {reading.time_unit} "
                "(the unit that gives a plausible sampling rate)",
            )
        if reading.loss > MAX_DATA_LOSS:
            add(
                "error",
                f"{reading.loss:.0%} of the gaze samples are invalid (no valid eye); prepare "
                f"skips a recording above {MAX_DATA_LOSS:.0%}",
            )
        elif reading.loss > LOSS_WARNING:
            add(
                "warning",
                f"{reading.loss:.0%} of the gaze samples are invalid (no valid eye; more than "
                f"{LOSS_WARNING:.0%})",
            )
    return findings
