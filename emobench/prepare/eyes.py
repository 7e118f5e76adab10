"""Eye-behaviour prepare step: a `GazeRecording` in, series, events, window features and a map out.

Steps (each a function below):

1. `clean_gaze` — a sample is invalid where both eyes are invalid, the gaze point is missing, or
   it lies outside the screen by more than 10 % of the screen size. Pupils of the two eyes are
   averaged where both are valid (one eye's pupil is used where only it is valid). Gaps of
   invalid samples up to ``max_gap_fill_ms`` (measured between the valid samples around them)
   are filled by linear interpolation, as Tobii's gap fill-in does; longer gaps stay NaN
   (tracking loss). Losses of 75-500 ms are counted as blinks.
2. `angular_velocity_deg_s` — gaze positions become visual angles with the exact atan-based
   formula for a flat screen seen from ``distance_mm`` in front of its centre
   (`pixels_to_degrees`); the velocity of a sample is the angle between the gaze directions at
   the two ends of a centred window of ``velocity_window_ms`` divided by the time between them.
3. `classify_ivt` — the I-VT (velocity-threshold) fixation filter with the algorithm and the
   default thresholds of the Tobii I-VT fixation filter: velocity below 30 °/s is a fixation
   sample, otherwise a saccade sample; adjacent fixations less than 75 ms and 0.5 ° apart are
   merged; fixations shorter than 60 ms become unclassified. It runs at the tracker's native
   rate (as Tobii's filter does): at 60 Hz a 30 ms saccade would be one or two samples. It is
   implemented here because the maintained Python implementation (pymovements) pulls in polars
   and pyarrow (about 1 GB), too heavy for one filter.
4. `resample_uniform` — gaze, pupil and velocity are interpolated linearly onto a uniform grid of
   ``rate_hz``; grid points inside gaps longer than ``max_gap_fill_ms`` stay NaN.
5. `window_features`, `fixation_map` — per-window statistics (`WINDOW_FEATURES`) over
   ``windows`` equal spans of time, and a fixation-duration density map over the screen.

Screen coordinates: ``x_norm``/``y_norm`` are centred and normalised by the screen size: 0 is the
screen centre, -0.5/+0.5 the left/right (top/bottom) edges; y grows downwards, like pixels.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from emobench.datasets.screen import ScreenGeometry
from emobench.datasets.tobii import (
    PLAUSIBLE_RATE_HZ,
    GazeRecording,
    implied_rate_hz,
    sample_interval,
)
from emobench.errors import InputError

SERIES_COLUMNS = ("x_norm", "y_norm", "pupil_mm", "valid", "velocity_deg_s", "fixation", "saccade")
SERIES_UNITS = ("norm", "norm", "mm", "1", "deg/s", "1", "1")

WINDOW_FEATURES = (
    "fixation_count",
    "fixation_duration_mean_ms",
    "fixation_time_ratio",
    "saccade_count",
    "saccade_amplitude_mean_deg",
    "saccade_peak_velocity_mean_deg_s",
    "pupil_mean_mm",
    "pupil_std_mm",
    "data_loss_rate",
    "blink_count",
    "gaze_x_mean",
    "gaze_y_mean",
    "gaze_dispersion_deg",
    "velocity_mean_deg_s",
)
WINDOW_UNITS = (
    "1",
    "ms",
    "1",
    "1",
    "deg",
    "deg/s",
    "mm",
    "mm",
    "1",
    "1",
    "norm",
    "norm",
    "deg",
    "deg/s",
)

FIXATION_DTYPE = np.dtype(
    [
        ("onset_ms", "f8"),
        ("offset_ms", "f8"),
        ("duration_ms", "f8"),
        ("x_deg", "f8"),
        ("y_deg", "f8"),
        ("x_norm", "f8"),
        ("y_norm", "f8"),
    ]
)
SACCADE_DTYPE = np.dtype(
    [
        ("onset_ms", "f8"),
        ("offset_ms", "f8"),
        ("duration_ms", "f8"),
        ("amplitude_deg", "f8"),
        ("peak_velocity_deg_s", "f8"),
    ]
)

UNCLASSIFIED, FIXATION, SACCADE = 0, 1, 2
OFF_SCREEN_TOLERANCE = 0.10
MIN_VALID_SAMPLES = 10
MAX_DATA_LOSS = 0.95


@dataclass(frozen=True)
class EyeSettings:
    """Settings of the eye prepare step; the I-VT values are the Tobii I-VT filter defaults."""

    rate_hz: float = 60.0
    ivt_threshold_deg_s: float = 30.0
    velocity_window_ms: float = 20.0
    max_gap_fill_ms: float = 75.0
    min_fixation_ms: float = 60.0
    merge_adjacent_fixations: bool = True
    merge_max_gap_ms: float = 75.0
    merge_max_angle_deg: float = 0.5
    blink_min_ms: float = 75.0
    blink_max_ms: float = 500.0
    windows: int = 32
    map_height: int = 48
    map_width: int = 64
    map_sigma_deg: float = 1.0
    screen: ScreenGeometry = field(default_factory=ScreenGeometry)

    def __post_init__(self) -> None:
        positive = ("rate_hz", "ivt_threshold_deg_s", "velocity_window_ms", "windows")
        positive += ("map_height", "map_width", "map_sigma_deg")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"EyeSettings.{name} must be > 0, got {getattr(self, name)!r}")
        if self.blink_max_ms < self.blink_min_ms:
            raise ValueError("EyeSettings.blink_max_ms must be >= blink_min_ms")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready settings (the screen geometry as a nested mapping)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, eq=False)
class CleanGaze:
    """Samples at the native rate after `clean_gaze`; times in ms from the first sample."""

    t_ms: np.ndarray
    x_px: np.ndarray
    y_px: np.ndarray
    pupil_mm: np.ndarray
    valid: np.ndarray  # gaze defined after gap fill
    raw_valid: np.ndarray  # gaze valid before gap fill
    sample_ms: float  # mean sample interval outside recording gaps
    n_blinks: int
    blink_onsets_ms: np.ndarray


@dataclass(frozen=True, eq=False)
class EyeEvents:
    """I-VT output: a label per native sample and the fixation and saccade event tables."""

    labels: np.ndarray  # UNCLASSIFIED / FIXATION / SACCADE per sample
    velocity_deg_s: np.ndarray
    fixations: np.ndarray  # structured, FIXATION_DTYPE
    saccades: np.ndarray  # structured, SACCADE_DTYPE


@dataclass(frozen=True, eq=False)
class EyeFeatures:
    """What the eye step stores in a pack for one recording."""

    series: np.ndarray  # (n, 7) float32, SERIES_COLUMNS at settings.rate_hz
    windows: np.ndarray  # (W, 14) float32, WINDOW_FEATURES
    gaze: np.ndarray  # (W, 2) float32, centred normalised gaze per window
    fixation_map: np.ndarray  # (map_height, map_width) float32, sums to 1
    fixations: np.ndarray
    saccades: np.ndarray
    summary: dict[str, Any]


def _gap_neighbours(valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the previous and next valid sample (-1 / n where there is none)."""
    n = len(valid)
    index = np.arange(n)
    previous = np.maximum.accumulate(np.where(valid, index, -1))
    following = np.minimum.accumulate(np.where(valid, index, n)[::-1])[::-1]
    return previous, following


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and (exclusive) end indices of the runs of True in ``mask``."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def fill_short_gaps(
    t_ms: np.ndarray, values: np.ndarray, valid: np.ndarray, max_gap_ms: float
) -> tuple[np.ndarray, np.ndarray]:
    """Linearly interpolate runs of invalid samples whose surrounding valid samples are at most
    ``max_gap_ms`` apart; return the filled values and the new validity mask."""
    n = len(t_ms)
    previous, following = _gap_neighbours(valid)
    inner = ~valid & (previous >= 0) & (following < n)
    gap = t_ms[np.minimum(following, n - 1)] - t_ms[np.maximum(previous, 0)]
    fill = inner & (gap <= max_gap_ms)
    filled = np.array(values, dtype=np.float64)
    if fill.any():
        columns = filled.reshape(n, -1)  # a view: 1-D values become one column
        for k in range(columns.shape[1]):
            columns[fill, k] = np.interp(t_ms[fill], t_ms[valid], columns[valid, k])
    return filled, valid | fill


