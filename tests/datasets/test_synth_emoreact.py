"""The EmoReact miniature and the body layer: layout, byte-identical label files per seed, the
design (children, splits, co-occurrence, valence), the cue table's signal, a face left
untouched by the body, and MediaPipe finding the drawn faces."""

from __future__ import annotations

import hashlib
from dataclasses import fields
from pathlib import Path

import cv2
import numpy as np
import pytest

from emobench.datasets.emoreact import EMOTIONS, RELEASE, SPLIT_FILES, EmoReactAdapter
from emobench.datasets.registry import get_synth
from emobench.datasets.synth.body_layer import (
    FRAME_SIZE,
    Outfit,
    Posture,
    body_geometry,
    render_scene,
    room_background,
)
from emobench.datasets.synth.emoreact import (
    CHANNELS,
    CUE_TABLE,
    FPS,
    MIN_POSITIVES,
    SUBJECTS,
    ClipPlan,
    child_look,
    clip_signals,
    plan_emoreact,
    split_counts,
    write_emoreact_miniature,
)
from emobench.datasets.synth.face_renderer import (
    AU_NAMES,
    Identity,
    Lighting,
    face_landmarks,
    render_face,
)
from emobench.errors import EmobenchError, InputError

SMALL = {"subjects": 4, "clips_per_subject": 2}


def _label_digests(root: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / RELEASE / "Labels").iterdir())
    }


@pytest.fixture(scope="module")
def worlds(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    base = tmp_path_factory.mktemp("synth-emoreact")
    out = {}
    for key, seed in (("a", 0), ("b", 0), ("c", 1)):
        out[key] = (base / key, write_emoreact_miniature(base / key, seed=seed, **SMALL))
    return out


def test_layout_and_videos(worlds):
    root, summary = worlds["a"]
    assert summary["n_subjects"] == 4 and summary["n_samples"] == 8
    plan = {c.name: c for child in plan_emoreact(0, **SMALL) for c in child.clips}
    for part, (folder, labels, names) in SPLIT_FILES.items():
        label_lines = (root / RELEASE / "Labels" / labels).read_text().splitlines()
        name_lines = (root / RELEASE / "Labels" / names).read_text().splitlines()
        assert name_lines[-1] == ""  # the trailing blank line of the release
        assert len(label_lines) == len(name_lines) - 1 == summary["per_split"][part]
        for name_line, label_line in zip(name_lines, label_lines, strict=False):
            assert name_line.startswith("'") and name_line.endswith(".mp4'")
            clip = plan[name_line[1:-5]]
            assert clip.split == part and label_line == clip.label_line()
            video = root / RELEASE / "Data" / folder / clip.file
            cap = cv2.VideoCapture(str(video))
            frames = []
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                frames.append(frame)
            assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS)
            assert len(frames) == clip.n_frames and 16 <= clip.n_frames <= 24
            assert frames[0].shape == (FRAME_SIZE, FRAME_SIZE, 3)
    samples, skips = EmoReactAdapter(root).scan()
    assert skips == [] and len(samples) == 8


def test_label_files_are_byte_identical_per_seed(worlds):
    assert _label_digests(worlds["a"][0]) == _label_digests(worlds["b"][0])
    assert _label_digests(worlds["a"][0]) != _label_digests(worlds["c"][0])


def test_registered_as_the_emoreact_miniature():
    assert get_synth("emoreact") is write_emoreact_miniature


def test_refuses_a_non_empty_output_and_tiny_worlds(worlds, tmp_path):
    with pytest.raises(InputError, match="not empty"):
        write_emoreact_miniature(worlds["a"][0])
    with pytest.raises(EmobenchError, match="at least 3 children"):
        plan_emoreact(0, subjects=2)


def test_default_world_children_and_splits():
    children = plan_emoreact(0)
    assert len(children) == SUBJECTS >= 60
    assert len({c.source for c in children}) == len(children)
    counts = {p: sum(c.split == p for c in children) for p in SPLIT_FILES}
    assert tuple(counts.values()) == split_counts(SUBJECTS) == (25, 17, 21)
    for child in children:
        assert {clip.split for clip in child.clips} == {child.split}
        assert all(clip.name == f"{child.source}_{clip.k}" for clip in child.clips)
    for part in SPLIT_FILES:
        y = np.array([c.labels for ch in children for c in ch.clips if c.split == part])
        assert (y.sum(axis=0) >= MIN_POSITIVES).all(), part


