"""The stimulus screen of an eye-tracking set-up, shared by the eye-behaviour generator (synth)
and the eye prepare step, so both convert between pixels and visual degrees identically."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ScreenGeometry:
    """Resolution, physical size and viewing distance (to the screen centre). Pixel coordinates
    are Tobii DACS: from the top-left corner, x right, y down."""

    width_px: int = 1920
    height_px: int = 1080
    width_mm: float = 527.0
    height_mm: float = 296.5
    distance_mm: float = 650.0

    def __post_init__(self) -> None:
        for name, value in dataclasses.asdict(self).items():
            if not value > 0:
                raise ValueError(f"ScreenGeometry.{name} must be > 0, got {value!r}")

    def offset_mm(self, x_px: np.ndarray, y_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Millimetres from the screen centre of pixel positions."""
        dx = (np.asarray(x_px, dtype=np.float64) / self.width_px - 0.5) * self.width_mm
        dy = (np.asarray(y_px, dtype=np.float64) / self.height_px - 0.5) * self.height_mm
        return dx, dy

    def px_to_deg(self, x_px: np.ndarray, y_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Visual angle from the screen centre, per axis: ``atan(offset_mm / distance_mm)``."""
        dx, dy = self.offset_mm(x_px, y_px)
        return (
            np.degrees(np.arctan2(dx, self.distance_mm)),
            np.degrees(np.arctan2(dy, self.distance_mm)),
        )

    def deg_to_px(self, x_deg: np.ndarray, y_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inverse of ``px_to_deg``."""
        x_mm = self.distance_mm * np.tan(np.radians(x_deg))
        y_mm = self.distance_mm * np.tan(np.radians(y_deg))
        return (
            self.width_px / 2.0 + x_mm * self.width_px / self.width_mm,
            self.height_px / 2.0 + y_mm * self.height_px / self.height_mm,
        )

    @property
    def half_extent_deg(self) -> tuple[float, float]:
        """Visual angle from the centre to the left/right and top/bottom edges."""
        return (
            math.degrees(math.atan(self.width_mm / 2.0 / self.distance_mm)),
            math.degrees(math.atan(self.height_mm / 2.0 / self.distance_mm)),
        )
