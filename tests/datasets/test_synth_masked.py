"""The masked-expression miniature: layout, byte-identical per seed, design, and its signal."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from emobench.datasets.masked import CLASSES, MaskedAdapter
from emobench.datasets.registry import dataset_names, get_synth
from emobench.datasets.synth.face_renderer import EMOTION_AUS, Identity
from emobench.datasets.synth.masked import (
    COMBINATIONS,
    LEAKY_AUS,
    N_FRAMES,
    POSED_LEAKY,
    SHEET_COLUMNS,
    MaskedClip,
    clip_curves,
    frame_aus,
    plan_masked_clips,
    write_masked_miniature,
)
from emobench.errors import InputError

SUBJECTS = 3  # the fewest that cover all 36 combinations


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _rows(root: Path) -> list[dict[str, str]]:
    with (root / "coding.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def worlds(tmp_path_factory) -> dict[str, tuple[Path, dict, list]]:
    base = tmp_path_factory.mktemp("masked-synth")
    out = {}
    for name in ("a", "b"):
        calls: list[tuple[int, int]] = []
        root = base / name / "raw"
        summary = write_masked_miniature(
            root, seed=0, subjects=SUBJECTS, progress=lambda d, t, c=calls: c.append((d, t))
        )
        out[name] = (root, summary, calls)
    return out


def test_registered() -> None:
    assert "masked" in dataset_names()
    assert get_synth("masked") is write_masked_miniature


def test_layout_is_written(worlds) -> None:
    root, summary, calls = worlds["a"]
    rows = _rows(root)
    assert list(rows[0]) == list(SHEET_COLUMNS)
    assert len(rows) == summary["n_samples"] == 12 * SUBJECTS
    assert calls == [(i, len(rows)) for i in range(1, len(rows) + 1)]
    for row in rows:
        folder = root / row["Subject"] / row["Clip"]
        names = sorted(p.name for p in folder.iterdir())
        assert names == sorted(f"img{n}.jpg" for n in range(1, N_FRAMES + 1))
        assert 3 <= int(row["OnsetFrame"]) <= 5
        assert 13 <= int(row["ApexFrame"]) <= 17
        assert 20 <= int(row["OffsetFrame"]) <= 23
    image = cv2.imread(str(root / rows[0]["Subject"] / rows[0]["Clip"] / "img1.jpg"))
    assert image.shape == (96, 96, 3)
    assert sorted(_digests(root)) == summary["files"]
    assert not list(root.parent.glob(".*partial*"))


def test_same_seed_gives_identical_bytes(worlds) -> None:
    assert _digests(worlds["a"][0]) == _digests(worlds["b"][0])


def test_other_seed_differs(worlds, tmp_path) -> None:
    root = tmp_path / "raw"
    write_masked_miniature(root, seed=1, subjects=1)
    seed0, seed1 = _digests(worlds["a"][0]), _digests(root)
    common = [name for name in seed1 if name.endswith(".jpg") and name in seed0]
    assert len(common) == 12 * N_FRAMES
    assert all(seed0[name] != seed1[name] for name in common)
    assert _rows(root) != _rows(worlds["a"][0])[:12]


def test_all_combinations_and_balance(worlds) -> None:
    rows = _rows(worlds["a"][0])
    assert {(r["TrueEmotion"], r["Expression"]) for r in rows} == set(COMBINATIONS)
    assert len(COMBINATIONS) == 36


def test_default_design_counts() -> None:
    clips = plan_masked_clips(seed=0, subjects=24)
    assert len(clips) == 24 * 12
    per_combination = Counter((c.true_emotion, c.expression) for c in clips)
    assert set(per_combination) == set(COMBINATIONS)
    assert min(per_combination.values()) >= 8
    subjects_per_combination = {
        pair: len({c.subject for c in clips if (c.true_emotion, c.expression) == pair})
        for pair in COMBINATIONS
    }
    assert min(subjects_per_combination.values()) >= 8
    for subject in range(1, 25):
        mine = [c for c in clips if c.subject == subject]
        assert len(mine) == 12
        assert Counter(c.true_emotion for c in mine) == dict.fromkeys(CLASSES, 2)
        assert len({c.clip_name for c in mine}) == 12


def test_adapter_reads_the_miniature(worlds) -> None:
    samples, skips = MaskedAdapter(worlds["a"][0]).scan()
    assert skips == []
    assert len(samples) == 12 * SUBJECTS
    assert {s.subject for s in samples} == {f"sub{n:02d}" for n in range(1, SUBJECTS + 1)}
    assert all(s.annotations["n_frames"] == N_FRAMES for s in samples)


def test_refuses_a_non_empty_out(tmp_path) -> None:
    (tmp_path / "x").write_text("keep me")
    with pytest.raises(InputError, match="not empty"):
        write_masked_miniature(tmp_path, subjects=1)


def test_leak_then_display_with_an_upper_face_trace() -> None:
    clip = MaskedClip(1, 1, "Happiness", "Sadness", onset=4, apex=15, offset=21, leak_share=0.8)
    curves = clip_curves(clip)
    display = curves["display"]
    assert int(np.argmax(display)) + 1 == clip.apex and display[clip.apex - 1] == 1.0
    assert np.all(display[: clip.onset] == 0) and np.all(display[clip.offset - 1 :] == 0)
    leak = curves["leak"]
    assert int(np.argmax(leak)) + 1 == clip.onset + 2
    assert np.count_nonzero(leak) <= 4
    identity = Identity()
    at_leak = frame_aus(clip, identity, clip.onset + 1, curves, 0.8)
    at_apex = frame_aus(clip, identity, clip.apex - 1, curves, 0.8)
    assert at_leak.get("AU12", 0) > 0.3  # the felt smile shows ...
    assert at_apex.get("AU12", 0) == 0  # ... but not at the apex,
    assert at_apex["AU6"] > 0.2  # where only its cheek raiser (the Duchenne marker) stays
    assert at_apex["AU15"] > 0.5  # the required sad face dominates the lower face,
    # posed: its brow units are under-recruited
    assert at_apex["AU1"] <= POSED_LEAKY * EMOTION_AUS["Sadness"]["AU1"] + 1e-9
    fear = MaskedClip(1, 1, "Fear", "Happiness", onset=4, apex=15, offset=21, leak_share=0.8)
    apex_aus = frame_aus(fear, identity, fear.apex - 1, clip_curves(fear), 0.8)
    felt = {au for au, v in apex_aus.items() if v > 0} - {"AU6", "AU12"}
    assert felt and felt <= set(LEAKY_AUS)  # the felt fear stays in the upper face only
    assert apex_aus["AU12"] > 0.5 and apex_aus["AU6"] <= POSED_LEAKY * 0.9 + 1e-9  # posed smile


def test_largest_change_from_the_onset_is_at_the_apex(worlds) -> None:
    """A motion-based spotter finds the annotated apex within ±2 frames in >= 90 % of clips."""
    root = worlds["a"][0]
    rows = _rows(root)
    hits = 0
    for row in rows:
        folder = root / row["Subject"] / row["Clip"]
        frames = [
            cv2.imread(str(folder / f"img{n}.jpg"), cv2.IMREAD_GRAYSCALE).astype(np.float32)
            for n in range(1, N_FRAMES + 1)
        ]
        h, w = frames[0].shape
        face = (slice(int(0.2 * h), int(0.85 * h)), slice(int(0.2 * w), int(0.8 * w)))
        onset = frames[int(row["OnsetFrame"]) - 1][face]
        change = [float(np.abs(f[face] - onset).mean()) for f in frames]
        found = int(np.argmax(change)) + 1
        hits += abs(found - int(row["ApexFrame"])) <= 2
    assert hits / len(rows) >= 0.9