def test_cooccurrence_and_valence_follow_the_release():
    clips = [c for ch in plan_emoreact(5, subjects=1500) for c in ch.clips]
    y = np.array([c.labels for c in clips])
    p = dict(zip(EMOTIONS, y.mean(axis=0), strict=True))

    def given(a: str, b: str) -> float:
        return y[y[:, EMOTIONS.index(b)] == 1, EMOTIONS.index(a)].mean()

    assert given("happiness", "excitement") > p["happiness"] + 0.2
    assert given("curiosity", "surprise") > p["curiosity"] + 0.15
    assert given("uncertainty", "fear") > p["uncertainty"] + 0.3
    assert given("disgust", "fear") > p["disgust"] + 0.3
    assert given("excitement", "uncertainty") < p["excitement"] - 0.1
    assert p["disgust"] < 0.16 and p["fear"] < 0.08 and p["happiness"] > 0.45
    valence = np.array([c.valence for c in clips])
    assert ((valence >= 1) & (valence <= 7)).all()
    assert np.allclose(valence * 3, np.round(valence * 3), atol=1e-3)  # thirds
    happy = y[:, EMOTIONS.index("happiness")] == 1
    disgusted = y[:, EMOTIONS.index("disgust")] == 1
    assert valence[happy].mean() > valence[~happy].mean() + 1.0
    assert valence[disgusted].mean() < valence[~disgusted].mean() - 0.7


def test_cue_table_covers_every_emotion_and_channel():
    posture_keys = {f.name for f in fields(Posture)} | {"bounce"}
    assert set(CUE_TABLE) == set(EMOTIONS)
    for emotion, cue in CUE_TABLE.items():
        assert cue.lower and cue.upper and cue.body and cue.reason, emotion
        assert set(cue.lower) | set(cue.upper) <= set(AU_NAMES)
        assert set(cue.body) <= posture_keys
        assert not set(cue.lower) & set(cue.upper)
    assert CHANNELS == ("lower", "upper", "body")


def _signals(labels: dict[str, int], seeds=range(40)) -> list[dict]:
    clip = ClipPlan("X1_1", 0, 1, "train", tuple(labels.get(e, 0) for e in EMOTIONS), (4,), 20)
    return [clip_signals(clip, 1.0, 1.0, np.random.default_rng(s)) for s in seeds]


def _mean_last(signals: list[dict], get) -> float:
    return float(np.mean([get(s["aus"][-1], s["postures"][-1]) for s in signals]))


def test_each_emotion_shows_in_face_and_body():
    neutral = _signals({})
    excited = _signals({"excitement": 1})
    frustrated = _signals({"frustration": 1})
    curious = _signals({"curiosity": 1})
    happy = _signals({"happiness": 1})
    arms = lambda a, p: p.arm_raise  # noqa: E731
    assert _mean_last(neutral, arms) == 0.0 and _mean_last(excited, arms) > 0.3
    slump = lambda a, p: p.slump  # noqa: E731
    assert _mean_last(frustrated, slump) > _mean_last(neutral, slump) + 0.3
    lean = lambda a, p: p.lean  # noqa: E731
    assert _mean_last(curious, lean) > _mean_last(neutral, lean) + 0.3
    smile = lambda a, p: a.get("AU12", 0.0)  # noqa: E731
    assert _mean_last(neutral, smile) == 0.0 and _mean_last(happy, smile) > 0.4
    brows = lambda a, p: a.get("AU4", 0.0)  # noqa: E731
    assert _mean_last(frustrated, brows) > 0.3 and _mean_last(neutral, brows) == 0.0
    # the expression unfolds: the first frame shows less than the last
    first = np.mean([s["aus"][0].get("AU12", 0.0) for s in happy])
    assert first < _mean_last(happy, smile)


