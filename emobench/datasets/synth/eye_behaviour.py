"""One eye-behaviour generator for every miniature world: a screen-based gaze recording.

A recording is a sequence of fixations (with slow drift and tremor) joined by saccades that follow
the main sequence, overlaid with blinks and tracking loss (both eyes invalid) and short one-eye
dropouts, plus pupil diameter (per-subject baseline, slow fluctuation, emotion-dependent
dilation). Its statistics are the fields of ``EyeBehaviour``; a world ties them to the true
emotion with ``EMOTION_EYE_BEHAVIOUR``. Per-person traits (pupil size, calibration offset,
tracker precision) live in ``EyeSubject``.

Samples are labelled the way a Tobii I-VT export labels them: ``Fixation``, ``Saccade``,
``EyesNotFound`` (both eyes invalid) and ``Unclassified`` (the samples next to a data gap, and
fixations shorter than 60 ms).

Saccades: duration ``(2.2·A + 21 ms) / speed_gain`` (linear main sequence) and a minimum-jerk
position profile, whose peak velocity 1.875·A/duration follows the saturating main sequence
(≈ 290, 440 and 580 °/s for 5, 10 and 20° at gain 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from emobench.datasets.screen import ScreenGeometry

MOVEMENT_TYPES: tuple[str, ...] = ("Fixation", "Saccade", "EyesNotFound", "Unclassified")
_FIX, _SAC, _LOST, _UNCL = range(4)

_MIN_FIXATION_MS = 60.0  # shorter fixations are reported as Unclassified (Tobii I-VT default)


@dataclass(frozen=True)
class EyeBehaviour:
    """Statistics of one kind of looking; angles in degrees (x right, y down), times in ms."""

    fixation_duration_ms_mean: float = 300.0
    fixation_duration_ms_sd: float = 100.0
    saccade_amplitude_deg_mean: float = 4.0
    saccade_speed_gain: float = 1.0
    gaze_centre_deg: tuple[float, float] = (0.0, 0.0)
    gaze_spread_deg: float = 3.0
    drift_deg_per_s: float = 0.3
    tremor_deg: float = 0.03
    blink_rate_hz: float = 0.3
    data_loss_rate_hz: float = 0.05
    pupil_mm_offset: float = 0.0
    pupil_fluctuation_mm: float = 0.08


EMOTION_EYE_BEHAVIOUR: dict[str, EyeBehaviour] = {
    "Neutral": EyeBehaviour(),
    "Happiness": EyeBehaviour(
        fixation_duration_ms_mean=280.0,
        fixation_duration_ms_sd=90.0,
        saccade_amplitude_deg_mean=4.5,
        gaze_centre_deg=(0.0, -3.5),
        gaze_spread_deg=3.0,
        blink_rate_hz=0.2,
        pupil_mm_offset=0.45,
    ),
    "Sadness": EyeBehaviour(
        fixation_duration_ms_mean=520.0,
        fixation_duration_ms_sd=160.0,
        saccade_amplitude_deg_mean=2.5,
        saccade_speed_gain=0.85,
        gaze_centre_deg=(0.0, 4.5),
        gaze_spread_deg=1.8,
        blink_rate_hz=0.35,
        pupil_mm_offset=-0.4,
    ),
    "Fear": EyeBehaviour(
        fixation_duration_ms_mean=170.0,
        fixation_duration_ms_sd=50.0,
        saccade_amplitude_deg_mean=8.0,
        saccade_speed_gain=1.25,
        gaze_centre_deg=(0.0, 0.0),
        gaze_spread_deg=5.5,
        blink_rate_hz=0.45,
        data_loss_rate_hz=0.08,
        pupil_mm_offset=1.35,
    ),
    "Surprise": EyeBehaviour(
        fixation_duration_ms_mean=260.0,
        fixation_duration_ms_sd=80.0,
        saccade_amplitude_deg_mean=6.5,
        saccade_speed_gain=1.1,
        gaze_centre_deg=(0.0, -2.5),
        gaze_spread_deg=5.5,
        blink_rate_hz=0.6,
        pupil_mm_offset=0.9,
    ),
    "Anger": EyeBehaviour(
        fixation_duration_ms_mean=480.0,
        fixation_duration_ms_sd=150.0,
        saccade_amplitude_deg_mean=2.5,
        gaze_centre_deg=(0.0, 0.0),
        gaze_spread_deg=1.5,
        blink_rate_hz=0.2,
        pupil_mm_offset=0.9,
    ),
    "Disgust": EyeBehaviour(
        fixation_duration_ms_mean=320.0,
        fixation_duration_ms_sd=100.0,
        saccade_amplitude_deg_mean=4.0,
        gaze_centre_deg=(6.0, 2.0),
        gaze_spread_deg=3.0,
        blink_rate_hz=0.35,
        pupil_mm_offset=0.3,
    ),
}
"""How the true emotion changes looking (keys are the EMER 7-class names)."""


@dataclass(frozen=True)
class EyeSubject:
    """What stays the same for one person: pupil size, calibration error, tracker precision."""

    pupil_baseline_mm: float = 3.3
    anisocoria_mm: float = 0.0
    calibration_offset_deg: tuple[float, float] = (0.0, 0.0)
    precision_deg: float = 0.05
    vergence_deg: float = 0.3

    @classmethod
    def sample(cls, rng: np.random.Generator) -> EyeSubject:
        return cls(
            pupil_baseline_mm=float(rng.normal(3.3, 0.15)),
            anisocoria_mm=float(rng.normal(0.0, 0.06)),
            calibration_offset_deg=(float(rng.normal(0.0, 0.35)), float(rng.normal(0.0, 0.35))),
            precision_deg=float(rng.uniform(0.03, 0.08)),
            vergence_deg=float(rng.uniform(0.1, 0.5)),
        )


@dataclass(frozen=True)
class SimulatedGaze:
    """One simulated recording, one row per sample, before any export; missing values are NaN.

    ``movement_type`` holds indices into ``MOVEMENT_TYPES``; ``event_index`` counts the events
    of each type from 1; ``event_duration_ms`` is the duration of the event the sample belongs
    to; ``fixation_x_px``/``fixation_y_px`` are the fixation centroid on fixation samples.
    """

    sampling_rate_hz: float
    t_ms: np.ndarray
    gaze_x_px: np.ndarray
    gaze_y_px: np.ndarray
    pupil_left_mm: np.ndarray
    pupil_right_mm: np.ndarray
    valid_left: np.ndarray
    valid_right: np.ndarray
    movement_type: np.ndarray
    event_index: np.ndarray
    event_duration_ms: np.ndarray
    fixation_x_px: np.ndarray
    fixation_y_px: np.ndarray

    def __len__(self) -> int:
        return len(self.t_ms)

    def movement_type_names(self) -> list[str]:
        return [MOVEMENT_TYPES[k] for k in self.movement_type]


# Recording-to-recording variation of one person looking the same way.
_PUPIL_RECORDING_SD_MM = 0.07
_CENTRE_RECORDING_SD_DEG = 0.35
_PUPIL_NOISE_MM = 0.015
_ONE_EYE_LOSS_RATE_HZ = 0.15


def generate_gaze(
    behaviour: EyeBehaviour,
    duration_ms: float,
    rng: np.random.Generator,
    *,
    subject: EyeSubject | None = None,
    sampling_rate_hz: float = 120.0,
    screen: ScreenGeometry | None = None,
) -> SimulatedGaze:
    """Simulate ``duration_ms`` of looking at ``screen`` with the statistics of ``behaviour``."""
    subject = subject or EyeSubject()
    screen = screen or ScreenGeometry()
    period = 1000.0 / sampling_rate_hz
    n = int(math.floor(duration_ms * sampling_rate_hz / 1000.0 + 1e-9)) + 1
    t = np.arange(n) * period

    centre = np.array(behaviour.gaze_centre_deg) + rng.normal(0.0, _CENTRE_RECORDING_SD_DEG, 2)
    starts, kinds, begin_pos, end_pos = _event_plan(behaviour, centre, duration_ms, rng, screen)
    event = np.searchsorted(starts, t, side="right") - 1
    kind = kinds[event]
    event_end = np.append(starts[1:], np.inf)
    phase = np.clip((t - starts[event]) / np.maximum(event_end[event] - starts[event], 1e-9), 0, 1)
    profile = np.where(kind == _SAC, _minimum_jerk(phase), phase)
    pos = begin_pos[event] + (end_pos[event] - begin_pos[event]) * profile[:, None]
    pos += rng.normal(0.0, behaviour.tremor_deg, (n, 2))
    pos += np.array(subject.calibration_offset_deg)

    lost_both = _gaps(behaviour.blink_rate_hz, (80.0, 300.0), t, rng)
    lost_both |= _gaps(behaviour.data_loss_rate_hz, (100.0, 400.0), t, rng)
    one_eye = _gaps(_ONE_EYE_LOSS_RATE_HZ, (30.0, 150.0), t, rng) & ~lost_both
    left_lost = one_eye & (rng.random() < 0.5)
    valid_left = ~(lost_both | left_lost)
    valid_right = ~(lost_both | (one_eye & ~left_lost))

    half_vergence = np.array([subject.vergence_deg / 2.0, 0.0])
    left = pos - half_vergence + rng.normal(0.0, subject.precision_deg, (n, 2))
    right = pos + half_vergence + rng.normal(0.0, subject.precision_deg, (n, 2))
    both = valid_left & valid_right
    gaze = np.where(both[:, None], (left + right) / 2.0, np.where(valid_left[:, None], left, right))
    gaze_x, gaze_y = screen.deg_to_px(gaze[:, 0], gaze[:, 1])
    gaze_x[lost_both] = np.nan
    gaze_y[lost_both] = np.nan

    pupil = (
        subject.pupil_baseline_mm
        + behaviour.pupil_mm_offset
        + rng.normal(0.0, _PUPIL_RECORDING_SD_MM)
        + _slow_fluctuation(t, behaviour.pupil_fluctuation_mm, rng)
    )
    pupil_left = pupil + rng.normal(0.0, _PUPIL_NOISE_MM, n)
    pupil_right = pupil + subject.anisocoria_mm + rng.normal(0.0, _PUPIL_NOISE_MM, n)
    pupil_left[~valid_left] = np.nan
    pupil_right[~valid_right] = np.nan

    movement = _movement_types(kind, lost_both, period)
    index, duration, fix_x, fix_y = _events(movement, gaze_x, gaze_y, period)
    return SimulatedGaze(
        sampling_rate_hz=sampling_rate_hz,
        t_ms=np.rint(t).astype(np.int64),
        gaze_x_px=gaze_x,
        gaze_y_px=gaze_y,
        pupil_left_mm=pupil_left,
        pupil_right_mm=pupil_right,
        valid_left=valid_left,
        valid_right=valid_right,
        movement_type=movement,
        event_index=index,
        event_duration_ms=duration,
        fixation_x_px=fix_x,
        fixation_y_px=fix_y,
    )


def _event_plan(
    b: EyeBehaviour,
    centre: np.ndarray,
    duration_ms: float,
    rng: np.random.Generator,
    screen: ScreenGeometry,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Alternating fixations and saccades covering [0, duration_ms].

    Returns the start time, kind, start position and end position (degrees) of every event;
    a fixation "moves" only by its drift, a saccade from one fixation to the next target.
    """
    limit = np.array(screen.half_extent_deg) - 0.5
    shape = (b.fixation_duration_ms_mean / b.fixation_duration_ms_sd) ** 2
    scale = b.fixation_duration_ms_mean / shape
    starts, kinds, begins, ends = [], [], [], []
    here = np.clip(centre + rng.normal(0.0, b.gaze_spread_deg, 2), -limit, limit)
    # Start somewhere inside the first fixation.
    now = -rng.uniform(0.0, 1.0) * rng.gamma(shape, scale)
    while now <= duration_ms:
        fix_ms = max(rng.gamma(shape, scale), 80.0)
        speed = abs(rng.normal(b.drift_deg_per_s, b.drift_deg_per_s / 2.0))
        angle = rng.uniform(0.0, 2.0 * math.pi)
        drifted = here + speed * fix_ms / 1000.0 * np.array([math.cos(angle), math.sin(angle)])
        starts.append(now)
        kinds.append(_FIX)
        begins.append(here)
        ends.append(drifted)
        now += fix_ms
        target = _next_target(drifted, b, centre, rng, limit)
        amplitude = float(np.hypot(*(target - drifted)))
        starts.append(now)
        kinds.append(_SAC)
        begins.append(drifted)
        ends.append(target)
        now += (2.2 * amplitude + 21.0) / b.saccade_speed_gain
        here = target
    starts_arr = np.array(starts)
    starts_arr[0] = min(starts_arr[0], 0.0)
    return starts_arr, np.array(kinds), np.array(begins), np.array(ends)


