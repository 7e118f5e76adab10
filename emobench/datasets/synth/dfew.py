"""DFEW miniature: 280 single-labelled clips (40 per class) and 20 label-0 rows in 5 folds,
written in the official release layout (the world is ``dynamic_fer``).

Layout written (read by ``emobench.datasets.dfew``)::

    data_affine/single_label/data/<05d id>/<05d id>_<05d frame>.jpg   10–40 frames, 112 px
    data_affine/single_label/label/single_trainset_{1..5}.csv         video_name,label
    data_affine/single_label/label/single_testset_{1..5}.csv

or, with ``layout="clip_224x224_16f"``, the time-interpolated release: every clip resampled
to 16 frames ``Clip/clip_224x224_16f/<05d id>/{1..16}.jpg`` and the lists in
``EmoLabel_DataSplit/{train,test}(single_labeled)/set_{1..5}.csv``.

Clip ids are distinct numbers drawn from 1..16372 (the real id range). Folds are stratified:
each fold tests 8 clips of every class and 4 label-0 rows (classes dealt round-robin, each
class starting at another fold), and its training list holds every other row. Label-0 rows
(not single-labelled) have no frame folder; the adapter counts them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from emobench.datasets.dfew import CLASSES, CLIP_LAYOUTS, FOLDS, NOT_SINGLE_LABELLED
from emobench.datasets.registry import register_synth
from emobench.datasets.synth.dynamic_fer import (
    balanced_labels,
    clip_rng,
    finish_output,
    plan_clip,
    start_output,
    write_clip,
)
from emobench.errors import EmobenchError

PER_CLASS = 40
LABEL_0_ROWS = 20
LENGTHS = (10, 40)
TIM_FRAMES = 16
MAX_ID = 16372
LAYOUT_DIRS: dict[str, tuple[str, str, str]] = {
    # layout: (frames root, train list pattern, test list pattern)
    "data_affine": (
        "data_affine/single_label/data",
        "data_affine/single_label/label/single_trainset_{k}.csv",
        "data_affine/single_label/label/single_testset_{k}.csv",
    ),
    "clip_224x224_16f": (
        CLIP_LAYOUTS["clip_224x224_16f"],
        "EmoLabel_DataSplit/train(single_labeled)/set_{k}.csv",
        "EmoLabel_DataSplit/test(single_labeled)/set_{k}.csv",
    ),
}
_PLAN, _CLIP = 10, 11  # seed streams


def plan_dfew(seed: int = 0, per_class: int = PER_CLASS, label_0: int = LABEL_0_ROWS) -> list:
    """(id, label number, fold, DynamicClip or None for label 0) per row, in id order."""
    rng = np.random.default_rng([seed, _PLAN])
    labels = balanced_labels(rng, range(1, len(CLASSES) + 1), per_class)
    labels += [NOT_SINGLE_LABELLED] * label_0
    ids = sorted(int(i) + 1 for i in rng.choice(MAX_ID, len(labels), replace=False))
    ids = [ids[int(i)] for i in rng.permutation(len(ids))]
    rows, seen = [], {}
    for index, (clip_id, label) in enumerate(zip(ids, labels, strict=True)):
        fold = FOLDS[(seen.get(label, 0) + label) % len(FOLDS)]  # rotated: small worlds fill all
        seen[label] = seen.get(label, 0) + 1
        clip = None
        if label != NOT_SINGLE_LABELLED:
            clip = plan_clip(
                rng, index, CLASSES[label - 1], CLASSES, LENGTHS, int(rng.integers(0, 6))
            )
        rows.append((f"{clip_id:05d}", label, fold, clip))
    return sorted(rows, key=lambda r: r[0])


@register_synth("dfew")
def write_dfew_miniature(
    out: Path,
    *,
    seed: int = 0,
    per_class: int = PER_CLASS,
    label_0: int = LABEL_0_ROWS,
    layout: str = "data_affine",
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write the DFEW miniature under ``out`` (which must not exist or be empty)."""
    if layout not in LAYOUT_DIRS:
        raise EmobenchError(f"unknown DFEW miniature layout {layout!r}; known: {list(LAYOUT_DIRS)}")
    out = Path(out)
    rows = plan_dfew(seed, per_class, label_0)
    staging = start_output(out)
    frames_dir, train_pattern, test_pattern = LAYOUT_DIRS[layout]
    clips = [r for r in rows if r[3] is not None]
    padded = 0
    for done, (clip_id, _, _, clip) in enumerate(clips, start=1):
        rng = clip_rng(seed, _CLIP, clip.index)
        folder = staging / frames_dir / clip_id
        if layout == "data_affine":
            write_clip(folder, clip, rng, lambda n, c=clip_id: f"{c}_{n:05d}.jpg")
        else:
            keep = np.round(np.linspace(0, clip.n_frames - 1, TIM_FRAMES)).astype(int)
            write_clip(folder, clip, rng, lambda n: f"{n}.jpg", keep.tolist())
        padded += clip.n_frames < TIM_FRAMES
        if progress is not None:
            progress(done, len(clips))
    for k in FOLDS:
        for pattern, part in ((train_pattern, False), (test_pattern, True)):
            path = staging / pattern.format(k=k)
            path.parent.mkdir(parents=True, exist_ok=True)
            lines = ["video_name,label"] + [
                f"{int(clip_id)},{label}" for clip_id, label, fold, _ in rows if (fold == k) == part
            ]
            path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    files = finish_output(staging, out)
    return {
        "dataset": "dfew",
        "layout": layout,
        "out": str(out),
        "seed": seed,
        "n_samples": len(clips),
        "n_label_0_rows": len(rows) - len(clips),
        "n_short_clips": padded,
        "n_frames": sum(c.n_frames for *_, c in clips),
        "n_files": len(files),
        "files": files,
    }