def _scene(posture: Posture, aus: dict, seed: int = 0):
    identity, outfit, _, _ = child_look(0, seed)
    background = room_background(np.random.default_rng(seed))
    rng = np.random.default_rng(1)
    scene = render_scene(identity, outfit, aus, posture, background, rng, noise_sd=0.0)
    pose = body_geometry(posture, build=outfit.build).face_pose
    alone = render_face(identity, aus, FRAME_SIZE, rng, pose=pose, noise_sd=0.0)
    contour = face_landmarks(identity, aus, FRAME_SIZE, pose=pose)["contour"]
    mask = np.zeros((FRAME_SIZE, FRAME_SIZE), np.uint8)
    cv2.fillPoly(mask, [np.round(contour).astype(np.int32)], 1)
    inside = cv2.erode(mask, np.ones((5, 5), np.uint8)).astype(bool)
    return scene, alone, inside, identity, pose


@pytest.mark.parametrize(
    "posture",
    [
        Posture(),
        Posture(shrug=1.0),
        Posture(arm_raise=1.0),
        Posture(slump=1.0, lean=1.0, shrug=1.0),  # the collar reaches the dropped jaw
    ],
)
def test_the_body_leaves_the_face_untouched(posture):
    scene, alone, inside, _, _ = _scene(posture, {"AU12": 0.8, "AU26": 1.0})
    assert inside.sum() > 4000
    assert np.array_equal(scene[inside], alone[inside])


def test_a_hand_to_the_face_covers_only_the_lower_face():
    scene, alone, inside, identity, pose = _scene(Posture(hand_to_face=1.0), {})
    changed = inside & (np.abs(scene.astype(int) - alone.astype(int)).sum(axis=2) > 0)
    assert changed.sum() > 100
    marks = face_landmarks(identity, {}, FRAME_SIZE, pose=pose)
    eye_y = max(marks["left_eye"][1], marks["right_eye"][1])
    assert np.nonzero(changed)[0].min() > eye_y  # nothing above the eyes changes


def test_postures_move_the_body():
    rest = body_geometry(Posture())
    shrug = body_geometry(Posture(shrug=1.0))
    assert shrug.shoulders[0][1] < rest.shoulders[0][1] - 10
    lean = body_geometry(Posture(lean=1.0))
    assert lean.face_pose.scale > rest.face_pose.scale * 1.05
    slump = body_geometry(Posture(slump=1.0))
    assert slump.head[1] > rest.head[1] + 5 and slump.shoulders[1][1] > rest.shoulders[1][1]
    up = body_geometry(Posture(arm_raise=1.0))
    assert all(wrist[1] < up.head[1] for _, _, wrist in up.arms)
    assert all(wrist[1] > FRAME_SIZE for _, _, wrist in rest.arms)
    hand = body_geometry(Posture(hand_to_face=1.0, hand_side=-1.0))
    assert hand.hand is not None and len(hand.arms) == 1
    palm = hand.hand[1]
    assert hand.head[0] - 40 < palm[0] < hand.head[0] and palm[1] > hand.head[1]


def test_outfits_and_rooms_vary():
    rng = np.random.default_rng(0)
    outfits = {Outfit.sample(rng) for _ in range(20)}
    assert len({o.shirt_bgr for o in outfits}) > 5 and len({o.pattern for o in outfits}) > 1
    rooms = [room_background(np.random.default_rng(s)) for s in range(3)]
    assert not np.array_equal(rooms[0], rooms[1])
    identity = Identity.sample(np.random.default_rng(0))
    scene = render_scene(
        identity,
        Outfit(),
        {},
        Posture(),
        rooms[0],
        np.random.default_rng(0),
        lighting=Lighting(gain=1.1),
    )
    assert scene.shape == (FRAME_SIZE, FRAME_SIZE, 3) and scene.dtype == np.uint8


def test_mediapipe_finds_the_drawn_faces(worlds):
    landmarks = pytest.importorskip("emobench.prepare.face_landmarks")
    root, _ = worlds["a"]
    found = total = 0
    for video in sorted((root / RELEASE / "Data").rglob("*.mp4")):
        cap = cv2.VideoCapture(str(video))
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            total += 1
            found += (
                landmarks.detect_face_points(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)) is not None
            )
    assert total > 100 and found / total >= 0.95