def _next_target(
    here: np.ndarray,
    b: EyeBehaviour,
    centre: np.ndarray,
    rng: np.random.Generator,
    limit: np.ndarray,
) -> np.ndarray:
    """A saccade of main-sequence-typical amplitude, aimed where this behaviour tends to look."""
    amplitude = float(np.clip(rng.gamma(3.0, b.saccade_amplitude_deg_mean / 3.0), 0.5, 30.0))
    angles = rng.uniform(0.0, 2.0 * math.pi, 12)
    landing = here + amplitude * np.stack([np.cos(angles), np.sin(angles)], 1)
    log_p = -np.sum((landing - centre) ** 2, axis=1) / (2.0 * b.gaze_spread_deg**2)
    p = np.exp(log_p - log_p.max())
    choice = rng.choice(len(angles), p=p / p.sum())
    return np.clip(landing[choice], -limit, limit)


def _minimum_jerk(x: np.ndarray) -> np.ndarray:
    return x**3 * (10.0 - 15.0 * x + 6.0 * x**2)


def _gaps(
    rate_hz: float, length_ms: tuple[float, float], t: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Samples inside gaps that arrive as a Poisson process of ``rate_hz``."""
    span = t[-1] - t[0] if len(t) else 0.0
    count = rng.poisson(rate_hz * span / 1000.0)
    mask = np.zeros(len(t), bool)
    for start, length in zip(
        rng.uniform(0.0, span, count), rng.uniform(*length_ms, count), strict=True
    ):
        mask |= (t >= start) & (t < start + length)
    return mask


def _slow_fluctuation(t: np.ndarray, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    freq = rng.uniform(0.1, 0.6, 3)
    phase = rng.uniform(0.0, 2.0 * math.pi, 3)
    weight = rng.normal(0.0, 1.0, 3) / math.sqrt(3.0)
    seconds = t / 1000.0
    return amplitude * sum(
        w * np.sin(2.0 * math.pi * f * seconds + p)
        for w, f, p in zip(weight, freq, phase, strict=True)
    )


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop indices of runs of equal values."""
    change = np.flatnonzero(np.diff(values)) + 1
    return np.concatenate([[0], change]), np.concatenate([change, [len(values)]])


def _movement_types(kind: np.ndarray, lost: np.ndarray, period: float) -> np.ndarray:
    movement = np.where(kind == _SAC, _SAC, _FIX).astype(np.int64)
    movement[lost] = _LOST
    # Velocity is undefined right next to a gap: one sample before, two after.
    edge = np.zeros_like(lost)
    edge[:-1] |= lost[1:] & ~lost[:-1]
    edge[1:] |= lost[:-1] & ~lost[1:]
    edge[2:] |= lost[:-2] & ~lost[2:] & ~lost[1:-1]
    movement[edge] = _UNCL
    starts, stops = _runs(movement)
    for a, b in zip(starts, stops, strict=True):
        if movement[a] == _FIX and (b - a) * period < _MIN_FIXATION_MS:
            movement[a:b] = _UNCL
    return movement


def _events(
    movement: np.ndarray, gaze_x: np.ndarray, gaze_y: np.ndarray, period: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = len(movement)
    index = np.zeros(n, np.int64)
    duration = np.zeros(n, np.int64)
    fix_x = np.full(n, np.nan)
    fix_y = np.full(n, np.nan)
    counters = dict.fromkeys(range(len(MOVEMENT_TYPES)), 0)
    starts, stops = _runs(movement)
    for a, b in zip(starts, stops, strict=True):
        kind = int(movement[a])
        counters[kind] += 1
        index[a:b] = counters[kind]
        duration[a:b] = round((b - a) * period)
        if kind == _FIX:
            fix_x[a:b] = np.nanmean(gaze_x[a:b])
            fix_y[a:b] = np.nanmean(gaze_y[a:b])
    return index, duration, fix_x, fix_y
