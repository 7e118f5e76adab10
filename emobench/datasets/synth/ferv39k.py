"""FERV39k miniature: 280 clips (4 scenes × 7 classes × 10), 8 train and 2 test clips per
scene and class (a fifth tested, at least one), written in the release layout (the world is
``dynamic_fer``).

Layout written (read by ``emobench.datasets.ferv39k``)::

    2_ClipsforFaceCrop/<Scene>/<Class>/<4-digit clip>/<n>.jpg   10–40 frames, 112 px
    All_scenes/train_All.csv                                      "<Scene>/<Class>/<clip> <Class>"
    All_scenes/test_All.csv

The scene names are invented stand-ins for FERV39k's 22 scenes; each scene has its own
background palette (the clip's *context*), which carries no emotion.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from emobench.datasets.ferv39k import CLASSES, FRAME_ROOTS, LIST_FILES, LIST_ROOTS
from emobench.datasets.registry import register_synth
from emobench.datasets.synth.dynamic_fer import (
    clip_rng,
    finish_output,
    plan_clip,
    start_output,
    write_clip,
)
from emobench.errors import EmobenchError

SCENES: tuple[str, ...] = ("Action", "Crime", "Daily", "Interview")
PER_SCENE_CLASS = 10
LENGTHS = (10, 40)
_PLAN, _CLIP = 20, 21  # seed streams


def plan_ferv39k(
    seed: int = 0, per_scene_class: int = PER_SCENE_CLASS, scenes: int = len(SCENES)
) -> list:
    """(clip folder, class, partition, DynamicClip) per clip, in folder order."""
    if per_scene_class < 2 or not 1 <= scenes <= len(SCENES):
        raise EmobenchError(
            f"the FERV39k miniature needs at least 2 clips per scene and class and 1..{len(SCENES)}"
            f" scenes, got {per_scene_class} and {scenes}"
        )
    rng = np.random.default_rng([seed, _PLAN])
    n_test = max(1, per_scene_class // 5)
    rows = []
    index = 0
    for s, scene in enumerate(SCENES[:scenes]):
        for label in CLASSES:
            numbers = sorted(int(i) + 1 for i in rng.choice(999, per_scene_class, replace=False))
            tested = set(rng.choice(per_scene_class, n_test, replace=False).tolist())
            for j, number in enumerate(numbers):
                clip = plan_clip(rng, index, label, CLASSES, LENGTHS, s)
                part = "test" if j in tested else "train"
                rows.append((f"{scene}/{label}/{number:04d}", label, part, clip))
                index += 1
    return rows


@register_synth("ferv39k")
def write_ferv39k_miniature(
    out: Path,
    *,
    seed: int = 0,
    per_scene_class: int = PER_SCENE_CLASS,
    scenes: int = len(SCENES),
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write the FERV39k miniature under ``out`` (which must not exist or be empty)."""
    out = Path(out)
    rows = plan_ferv39k(seed, per_scene_class, scenes)
    staging = start_output(out)
    frames_root = staging / FRAME_ROOTS[-1]
    for done, (folder, _, _, clip) in enumerate(rows, start=1):
        rng = clip_rng(seed, _CLIP, clip.index)
        write_clip(frames_root / folder, clip, rng, lambda n: f"{n}.jpg")
        if progress is not None:
            progress(done, len(rows))
    lists = staging / LIST_ROOTS[0]
    lists.mkdir(parents=True)
    for part, name in LIST_FILES.items():
        lines = [f"{folder} {label}" for folder, label, p, _ in rows if p == part]
        (lists / name).write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    files = finish_output(staging, out)
    return {
        "dataset": "ferv39k",
        "out": str(out),
        "seed": seed,
        "n_samples": len(rows),
        "n_train": sum(r[2] == "train" for r in rows),
        "n_test": sum(r[2] == "test" for r in rows),
        "n_short_clips": sum(r[3].n_frames < 16 for r in rows),
        "n_frames": sum(r[3].n_frames for r in rows),
        "n_files": len(files),
        "files": files,
    }
