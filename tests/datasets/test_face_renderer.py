"""The shared face renderer: determinism, timelines, and expressions that identity cannot hide."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emobench.datasets.synth.face_renderer import (
    AU_NAMES,
    EMOTION_AUS,
    Identity,
    Lighting,
    Pose,
    expression_aus,
    expression_timeline,
    face_landmarks,
    pose_track,
    render_face,
)

EMOTIONS = ("Happiness", "Sadness", "Fear", "Surprise", "Disgust", "Anger", "Neutral")


def test_prototypes_cover_the_seven_emotions_with_known_action_units() -> None:
    assert set(EMOTION_AUS) == set(EMOTIONS)
    assert EMOTION_AUS["Neutral"] == {}
    for aus in EMOTION_AUS.values():
        assert set(aus) <= set(AU_NAMES)
    # each prototype is at full intensity (its strongest unit at 1), and no two emotions
    # draw the same set of units, so every pair of faces differs in which units move
    assert {e: max(aus.values()) for e, aus in EMOTION_AUS.items() if aus} == {
        e: 1.0 for e in EMOTIONS if e != "Neutral"
    }
    unit_sets = [frozenset(aus) for aus in EMOTION_AUS.values()]
    assert len(set(unit_sets)) == len(unit_sets)
    assert set(EMOTION_AUS["Happiness"]) == {"AU6", "AU12"}
    assert set(EMOTION_AUS["Surprise"]) == {"AU1", "AU2", "AU5", "AU26"}


def test_render_is_deterministic_bgr_uint8() -> None:
    identity = Identity.sample(np.random.default_rng(3))
    a = render_face(identity, EMOTION_AUS["Fear"], 112, np.random.default_rng(9))
    b = render_face(identity, EMOTION_AUS["Fear"], 112, np.random.default_rng(9))
    assert a.shape == (112, 112, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    c = render_face(identity, EMOTION_AUS["Fear"], 112, np.random.default_rng(10))
    assert not np.array_equal(a, c)  # sensor noise differs


def test_unknown_action_unit_is_refused() -> None:
    identity = Identity()
    with pytest.raises(ValueError, match="AU99"):
        render_face(identity, {"AU99": 1.0}, 64, np.random.default_rng(0))
    with pytest.raises(ValueError, match="Joy"):
        expression_aus("Joy", 1.0)


def test_timeline_rises_plateaus_and_falls() -> None:
    curve = expression_timeline(45, 3, 10, 42, apex_end=34)
    assert curve.shape == (45,)
    assert np.all(curve[:4] == 0.0) and np.all(curve[42:] == 0.0)
    assert np.all(curve[10:35] == 1.0)
    assert np.all(np.diff(curve[3:11]) > 0) and np.all(np.diff(curve[34:43]) < 0)
    assert 0.0 < curve[6] < 1.0
    with pytest.raises(ValueError):
        expression_timeline(45, 10, 5, 40)


def test_pose_track_is_small_and_smooth() -> None:
    poses = pose_track(45, np.random.default_rng(0))
    angles = np.array([p.angle_deg for p in poses])
    shifts = np.array([[p.dx, p.dy] for p in poses])
    assert len(poses) == 45
    assert np.abs(angles).max() < 8.0 and np.abs(shifts).max() < 0.06
    assert np.abs(np.diff(angles)).max() < 1.0


def test_landmarks_follow_the_mouth_and_the_pose() -> None:
    identity = Identity()
    smile = face_landmarks(identity, expression_aus("Happiness", 1.0), 128)
    frown = face_landmarks(identity, expression_aus("Sadness", 1.0), 128)
    neutral = face_landmarks(identity, {}, 128)
    assert smile["mouth_left"][1] < neutral["mouth_left"][1] < frown["mouth_left"][1]
    assert smile["mouth_left"][0] < smile["mouth_right"][0]
    moved = face_landmarks(identity, {}, 128, pose=Pose(dx=0.1))
    np.testing.assert_allclose(moved["nose_tip"] - neutral["nose_tip"], [12.8, 0.0])
    assert neutral["contour"].shape[1] == 2


def _gray(img: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA)


def test_expressions_are_recognisable_across_identities() -> None:
    """Each expression's change from the person's neutral face looks alike for all people:
    a nearest-centroid classifier, leaving one identity out, names the expression."""
    emotions = [e for e in EMOTIONS if e != "Neutral"]
    features, labels, people = [], [], []
    for person in range(8):
        rng = np.random.default_rng(person)
        identity = Identity.sample(rng)
        lighting = Lighting.sample(rng)
        neutral = _gray(render_face(identity, {}, 112, rng, lighting=lighting))
        for k, emotion in enumerate(emotions):
            face = render_face(
                identity, expression_aus(emotion, 0.625), 112, rng, lighting=lighting
            )
            change = np.abs(_gray(face) - neutral).ravel()
            assert change.mean() > 1.0, (person, emotion)
            features.append(change / np.linalg.norm(change))
            labels.append(k)
            people.append(person)
    x, y, who = np.array(features), np.array(labels), np.array(people)
    correct = 0
    for person in range(8):
        train = who != person
        centroids = np.array([x[train & (y == k)].mean(0) for k in range(len(emotions))])
        correct += int(np.sum(np.argmax(x[~train] @ centroids.T, 1) == y[~train]))
    assert correct / len(y) >= 0.9
