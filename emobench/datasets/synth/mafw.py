"""MAFW miniature: 330 single-labelled clips (11 classes × 30) in 5 folds, written in the
release layout (the world is ``dynamic_fer``; contempt, anxiety, helplessness and
disappointment use the renderer's ``SECONDARY_EMOTION_AUS``).

Layout written (read by ``emobench.datasets.mafw``)::

    data/faces/<05d stem>/<n>.jpg                  12–72 frames, 112 px
    label/no_caption/set_{1..5}/train.txt          "<stem>.mp4 <label>"
    label/no_caption/set_{1..5}/test.txt

Clip lengths reach past 64 frames for some clips, so the 32-frames-at-stride-2 sampling
(``protocols/dfew/mafw-32x2.toml``) sees both centred windows and padded short clips. Folds
are stratified: each tests 6 clips of every class (dealt round-robin, each class starting at
another fold); its training list holds the others.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from emobench.datasets.mafw import CLASSES, FOLDS, FRAME_ROOTS, LIST_ROOTS
from emobench.datasets.registry import register_synth
from emobench.datasets.synth.dynamic_fer import (
    balanced_labels,
    clip_rng,
    finish_output,
    plan_clip,
    start_output,
    write_clip,
)

PER_CLASS = 30
LENGTHS = (12, 72)
MAX_ID = 10045
_PLAN, _CLIP = 30, 31  # seed streams


def plan_mafw(seed: int = 0, per_class: int = PER_CLASS) -> list:
    """(stem, label, fold, DynamicClip) per clip, in stem order."""
    rng = np.random.default_rng([seed, _PLAN])
    labels = balanced_labels(rng, CLASSES, per_class)
    stems = sorted(int(i) + 1 for i in rng.choice(MAX_ID, len(labels), replace=False))
    stems = [stems[int(i)] for i in rng.permutation(len(stems))]
    rows, seen = [], {}
    for index, (stem, label) in enumerate(zip(stems, labels, strict=True)):
        fold = FOLDS[(seen.get(label, 0) + CLASSES.index(label)) % len(FOLDS)]
        seen[label] = seen.get(label, 0) + 1
        clip = plan_clip(rng, index, label, CLASSES, LENGTHS, int(rng.integers(0, 6)))
        rows.append((f"{stem:05d}", label, fold, clip))
    return sorted(rows, key=lambda r: r[0])


@register_synth("mafw")
def write_mafw_miniature(
    out: Path,
    *,
    seed: int = 0,
    per_class: int = PER_CLASS,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write the MAFW miniature under ``out`` (which must not exist or be empty)."""
    out = Path(out)
    rows = plan_mafw(seed, per_class)
    staging = start_output(out)
    for done, (stem, _, _, clip) in enumerate(rows, start=1):
        rng = clip_rng(seed, _CLIP, clip.index)
        write_clip(staging / FRAME_ROOTS[0] / stem, clip, rng, lambda n: f"{n}.jpg")
        if progress is not None:
            progress(done, len(rows))
    for k in FOLDS:
        folder = staging / LIST_ROOTS[0] / f"set_{k}"
        folder.mkdir(parents=True)
        for part, tested in (("train", False), ("test", True)):
            lines = [
                f"{stem}.mp4 {label}" for stem, label, fold, _ in rows if (fold == k) == tested
            ]
            (folder / f"{part}.txt").write_text(
                "\n".join(lines) + "\n", encoding="utf-8", newline="\n"
            )
    files = finish_output(staging, out)
    return {
        "dataset": "mafw",
        "out": str(out),
        "seed": seed,
        "n_samples": len(rows),
        "n_short_clips": sum(r[3].n_frames < 16 for r in rows),
        "n_long_clips": sum(r[3].n_frames >= 64 for r in rows),
        "n_frames": sum(r[3].n_frames for r in rows),
        "n_files": len(files),
        "files": files,
    }
