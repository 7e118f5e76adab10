"""The shared eye-behaviour generator: Tobii-like structure and emotion-separable statistics."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from emobench.datasets.synth.eye_behaviour import (
    EMOTION_EYE_BEHAVIOUR,
    MOVEMENT_TYPES,
    EyeBehaviour,
    EyeSubject,
    ScreenGeometry,
    generate_gaze,
)

EMOTIONS = ("Happiness", "Sadness", "Fear", "Surprise", "Disgust", "Anger", "Neutral")


def test_screen_geometry_maps_centre_and_round_trips() -> None:
    screen = ScreenGeometry()
    x, y = screen.deg_to_px(np.array([0.0, 5.0]), np.array([0.0, -3.0]))
    np.testing.assert_allclose([x[0], y[0]], [960.0, 540.0])
    assert x[1] > 960.0 and y[1] < 540.0
    xd, yd = screen.px_to_deg(x, y)
    np.testing.assert_allclose(xd, [0.0, 5.0], atol=1e-9)
    np.testing.assert_allclose(yd, [0.0, -3.0], atol=1e-9)


def test_recording_structure_is_consistent() -> None:
    behaviour = EyeBehaviour(blink_rate_hz=2.0, data_loss_rate_hz=0.5)
    rec = generate_gaze(behaviour, 3100.0, np.random.default_rng(1), subject=EyeSubject())
    n = len(rec)
    assert n == 373  # 3100 ms at 120 Hz, both ends included
    assert rec.t_ms[0] == 0 and np.all(np.diff(rec.t_ms) > 0)
    lost = ~rec.valid_left & ~rec.valid_right
    assert lost.any()
    assert np.array_equal(np.isnan(rec.gaze_x_px), lost)
    assert np.array_equal(np.isnan(rec.pupil_left_mm), ~rec.valid_left)
    assert np.array_equal(np.isnan(rec.pupil_right_mm), ~rec.valid_right)
    names = np.array(rec.movement_type_names())
    assert set(names) <= set(MOVEMENT_TYPES)
    assert np.all(names[lost] == "EyesNotFound") and np.all(names[~lost] != "EyesNotFound")
    fixation = names == "Fixation"
    assert np.array_equal(~np.isnan(rec.fixation_x_px), fixation)
    # Event indices count each type's events from 1, one run of samples per event.
    for kind in ("Fixation", "Saccade"):
        idx = rec.event_index[names == kind]
        assert idx.min() == 1 and np.all(np.diff(idx) >= 0)
        assert set(idx) == set(range(1, idx.max() + 1))
    assert np.all(rec.event_duration_ms > 0)
    assert np.all(rec.event_duration_ms[fixation] >= 60)
    assert rec.event_duration_ms[names == "Saccade"].max() < 150


def test_same_seed_same_recording() -> None:
    behaviour = EMOTION_EYE_BEHAVIOUR["Fear"]
    a = generate_gaze(behaviour, 3000.0, np.random.default_rng(5))
    b = generate_gaze(behaviour, 3000.0, np.random.default_rng(5))
    np.testing.assert_array_equal(a.gaze_x_px, b.gaze_x_px)
    np.testing.assert_array_equal(a.pupil_right_mm, b.pupil_right_mm)


def _statistics(rec, screen: ScreenGeometry) -> dict[str, float]:
    x, y = screen.px_to_deg(rec.gaze_x_px, rec.gaze_y_px)
    names = np.array(rec.movement_type_names())
    return {
        "pupil": float(np.nanmean(rec.pupil_left_mm)),
        "x": float(np.nanmean(x)),
        "y": float(np.nanmean(y)),
        "spread": float(np.hypot(np.nanstd(x), np.nanstd(y))),
        "fixations": float(len(set(rec.event_index[names == "Fixation"]))),
        "saccade_share": float(np.mean(names == "Saccade")),
    }


@pytest.fixture(scope="module")
def statistics_by_emotion() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    screen = ScreenGeometry()
    subjects = [EyeSubject.sample(rng) for _ in range(20)]
    out = {}
    for emotion in EMOTIONS:
        rows = [
            _statistics(
                generate_gaze(
                    EMOTION_EYE_BEHAVIOUR[emotion],
                    rng.uniform(3000.0, 3200.0),
                    rng,
                    subject=subjects[k % len(subjects)],
                ),
                screen,
            )
            for k in range(40)
        ]
        out[emotion] = {key: np.array([r[key] for r in rows]) for key in rows[0]}
    return out


def test_every_pair_of_emotions_differs_in_two_statistics(statistics_by_emotion) -> None:
    """At least two window-level statistics separate each pair by >= 1.5 pooled SDs."""
    stats = statistics_by_emotion
    assert set(EMOTION_EYE_BEHAVIOUR) == set(EMOTIONS)
    for a, b in itertools.combinations(EMOTIONS, 2):
        separations = sorted(
            (
                abs(stats[a][k].mean() - stats[b][k].mean())
                / np.sqrt((stats[a][k].var() + stats[b][k].var()) / 2.0)
                for k in stats[a]
            ),
            reverse=True,
        )
        assert separations[1] >= 1.5, (a, b, separations[:3])


def test_emotion_directions_match_the_design(statistics_by_emotion) -> None:
    stats = {e: {k: v.mean() for k, v in s.items()} for e, s in statistics_by_emotion.items()}
    assert stats["Fear"]["pupil"] > stats["Neutral"]["pupil"] > stats["Sadness"]["pupil"]
    assert stats["Sadness"]["y"] > 2.0  # looking down
    assert stats["Disgust"]["x"] > 2.0  # looking away sideways
    assert stats["Fear"]["fixations"] > stats["Neutral"]["fixations"] > stats["Anger"]["fixations"]
    assert stats["Fear"]["spread"] > stats["Neutral"]["spread"] > stats["Anger"]["spread"]