def tracking_losses(t_ms: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Onset and duration (between the valid samples around it) of every loss of tracking that
    has valid data on both sides."""
    n = len(t_ms)
    previous, following = _gap_neighbours(valid)
    starts, _ = _runs(~valid)
    inner = starts[(previous[starts] >= 0) & (following[starts] < n)]
    onsets = t_ms[previous[inner]]
    return onsets, t_ms[following[inner]] - onsets


def native_sample_interval_ms(t_ms: np.ndarray, fallback_rate_hz: float) -> float:
    """Mean interval between consecutive samples, ignoring gaps (`tobii.sample_interval`); the
    interval of ``fallback_rate_hz`` below two samples."""
    interval = sample_interval(t_ms)
    return 1000.0 / fallback_rate_hz if interval is None else interval


def clean_gaze(rec: GazeRecording, settings: EyeSettings) -> CleanGaze:
    """Mark invalid samples, merge the pupils, fill short gaps, count blinks (see module doc)."""
    screen = settings.screen
    t = rec.t_ms - rec.t_ms[0]
    x, y = rec.x_px, rec.y_px
    with np.errstate(invalid="ignore"):
        inside = (
            (x >= -OFF_SCREEN_TOLERANCE * screen.width_px)
            & (x <= (1 + OFF_SCREEN_TOLERANCE) * screen.width_px)
            & (y >= -OFF_SCREEN_TOLERANCE * screen.height_px)
            & (y <= (1 + OFF_SCREEN_TOLERANCE) * screen.height_px)
        )
    raw_valid = (rec.valid_left | rec.valid_right) & np.isfinite(x) & np.isfinite(y) & inside

    left, right = rec.pupil_left_mm, rec.pupil_right_mm
    both = np.isfinite(left) & np.isfinite(right)
    pupil = np.where(both, (left + right) / 2, np.where(np.isfinite(left), left, right))

    if raw_valid.any():
        xy, valid = fill_short_gaps(t, np.column_stack([x, y]), raw_valid, settings.max_gap_fill_ms)
        xy[~valid] = np.nan
    else:
        xy, valid = np.full((len(t), 2), np.nan), raw_valid
    pupil_valid = np.isfinite(pupil)
    if pupil_valid.any():
        pupil, pupil_valid = fill_short_gaps(t, pupil, pupil_valid, settings.max_gap_fill_ms)
        pupil[~pupil_valid] = np.nan

    onsets, durations = tracking_losses(t, raw_valid)
    blinks = (durations >= settings.blink_min_ms) & (durations <= settings.blink_max_ms)
    sample_ms = native_sample_interval_ms(t, settings.rate_hz)
    return CleanGaze(
        t_ms=t,
        x_px=xy[:, 0],
        y_px=xy[:, 1],
        pupil_mm=pupil,
        valid=valid,
        raw_valid=raw_valid,
        sample_ms=sample_ms,
        n_blinks=int(blinks.sum()),
        blink_onsets_ms=onsets[blinks],
    )


def pixels_to_degrees(
    x_px: np.ndarray, y_px: np.ndarray, screen: ScreenGeometry
) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal and vertical visual angle (degrees) of screen points from the screen centre:
    ``atan(offset_mm / distance_mm)`` per axis."""
    return screen.px_to_deg(x_px, y_px)


def angle_between_deg(
    x1_px: np.ndarray,
    y1_px: np.ndarray,
    x2_px: np.ndarray,
    y2_px: np.ndarray,
    screen: ScreenGeometry,
) -> np.ndarray:
    """Visual angle (degrees) between the gaze directions to two screen points."""
    ax, ay = screen.offset_mm(x1_px, y1_px)
    bx, by = screen.offset_mm(x2_px, y2_px)
    d = screen.distance_mm
    cross = np.sqrt((ay * d - d * by) ** 2 + (d * bx - ax * d) ** 2 + (ax * by - ay * bx) ** 2)
    dot = ax * bx + ay * by + d * d
    return np.degrees(np.arctan2(cross, dot))


def angular_velocity_deg_s(
    t_ms: np.ndarray,
    x_px: np.ndarray,
    y_px: np.ndarray,
    screen: ScreenGeometry,
    window_ms: float,
    sample_ms: float,
) -> np.ndarray:
    """Angular gaze velocity (°/s) over a centred window of ``window_ms`` (at least one sample
    on each side); NaN where an end of the window has no gaze."""
    n = len(t_ms)
    half = max(1, round(window_ms / 2 / sample_ms))
    index = np.arange(n)
    lo, hi = np.maximum(index - half, 0), np.minimum(index + half, n - 1)
    dt_s = (t_ms[hi] - t_ms[lo]) / 1000.0
    angle = angle_between_deg(x_px[lo], y_px[lo], x_px[hi], y_px[hi], screen)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(dt_s > 0, angle / dt_s, np.nan)


def _segment_sums(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    cumulative = np.concatenate(([0.0], np.cumsum(values)))
    return cumulative[ends] - cumulative[starts]


def _segment_means(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    finite = np.isfinite(values)
    counts = _segment_sums(finite.astype(np.float64), starts, ends)
    sums = _segment_sums(np.where(finite, values, 0.0), starts, ends)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


def _segment_max(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    if len(starts) == 0:
        return np.zeros(0)
    padded = np.append(np.where(np.isfinite(values), values, -np.inf), -np.inf)
    return np.maximum.reduceat(padded, np.column_stack([starts, ends]).ravel())[::2]


def _paint(n: int, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Boolean mask that is True inside the given [start, end) ranges."""
    marks = np.zeros(n + 1, dtype=np.int64)
    np.add.at(marks, starts, 1)
    np.add.at(marks, ends, -1)
    return np.cumsum(marks[:n]) > 0


def classify_ivt(clean: CleanGaze, settings: EyeSettings) -> EyeEvents:
    """Tobii-style I-VT: threshold, merge adjacent fixations, discard short ones (module doc)."""
    screen = settings.screen
    t, x, y, dt = clean.t_ms, clean.x_px, clean.y_px, clean.sample_ms
    velocity = angular_velocity_deg_s(t, x, y, screen, settings.velocity_window_ms, dt)
    labels = np.full(len(t), UNCLASSIFIED, dtype=np.int8)
    finite = np.isfinite(velocity)
    labels[finite] = np.where(velocity[finite] < settings.ivt_threshold_deg_s, FIXATION, SACCADE)

    starts, ends = _runs(labels == FIXATION)
    if settings.merge_adjacent_fixations and len(starts) > 1:
        cx, cy = _segment_means(x, starts, ends), _segment_means(y, starts, ends)
        gap_ms = t[starts[1:]] - (t[ends[:-1] - 1] + dt)
        angle = angle_between_deg(cx[:-1], cy[:-1], cx[1:], cy[1:], screen)
        merge = (gap_ms <= settings.merge_max_gap_ms) & (angle <= settings.merge_max_angle_deg)
        first_of_group = np.concatenate(([True], ~merge))
        group = np.cumsum(first_of_group) - 1
        last_of_group = np.concatenate((group[1:] != group[:-1], [True]))
        starts, ends = starts[first_of_group], ends[last_of_group]
        labels[_paint(len(t), starts, ends)] = FIXATION

    durations = t[ends - 1] - t[starts] + dt
    short = durations < settings.min_fixation_ms
    labels[_paint(len(t), starts[short], ends[short])] = UNCLASSIFIED
    starts, ends, durations = starts[~short], ends[~short], durations[~short]

    fixations = np.zeros(len(starts), dtype=FIXATION_DTYPE)
    fixations["onset_ms"] = t[starts]
    fixations["duration_ms"] = durations
    fixations["offset_ms"] = t[starts] + durations
    cx, cy = _segment_means(x, starts, ends), _segment_means(y, starts, ends)
    fixations["x_deg"], fixations["y_deg"] = pixels_to_degrees(cx, cy, screen)
    fixations["x_norm"] = cx / screen.width_px - 0.5
    fixations["y_norm"] = cy / screen.height_px - 0.5

    s_starts, s_ends = _runs(labels == SACCADE)
    saccades = np.zeros(len(s_starts), dtype=SACCADE_DTYPE)
    saccades["onset_ms"] = t[s_starts]
    saccades["duration_ms"] = t[s_ends - 1] - t[s_starts] + dt
    saccades["offset_ms"] = saccades["onset_ms"] + saccades["duration_ms"]
    first, last = s_starts, s_ends - 1
    saccades["amplitude_deg"] = angle_between_deg(x[first], y[first], x[last], y[last], screen)
    saccades["peak_velocity_deg_s"] = _segment_max(velocity, s_starts, s_ends)
    return EyeEvents(labels=labels, velocity_deg_s=velocity, fixations=fixations, saccades=saccades)


def resample_uniform(
    t_ms: np.ndarray,
    values: np.ndarray,
    valid: np.ndarray,
    grid_ms: np.ndarray,
    max_gap_ms: float,
) -> np.ndarray:
    """Linear interpolation of the valid samples onto ``grid_ms``; NaN outside the valid data
    and between valid samples more than ``max_gap_ms`` apart."""
    out = np.full(len(grid_ms), np.nan)
    tv = t_ms[valid]
    if len(tv) == 0:
        return out
    vv = np.asarray(values, dtype=np.float64)[valid]
    following = np.clip(np.searchsorted(tv, grid_ms, side="left"), 0, len(tv) - 1)
    previous = np.clip(np.searchsorted(tv, grid_ms, side="right") - 1, 0, len(tv) - 1)
    exact = tv[following] == grid_ms
    inside = (grid_ms >= tv[0]) & (grid_ms <= tv[-1])
    defined = inside & (exact | (tv[following] - tv[previous] <= max_gap_ms))
    out[defined] = np.interp(grid_ms[defined], tv, vv)
    return out


def _window_index(times_ms: np.ndarray, duration_ms: float, windows: int) -> np.ndarray:
    index = np.floor(np.asarray(times_ms) / duration_ms * windows).astype(np.int64)
    return np.clip(index, 0, windows - 1)


def _window_means(
    values: np.ndarray, window: np.ndarray, windows: int
) -> tuple[np.ndarray, np.ndarray]:
    finite = np.isfinite(values)
    counts = np.bincount(window[finite], minlength=windows).astype(np.float64)
    sums = np.bincount(window[finite], weights=values[finite], minlength=windows)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts, counts


def _overall_mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else 0.0


def window_features(
    grid_ms: np.ndarray,
    series: np.ndarray,
    events: EyeEvents,
    clean: CleanGaze,
    duration_ms: float,
    settings: EyeSettings,
) -> np.ndarray:
    """(windows, 14) float64 of `WINDOW_FEATURES` over equal spans of time.

    Events belong to the window of their onset; sample statistics use the resampled series
    (``data_loss_rate`` is the share of the window without gaze after gap fill). A window
    without data gets 0, except ``pupil_mean_mm`` and ``gaze_x/y_mean``, which take the
    recording's mean (0 if it has none).
    """
    w = settings.windows
    col = {name: series[:, i].astype(np.float64) for i, name in enumerate(SERIES_COLUMNS)}
    win = _window_index(grid_ms, duration_ms, w)
    out = np.zeros((w, len(WINDOW_FEATURES)))
    feature = {name: i for i, name in enumerate(WINDOW_FEATURES)}

    def event_stats(table: np.ndarray, value: str | None) -> tuple[np.ndarray, np.ndarray]:
        index = _window_index(table["onset_ms"], duration_ms, w)
        counts = np.bincount(index, minlength=w).astype(np.float64)
        if value is None:
            return counts, counts
        sums = np.bincount(index, weights=table[value], minlength=w)
        return counts, np.divide(sums, counts, out=np.zeros(w), where=counts > 0)

    counts, mean_duration = event_stats(events.fixations, "duration_ms")
    out[:, feature["fixation_count"]] = counts
    out[:, feature["fixation_duration_mean_ms"]] = mean_duration
    counts, mean_amplitude = event_stats(events.saccades, "amplitude_deg")
    out[:, feature["saccade_count"]] = counts
    out[:, feature["saccade_amplitude_mean_deg"]] = mean_amplitude
    out[:, feature["saccade_peak_velocity_mean_deg_s"]] = event_stats(
        events.saccades, "peak_velocity_deg_s"
    )[1]
    out[:, feature["blink_count"]] = np.bincount(
        _window_index(clean.blink_onsets_ms, duration_ms, w), minlength=w
    )

    grid_counts = np.bincount(win, minlength=w).astype(np.float64)
    ratio = {}
    for name in ("fixation", "valid"):
        sums = np.bincount(win, weights=col[name], minlength=w)
        ratio[name] = np.divide(sums, grid_counts, out=np.zeros(w), where=grid_counts > 0)
    out[:, feature["fixation_time_ratio"]] = ratio["fixation"]
    out[:, feature["data_loss_rate"]] = np.where(grid_counts > 0, 1.0 - ratio["valid"], 0.0)

    for column, name in (
        ("pupil_mm", "pupil_mean_mm"),
        ("x_norm", "gaze_x_mean"),
        ("y_norm", "gaze_y_mean"),
    ):
        means, n = _window_means(col[column], win, w)
        out[:, feature[name]] = np.where(n > 0, means, _overall_mean(col[column]))

    pupil_mean, _ = _window_means(col["pupil_mm"], win, w)
    pupil_var, n = _window_means((col["pupil_mm"] - pupil_mean[win]) ** 2, win, w)
    out[:, feature["pupil_std_mm"]] = np.where(n > 0, np.sqrt(pupil_var), 0.0)

    x_px = (col["x_norm"] + 0.5) * settings.screen.width_px
    y_px = (col["y_norm"] + 0.5) * settings.screen.height_px
    x_deg, y_deg = pixels_to_degrees(x_px, y_px, settings.screen)
    mx, _ = _window_means(x_deg, win, w)
    my, _ = _window_means(y_deg, win, w)
    spread, n = _window_means((x_deg - mx[win]) ** 2 + (y_deg - my[win]) ** 2, win, w)
    out[:, feature["gaze_dispersion_deg"]] = np.where(n > 0, np.sqrt(spread), 0.0)

    velocity, n = _window_means(col["velocity_deg_s"], win, w)
    out[:, feature["velocity_mean_deg_s"]] = np.where(n > 0, velocity, 0.0)
    return out


def gaze_sequence(windows: np.ndarray) -> np.ndarray:
    """(windows, 2) mean centred normalised gaze per window, taken from the window features."""
    x = WINDOW_FEATURES.index("gaze_x_mean")
    y = WINDOW_FEATURES.index("gaze_y_mean")
    return np.nan_to_num(windows[:, [x, y]], nan=0.0)


def fixation_map(fixations: np.ndarray, settings: EyeSettings) -> np.ndarray:
    """(map_height, map_width) float32 fixation-duration density over the screen, blurred with a
    Gaussian of ``map_sigma_deg`` (converted to map pixels at the screen centre), summing to 1;
    uniform when there are no fixations.

    A fixation without a position (a NaN centroid: none of its samples has gaze, as when a lone
    invalid sample lies between two still valid ones too far apart in time for gap fill) or
    without a finite duration has no place on the map and is left out of it; the eye step counts
    such fixations in its summary (``fixations_without_position``).
    """
    h, w, screen = settings.map_height, settings.map_width, settings.screen
    density = np.zeros((h, w), dtype=np.float32)
    fixations = fixations[_placed(fixations)]
    if len(fixations):
        col = np.clip(np.floor((fixations["x_norm"] + 0.5) * w), 0, w - 1).astype(np.int64)
        row = np.clip(np.floor((fixations["y_norm"] + 0.5) * h), 0, h - 1).astype(np.int64)
        np.add.at(density, (row, col), fixations["duration_ms"].astype(np.float32))
        sigma_mm = screen.distance_mm * np.tan(np.radians(settings.map_sigma_deg))
        density = cv2.GaussianBlur(
            density,
            (0, 0),
            sigmaX=sigma_mm / screen.width_mm * w,
            sigmaY=sigma_mm / screen.height_mm * h,
            borderType=cv2.BORDER_CONSTANT,
        )
    total = float(density.sum())
    if total <= 0:
        return np.full((h, w), 1.0 / (h * w), dtype=np.float32)
    return (density / total).astype(np.float32)


def _placed(fixations: np.ndarray) -> np.ndarray:
    """Which fixations have a finite centroid and duration (can be drawn on a map)."""
    return (
        np.isfinite(fixations["x_norm"])
        & np.isfinite(fixations["y_norm"])
        & np.isfinite(fixations["duration_ms"])
    )


def process_gaze_recording(
    rec: GazeRecording, settings: EyeSettings = EyeSettings()
) -> EyeFeatures:
    """Run the whole eye step on one recording (see the module docstring).

    Raises `InputError` naming the recording when fewer than 10 samples are valid, more than
    95 % are invalid, or its timestamps imply a sampling rate no eye tracker has
    (`PLAUSIBLE_RATE_HZ`: the times are not in milliseconds).
    """
    if len(rec) == 0:
        raise InputError(rec.path, "no usable gaze: the recording has no samples")
    rate = implied_rate_hz(rec.t_ms)
    low, high = PLAUSIBLE_RATE_HZ
    if rate is not None and not low <= rate <= high:
        raise InputError(
            rec.path,
            f"the timestamps imply a {rate:.3g} Hz eye tracker (eye trackers sample at "
            f"{low:g}-{high:g} Hz): they are not in milliseconds",
        )
    clean = clean_gaze(rec, settings)
    n = len(clean.t_ms)
    n_valid = int(clean.raw_valid.sum())
    loss = 1.0 - n_valid / n if n else 1.0
    if loss > MAX_DATA_LOSS:
        raise InputError(rec.path, f"no usable gaze: {loss * 100:.0f} % of samples invalid")
    if n_valid < MIN_VALID_SAMPLES:
        raise InputError(
            rec.path,
            f"no usable gaze: only {n_valid} valid samples (at least {MIN_VALID_SAMPLES} needed)",
        )

    events = classify_ivt(clean, settings)
    duration_ms = float(clean.t_ms[-1] + clean.sample_ms)
    step_ms = 1000.0 / settings.rate_hz
    grid = np.arange(int(np.floor(clean.t_ms[-1] / step_ms)) + 1) * step_ms
    max_gap = max(settings.max_gap_fill_ms, 1.5 * clean.sample_ms)
    valid = clean.valid

    x = resample_uniform(clean.t_ms, clean.x_px, valid, grid, max_gap)
    y = resample_uniform(clean.t_ms, clean.y_px, valid, grid, max_gap)
    pupil_valid = np.isfinite(clean.pupil_mm)
    pupil = resample_uniform(clean.t_ms, clean.pupil_mm, pupil_valid, grid, max_gap)
    velocity_valid = np.isfinite(events.velocity_deg_s)
    velocity = resample_uniform(clean.t_ms, events.velocity_deg_s, velocity_valid, grid, max_gap)
    has_gaze = np.isfinite(x) & np.isfinite(y)
    velocity[~has_gaze] = np.nan
    nearest = np.rint(np.interp(grid, clean.t_ms, np.arange(n))).astype(np.int64)
    label = np.where(has_gaze, events.labels[nearest], UNCLASSIFIED)

    series = np.column_stack(
        [
            x / settings.screen.width_px - 0.5,
            y / settings.screen.height_px - 0.5,
            pupil,
            has_gaze,
            velocity,
            label == FIXATION,
            label == SACCADE,
        ]
    ).astype(np.float32)
    windows = window_features(grid, series, events, clean, duration_ms, settings)
    summary = {
        "duration_s": duration_ms / 1000.0,
        "native_rate_hz": 1000.0 / clean.sample_ms if clean.sample_ms > 0 else 0.0,
        "data_loss_rate": loss,
        "n_fixations": len(events.fixations),
        "n_saccades": len(events.saccades),
        "n_blinks": clean.n_blinks,
        "sorted_timestamps": bool(rec.sorted_timestamps),
        "dropped_duplicates": int(rec.dropped_duplicates),
        "fixations_without_position": int((~_placed(events.fixations)).sum()),
        "time_unit": rec.time_unit,
        "time_unit_inferred": bool(rec.time_unit_inferred),
    }
    return EyeFeatures(
        series=series,
        windows=windows.astype(np.float32),
        gaze=gaze_sequence(windows).astype(np.float32),
        fixation_map=fixation_map(events.fixations, settings),
        fixations=events.fixations,
        saccades=events.saccades,
        summary=summary,
    )
