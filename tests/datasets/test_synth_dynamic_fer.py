"""The dynamic-FER world and its three miniatures (DFEW, FERV39k, MAFW): layouts, byte-identical
files per seed, the design (balance, folds, lengths) and the signal (the label is the change)."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from emobench.datasets import dfew, ferv39k, mafw
from emobench.datasets.registry import get_synth
from emobench.datasets.synth.dfew import plan_dfew, write_dfew_miniature
from emobench.datasets.synth.dynamic_fer import (
    APEX_AMPLITUDE,
    REST_AMPLITUDE,
    DynamicClip,
    expression_curve,
    frame_aus,
    prototype,
    render_clip,
)
from emobench.datasets.synth.face_renderer import (
    AU_NAMES,
    EMOTION_AUS,
    SECONDARY_EMOTION_AUS,
    Identity,
    expression_aus,
    render_face,
)
from emobench.datasets.synth.ferv39k import plan_ferv39k
from emobench.datasets.synth.mafw import plan_mafw
from emobench.errors import InputError

TINY = {
    "dfew": {"per_class": 1, "label_0": 1},
    "ferv39k": {"per_scene_class": 2, "scenes": 1},
    "mafw": {"per_class": 1},
}


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def worlds(tmp_path_factory) -> dict[tuple[str, int, str], tuple[Path, dict]]:
    base = tmp_path_factory.mktemp("dynamic-fer")
    out = {}
    for name in TINY:
        for seed, copy in ((0, "a"), (0, "b"), (1, "a")):
            root = base / f"{name}-{seed}-{copy}"
            out[name, seed, copy] = (root, get_synth(name)(root, seed=seed, **TINY[name]))
    return out


@pytest.mark.parametrize("name", list(TINY))
def test_same_seed_same_bytes_other_seed_other_bytes(worlds, name) -> None:
    a, b, c = (_digests(worlds[name, s, k][0]) for s, k in ((0, "a"), (0, "b"), (1, "a")))
    assert a == b
    assert sorted(a) == worlds[name, 0, "a"][1]["files"]
    jpgs = [f for f in a if f.endswith(".jpg")]
    assert jpgs and a != c


def test_dfew_layout(worlds) -> None:
    root, summary = worlds["dfew", 0, "a"]
    data = root / "data_affine/single_label/data"
    clips = sorted(p.name for p in data.iterdir())
    assert len(clips) == summary["n_samples"] == 7 and summary["n_label_0_rows"] == 1
    names = sorted(p.name for p in (data / clips[0]).iterdir())
    assert names[0] == f"{clips[0]}_00001.jpg" and len(names) >= 10
    head = (root / "data_affine/single_label/label/single_trainset_1.csv").read_text()
    assert head.splitlines()[0] == "video_name,label"
    assert not list(root.parent.glob(".*partial*"))


def test_ferv39k_and_mafw_layouts(worlds) -> None:
    root, _ = worlds["ferv39k", 0, "a"]
    line = (root / "All_scenes/train_All.csv").read_text().splitlines()[0]
    folder, label = line.split(" ")
    scene, cls, clip = folder.split("/")
    assert cls == label and label in ferv39k.CLASSES and len(clip) == 4
    assert (root / "2_ClipsforFaceCrop" / folder / "1.jpg").is_file()
    root, _ = worlds["mafw", 0, "a"]
    line = (root / "label/no_caption/set_1/test.txt").read_text().splitlines()[0]
    video, label = line.split(" ")
    assert video.endswith(".mp4") and label in mafw.CLASSES
    assert (root / "data/faces" / video[:-4] / "1.jpg").is_file()


def test_refuses_a_non_empty_out(tmp_path) -> None:
    (tmp_path / "x").write_text("keep me")
    with pytest.raises(InputError, match="not empty"):
        write_dfew_miniature(tmp_path, per_class=1)


def test_default_designs() -> None:
    rows = plan_dfew(0)
    single = [r for r in rows if r[1] != dfew.NOT_SINGLE_LABELLED]
    assert len(single) == 280 and len(rows) == 300 and len({r[0] for r in rows}) == 300
    assert Counter(r[1] for r in single) == dict.fromkeys(range(1, 8), 40)
    per_fold_class = Counter((r[2], r[1]) for r in single)
    assert set(per_fold_class.values()) == {8}  # stratified folds
    lengths = np.array([r[3].n_frames for r in single])
    assert lengths.min() >= 10 and lengths.max() <= 40 and 0.1 < (lengths < 16).mean() < 0.4
    f_rows = plan_ferv39k(0)
    assert len(f_rows) == 280
    assert Counter(r[2] for r in f_rows) == {"train": 224, "test": 56}
    m_rows = plan_mafw(0)
    assert len(m_rows) == 330 and Counter(r[1] for r in m_rows) == dict.fromkeys(mafw.CLASSES, 30)
    assert set(Counter((r[2], r[1]) for r in m_rows).values()) == {6}
    m_lengths = np.array([r[3].n_frames for r in m_rows])
    assert (m_lengths >= 64).sum() > 10 and (m_lengths < 16).sum() > 5


def test_resting_face_is_independent_of_the_label() -> None:
    clips = [r[3] for r in plan_mafw(0)]
    by_label = Counter((c.emotion, c.rest_emotion) for c in clips)
    for label in {c.emotion for c in clips}:
        rests = {r for (e, r), n in by_label.items() if e == label}
        assert len(rests) >= 6  # many resting faces per label, not one
    assert all(c.rest_emotion != "Neutral" for c in clips)
    assert all(REST_AMPLITUDE[0] <= c.rest_amplitude <= REST_AMPLITUDE[1] for c in clips)
    assert all(APEX_AMPLITUDE[0] <= c.amplitude <= APEX_AMPLITUDE[1] for c in clips)


def test_the_emotion_rises_from_the_resting_face() -> None:
    clip = DynamicClip(0, "Anger", "Happiness", 0.6, 0.9, 30, 6.0, 18.0, 0.8, 0)
    curve = expression_curve(clip)
    assert np.all(curve[:7] == 0.0) and curve[18] == 1.0
    assert np.all(np.diff(curve[6:19]) >= 0) and curve[-1] == pytest.approx(0.8)
    wobble = np.ones(30)
    first, apex = frame_aus(clip, curve, wobble, 0), frame_aus(clip, curve, wobble, 18)
    shown = {au: v for au, v in first.items() if v}
    assert shown == pytest.approx(expression_aus("Happiness", 0.6), abs=0.011)  # rest only
    assert apex["AU4"] == pytest.approx(0.9, abs=0.011)  # anger arrived ...
    assert apex["AU12"] == pytest.approx(0.6, abs=0.011)  # ... on top of the resting smile
    frames = render_clip(clip, np.random.default_rng(0), size=64)
    assert len(frames) == 30 and frames[0].shape == (64, 64, 3)


def _nearest(vectors: np.ndarray, prototypes: np.ndarray) -> np.ndarray:
    unit = prototypes / np.maximum(np.linalg.norm(prototypes, axis=1, keepdims=True), 1e-9)
    scores = vectors @ unit.T
    scores[np.linalg.norm(vectors, axis=1) < 0.05] = 0.0
    return scores.argmax(1)


def test_only_the_change_tells_the_label() -> None:
    """At the level of action units: the label's prototype is the nearest one to the change
    from the first frame in most clips, but to the clip's average face far less often."""
    rows = [r for r in plan_dfew(0) if r[3] is not None]
    names = [prototype(c) for c in dfew.CLASSES]
    protos = np.array([[expression_aus(n, 1.0).get(a, 0.0) for a in AU_NAMES] for n in names])
    mean, change, truth = [], [], []
    for _, _, _, clip in rows:
        curve, wobble = expression_curve(clip), np.ones(clip.n_frames)
        aus = np.array(
            [
                [frame_aus(clip, curve, wobble, k).get(a, 0.0) for a in AU_NAMES]
                for k in range(clip.n_frames)
            ]
        )
        mean.append(aus.mean(0))
        change.append(aus[-3:].mean(0) - aus[0])
        truth.append(names.index(clip.emotion))
    truth = np.array(truth)
    static = (_nearest(np.array(mean), protos) == truth).mean()
    dynamic = (_nearest(np.array(change), protos) == truth).mean()
    print(f"nearest prototype: average face {static:.2f}, change {dynamic:.2f}")
    assert dynamic >= 0.75 and static <= 0.55 and dynamic - static >= 0.3, (static, dynamic)


