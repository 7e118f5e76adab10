"""Eye prepare step: cleaning, degrees, I-VT events, windows, fixation map, real EyeLink data."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from emobench.datasets.tobii import GazeRecording, read_tobii_export
from emobench.errors import InputError
from emobench.prepare.eyes import (
    FIXATION_DTYPE,
    SERIES_COLUMNS,
    SERIES_UNITS,
    WINDOW_FEATURES,
    WINDOW_UNITS,
    EyeSettings,
    ScreenGeometry,
    angle_between_deg,
    clean_gaze,
    fixation_map,
    pixels_to_degrees,
    process_gaze_recording,
)

SCREEN = ScreenGeometry()
RATE_HZ = 120.0


def degrees_to_pixels(x_deg, y_deg, screen: ScreenGeometry = SCREEN):
    """Inverse of the atan formula: screen pixels of a visual angle from the screen centre."""
    x_mm = np.tan(np.radians(x_deg)) * screen.distance_mm
    y_mm = np.tan(np.radians(y_deg)) * screen.distance_mm
    return (x_mm / screen.width_mm + 0.5) * screen.width_px, (
        y_mm / screen.height_mm + 0.5
    ) * screen.height_px


def piecewise_gaze(targets_deg: list[tuple[float, float]], hold_ms: float, noise_px: float = 0.0):
    """Gaze held on each target for ``hold_ms`` at 120 Hz, jumping instantly between them."""
    per_target = round(hold_ms * RATE_HZ / 1000)
    n = per_target * len(targets_deg)
    t = np.arange(n) * 1000 / RATE_HZ
    segment = np.arange(n) // per_target
    tx, ty = degrees_to_pixels(*np.array(targets_deg, dtype=float).T)
    rng = np.random.default_rng(7)
    x = tx[segment] + rng.normal(0, noise_px, n)
    y = ty[segment] + rng.normal(0, noise_px, n)
    return t, x, y


def recording(t, x, y, pupil=3.0, path="synthetic.tsv") -> GazeRecording:
    return GazeRecording.from_arrays(t, x, y, np.full(len(t), pupil), path=path)


def test_degrees_at_the_centre_and_a_known_offset() -> None:
    screen = ScreenGeometry(width_px=1000, height_px=500, width_mm=1000, height_mm=500)
    x_deg, y_deg = pixels_to_degrees(np.array([500.0]), np.array([250.0]), screen)
    assert x_deg[0] == pytest.approx(0.0) and y_deg[0] == pytest.approx(0.0)
    # 1 px = 1 mm here: a point distance_mm to the right is at atan(1) = 45 degrees
    x_deg, y_deg = pixels_to_degrees(np.array([500.0 + 650.0]), np.array([250.0 - 65.0]), screen)
    assert x_deg[0] == pytest.approx(45.0)
    assert y_deg[0] == pytest.approx(-np.degrees(np.arctan(0.1)))
    centre, right = (np.array([500.0]), np.array([250.0])), (np.array([1150.0]), 250.0)
    assert angle_between_deg(*centre, *right, screen)[0] == pytest.approx(45.0)
    # between two off-centre points it is the 3-D angle (35.26 deg), not 45 deg from atan(y)
    corner = (np.array([1150.0]), np.array([900.0]))
    angle = angle_between_deg(*right, *corner, screen)[0]
    assert angle == pytest.approx(np.degrees(np.arccos(2 / np.sqrt(6))))


def test_ivt_finds_the_constructed_fixations_and_saccades() -> None:
    targets = [(0, 0), (5, 0), (5, 4), (-6, 4), (-6, -3), (2, -3)]
    t, x, y = piecewise_gaze(targets, hold_ms=500, noise_px=1.0)
    features = process_gaze_recording(recording(t, x, y))
    fix, sac = features.fixations, features.saccades
    assert len(fix) == len(targets)
    assert len(sac) == len(targets) - 1
    assert features.summary["n_fixations"] == 6 and features.summary["n_saccades"] == 5
    tx, ty = degrees_to_pixels(*np.array(targets, dtype=float).T)
    expected_x_deg, expected_y_deg = pixels_to_degrees(tx, ty, SCREEN)
    np.testing.assert_allclose(fix["x_deg"], expected_x_deg, atol=0.05)
    np.testing.assert_allclose(fix["y_deg"], expected_y_deg, atol=0.05)
    np.testing.assert_allclose(fix["x_norm"], tx / SCREEN.width_px - 0.5, atol=0.002)
    expected_amplitudes = angle_between_deg(tx[:-1], ty[:-1], tx[1:], ty[1:], SCREEN)
    np.testing.assert_allclose(sac["amplitude_deg"], expected_amplitudes, atol=0.1)
    assert (sac["peak_velocity_deg_s"] > 30).all()
    # each fixation lasts its 500 ms less the saccade samples around the jumps
    assert ((fix["duration_ms"] > 450) & (fix["duration_ms"] <= 500)).all()
    np.testing.assert_allclose(sac["onset_ms"], np.arange(1, 6) * 500 - 1000 / RATE_HZ)


def test_adjacent_fixations_merge_and_short_ones_are_discarded() -> None:
    # fixation at 0 deg, a two-sample (17 ms) excursion, fixation 0.2 deg away: merged by default
    t, x, y = piecewise_gaze([(0, 0), (8, 0), (0.2, 0)], hold_ms=400)
    spike = (t >= 400) & (t < 400 + 2000 / RATE_HZ)
    keep = (t < 400) | spike | (t >= 800)
    t, x, y = t[keep], x[keep], y[keep]
    t = np.arange(len(t)) * 1000 / RATE_HZ
    merged = process_gaze_recording(recording(t, x, y))
    assert merged.summary["n_fixations"] == 1
    assert merged.summary["n_saccades"] == 0
    separate = process_gaze_recording(
        recording(t, x, y), EyeSettings(merge_adjacent_fixations=False)
    )
    assert separate.summary["n_fixations"] == 2

    # a 40 ms stop between two saccades is too short to be a fixation (min 60 ms)
    t, x, y = piecewise_gaze([(0, 0), (6, 0), (12, 0)], hold_ms=400)
    brief = (t >= 400) & (t < 440)
    keep = (t < 400) | brief | (t >= 800)
    t, x, y = t[keep], x[keep], y[keep]
    t = np.arange(len(t)) * 1000 / RATE_HZ
    features = process_gaze_recording(recording(t, x, y))
    assert features.summary["n_fixations"] == 2
    np.testing.assert_allclose(features.fixations["x_deg"][1], 12.0, atol=0.1)


def gap_recording(gap_ms: float) -> GazeRecording:
    t, x, y = piecewise_gaze([(1, 1)], hold_ms=2000, noise_px=0.5)
    gap = (t >= 1000) & (t < 1000 + gap_ms)
    x, y = x.copy(), y.copy()
    x[gap] = np.nan
    y[gap] = np.nan
    return recording(t, x, y)


def test_short_gaps_are_filled_and_long_ones_kept_as_loss() -> None:
    settings = EyeSettings()
    short = clean_gaze(gap_recording(50), settings)
    assert not short.raw_valid.all() and short.valid.all()
    assert short.n_blinks == 0
    long = clean_gaze(gap_recording(150), settings)
    assert not long.valid.all()
    assert np.isnan(long.x_px[~long.valid]).all()
    assert long.n_blinks == 1  # a 150 ms loss is a blink
    assert clean_gaze(gap_recording(700), settings).n_blinks == 0  # too long for a blink

    filled = process_gaze_recording(gap_recording(50)).series
    assert filled[:, SERIES_COLUMNS.index("valid")].all()
    assert not np.isnan(filled[:, :3]).any()
    lost = process_gaze_recording(gap_recording(150)).series
    valid = lost[:, SERIES_COLUMNS.index("valid")].astype(bool)
    assert 5 <= (~valid).sum() <= 10  # 150 ms at 60 Hz, give or take the edges
    assert np.isnan(lost[~valid, 0]).all() and not np.isnan(lost[valid, 0]).any()
    # a longer gap only than Tobii's default is filled when the setting allows it
    assert clean_gaze(gap_recording(150), EyeSettings(max_gap_fill_ms=200)).valid.all()


def test_off_screen_samples_are_invalid_and_pupils_are_averaged() -> None:
    t = np.arange(20) * 10.0
    x = np.full(20, 960.0)
    x[5] = SCREEN.width_px * 1.2  # 20 % beyond the right edge
    x[6] = SCREEN.width_px * 1.05  # within the 10 % tolerance
    rec = GazeRecording.from_arrays(t, x, np.full(20, 540.0), np.full(20, 3.0), np.full(20, 4.0))
    clean = clean_gaze(rec, EyeSettings())
    assert not clean.raw_valid[5] and clean.raw_valid[6]
    np.testing.assert_allclose(clean.pupil_mm, 3.5)


def test_outputs_have_the_documented_shapes_and_no_nans() -> None:
    rec = gap_recording(300)
    settings = EyeSettings(windows=16, map_height=12, map_width=20)
    features = process_gaze_recording(rec, settings)
    assert features.series.shape == (120, 7) and features.series.dtype == np.float32
    assert features.windows.shape == (16, len(WINDOW_FEATURES))
    assert features.windows.dtype == np.float32
    assert not np.isnan(features.windows).any()
    assert features.gaze.shape == (16, 2) and not np.isnan(features.gaze).any()
    assert features.fixation_map.shape == (12, 20)
    assert len(SERIES_UNITS) == len(SERIES_COLUMNS) == 7
    assert len(WINDOW_UNITS) == len(WINDOW_FEATURES) == 14
    loss = features.windows[:, WINDOW_FEATURES.index("data_loss_rate")]
    assert loss.max() > 0.5 and loss.min() == 0.0
    # the gaze sits at (1 deg, 1 deg): right of and below the centre
    assert (features.gaze > 0).all()
    assert features.summary["n_blinks"] == 1
    assert features.summary["duration_s"] == pytest.approx(2.0)
    json.dumps(features.summary)


def test_windows_longer_than_the_data_get_fallback_values() -> None:
    t, x, y = piecewise_gaze([(0, 0), (4, 0)], hold_ms=100)  # 200 ms, 12 grid points
    features = process_gaze_recording(recording(t, x, y), EyeSettings(windows=32))
    assert features.windows.shape == (32, 14) and not np.isnan(features.windows).any()
    pupil = features.windows[:, WINDOW_FEATURES.index("pupil_mean_mm")]
    np.testing.assert_allclose(pupil, 3.0, rtol=1e-6)


def test_fixation_map_sums_to_one_and_peaks_at_the_fixation() -> None:
    # twice as long at (8, 4) deg as at (-10, -5) deg
    t, x, y = piecewise_gaze([(8, 4), (-10, -5), (8, 4)], hold_ms=400)
    features = process_gaze_recording(recording(t, x, y))
    density = features.fixation_map
    assert density.shape == (48, 64) and density.dtype == np.float32
    assert float(density.sum()) == pytest.approx(1.0, abs=1e-5)
    px, py = degrees_to_pixels(8.0, 4.0)
    expected = (py / SCREEN.height_px * 48, px / SCREEN.width_px * 64)
    peak = np.unravel_index(np.argmax(density), density.shape)
    assert abs(peak[0] - expected[0]) <= 1 and abs(peak[1] - expected[1]) <= 1

    fixations = np.zeros(2, dtype=FIXATION_DTYPE)
    fixations["x_norm"], fixations["y_norm"] = (0.25, -0.25), (0.25, -0.25)
    fixations["duration_ms"] = (900.0, 100.0)
    density = fixation_map(fixations, EyeSettings())
    row, col = np.unravel_index(np.argmax(density), density.shape)
    assert (row, col) == (36, 48)  # (0.75 * 48, 0.75 * 64): the longer fixation
    assert density[12, 16] > 0 and density[12, 16] < density[36, 48]
    empty = fixation_map(np.zeros(0, dtype=FIXATION_DTYPE), EyeSettings())
    np.testing.assert_allclose(empty, 1 / (48 * 64))


def test_unusable_recording_is_an_input_error_naming_the_file() -> None:
    t = np.arange(100) * 10.0
    x = np.full(100, np.nan)
    x[:3] = 500.0
    rec = recording(t, x, np.full(100, 500.0), path="P07/rec.tsv")
    with pytest.raises(InputError, match=r"P07/rec.tsv: no usable gaze: 97 % of samples invalid"):
        process_gaze_recording(rec)


def test_sorted_timestamps_flag_reaches_the_summary(tmp_path: Path) -> None:
    t, x, y = piecewise_gaze([(0, 0), (3, 3)], hold_ms=300)
    order = np.r_[1, 0, 2 : len(t)]
    lines = ["Recording timestamp\tGaze point X\tGaze point Y\tPupil diameter left"]
    lines += [f"{t[i]:.3f}\t{x[i]:.2f}\t{y[i]:.2f}\t3.0" for i in order]
    path = tmp_path / "rec.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    features = process_gaze_recording(read_tobii_export(path))
    assert features.summary["sorted_timestamps"] is True
    assert features.summary["n_fixations"] == 2


def test_settings_are_json_ready() -> None:
    settings = EyeSettings()
    data = json.loads(json.dumps(settings.as_dict()))
    assert data["ivt_threshold_deg_s"] == 30.0 and data["max_gap_fill_ms"] == 75.0
    assert data["screen"] == {
        "width_px": 1920,
        "height_px": 1080,
        "width_mm": 527.0,
        "height_mm": 296.5,
        "distance_mm": 650.0,
    }
    with pytest.raises(ValueError, match="rate_hz"):
        EyeSettings(rate_hz=0)


def test_real_eyelink_recording_gives_a_plausible_fixation_count() -> None:
    eyelinkio = pytest.importorskip("eyelinkio")
    spec = importlib.util.find_spec("eyelinkio")
    edf_path = Path(spec.origin).parent / "tests" / "data" / "test_raw.edf"
    if not edf_path.is_file():
        pytest.skip("eyelinkio ships no test_raw.edf")
    edf = eyelinkio.read_edf(str(edf_path))
    x, y, pupil_area = edf["samples"]
    rec = GazeRecording.from_arrays(edf["times"] * 1000.0, x, y, np.sqrt(pupil_area), path=edf_path)
    width, height = (int(v) for v in edf["info"]["screen_coords"])
    screen = ScreenGeometry(width_px=width, height_px=height)
    features = process_gaze_recording(rec, EyeSettings(screen=screen))

    reference = edf["discrete"]["fixations"]  # (eye, start s, end s, x, y): 21 in 66.8 s
    assert len(reference) == 21
    ours = features.summary["n_fixations"]
    assert len(reference) / 2 <= ours <= len(reference) * 2
    assert features.summary["duration_s"] == pytest.approx(66.8, abs=0.1)
    assert abs(features.summary["n_blinks"] - len(edf["discrete"]["blinks"])) <= 1
    # nearly every fixation we find overlaps one of the EyeLink parser's fixations
    onsets = features.fixations["onset_ms"] / 1000 + edf["times"][0]
    offsets = features.fixations["offset_ms"] / 1000 + edf["times"][0]
    ref_start = np.array([f[1] for f in reference])
    ref_end = np.array([f[2] for f in reference])
    overlaps = (onsets[:, None] < ref_end[None, :]) & (offsets[:, None] > ref_start[None, :])
    assert overlaps.any(axis=1).mean() >= 0.9


def test_fixation_without_a_position_is_left_off_the_map() -> None:
    fixations = np.zeros(3, dtype=FIXATION_DTYPE)
    fixations["x_norm"], fixations["y_norm"] = (0.25, np.nan, 0.1), (0.25, 0.0, np.nan)
    fixations["duration_ms"] = (900.0, 500.0, 500.0)
    density = fixation_map(fixations, EyeSettings())
    np.testing.assert_array_equal(density, fixation_map(fixations[:1], EyeSettings()))
    only_nan = fixation_map(fixations[1:], EyeSettings())
    np.testing.assert_allclose(only_nan, 1 / (48 * 64))  # as without fixations


def test_slow_tracker_with_lone_dropouts_gives_fixations_without_position() -> None:
    # 12 Hz: a lone invalid sample spans 167 ms between valid ones, too long to fill, yet the
    # gaze on both sides of it is still, so I-VT calls it a fixation sample with no gaze.
    t = np.arange(60) * 1000 / 12
    x, y = np.full(60, 960.0), np.full(60, 540.0)
    x[[10, 30, 50]] = np.nan
    features = process_gaze_recording(recording(t, x, y))
    assert features.summary["fixations_without_position"] == 3
    assert features.summary["n_fixations"] == 7
    assert features.fixation_map.sum() == pytest.approx(1.0)
    assert np.isfinite(features.fixation_map).all()


@pytest.mark.parametrize(("step_ms", "rate"), [(8333.3, "0.12 Hz"), (0.1, "1e\\+04 Hz")])
def test_implausible_sampling_rate_is_an_input_error(step_ms: float, rate: str) -> None:
    t = np.arange(100) * step_ms
    rec = recording(t, np.full(100, 960.0), np.full(100, 540.0), path="P03/rec.tsv")
    with pytest.raises(
        InputError, match=rf"P03/rec.tsv: the timestamps imply a {rate} eye tracker"
    ):
        process_gaze_recording(rec)


def test_time_unit_reaches_the_summary(tmp_path: Path) -> None:
    t, x, y = piecewise_gaze([(0, 0), (3, 3)], hold_ms=300)
    lines = ["RecordingTimestamp\tGaze point X\tGaze point Y\tPupil diameter left"]
    lines += [f"{t[i] * 1000:.0f}\t{x[i]:.2f}\t{y[i]:.2f}\t3.0" for i in range(len(t))]
    path = tmp_path / "rec.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    features = process_gaze_recording(read_tobii_export(path))
    assert features.summary["time_unit"] == "μs" and features.summary["time_unit_inferred"]
    assert features.summary["native_rate_hz"] == pytest.approx(120.0, rel=1e-3)