def test_secondary_prototypes() -> None:
    assert set(SECONDARY_EMOTION_AUS) == {"Contempt", "Anxiety", "Helplessness", "Disappointment"}
    assert not set(SECONDARY_EMOTION_AUS) & set(EMOTION_AUS)
    everything = {**EMOTION_AUS, **SECONDARY_EMOTION_AUS}
    vectors = {
        name: np.array([aus.get(a, 0.0) for a in AU_NAMES]) for name, aus in everything.items()
    }
    for name in SECONDARY_EMOTION_AUS:
        assert set(everything[name]) <= set(AU_NAMES)
        for other, v in vectors.items():
            if other != name:
                assert np.abs(vectors[name] - v).sum() > 0.5, (name, other)
    assert expression_aus("Contempt", 0.5) == {"AU12": 0.175, "AU23": 0.3}
    assert {prototype(c) for c in mafw.CLASSES} <= set(everything)


def test_background_image() -> None:
    identity = Identity()
    back = np.full((48, 48, 3), 7, np.uint8)
    face = render_face(identity, {}, 48, np.random.default_rng(0), background=back, noise_sd=0)
    assert tuple(face[0, 0]) == (7, 7, 7)
    with pytest.raises(ValueError, match="background"):
        render_face(identity, {}, 32, np.random.default_rng(0), background=back)
