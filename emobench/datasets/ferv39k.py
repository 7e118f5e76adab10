"""Adapter for FERV39k (Wang et al., "FERV39k: A Large-Scale Multi-Scene Dataset for Facial
Expression Recognition in Videos", CVPR 2022): 38,935 clips from 4 scenarios / 22 scenes,
7 classes, one fixed train/test split.

The layout read (read-only; paths relative to ``--src``)::

    2_ClipsforFaceCrop/<Scene>/<Class>/<clip>/<frame>.jpg    face-cropped frames
    All_scenes/train_All.csv                                  (or 4_setups/All_scenes/)
    All_scenes/test_All.csv

A doubled ``2_ClipsforFaceCrop/2_ClipsforFaceCrop/`` (as the archive unpacks) is accepted.
Despite the ``.csv`` suffix the lists have no header: one ``<clip folder> <Class>`` per line,
space-separated, the clip folder relative to ``2_ClipsforFaceCrop`` (``Action/Sad/0010
Sad``). Classes: Angry, Disgust, Fear, Happy, Neutral, Sad, Surprise (case-insensitive).
Frames are ordered by the last number in their name.

Each sample is the clip (``id`` = its relative folder) with label ``emotion`` and annotations
``partition`` (``train`` or ``test``), ``scene`` (the first folder) and ``n_frames``. The
release names no actor or source video, so the **subject is the clip folder**. A clip in
both lists is an InputError naming the test list and the clip; an unknown class, a missing
frame folder or unnumbered frame names are listed skips; clip folders neither list names
are counted in ``excluded``.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from emobench.datasets.clip_lists import (
    PARTITIONS,
    ClipListAdapter,
    check_disjoint,
    check_unique,
    find_dir,
    frames_sample,
    read_space_list,
    unlisted_folders,
)
from emobench.datasets.coding_sheet import canonical_emotion, emotion_vocabulary
from emobench.datasets.registry import register_dataset
from emobench.datasets.sample import Sample, Skip, unique_skips
from emobench.errors import InputError

CLASSES: tuple[str, ...] = ("Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")
FRAME_ROOTS: tuple[str, ...] = ("2_ClipsforFaceCrop/2_ClipsforFaceCrop", "2_ClipsforFaceCrop")
LIST_ROOTS: tuple[str, ...] = ("All_scenes", "4_setups/All_scenes")
LIST_FILES: dict[str, str] = {"train": "train_All.csv", "test": "test_All.csv"}
CLIP_DEPTH = 3  # <Scene>/<Class>/<clip>

EXCLUDED_UNLISTED = "clip folder in neither list"

_VOCABULARY = emotion_vocabulary(CLASSES)


@register_dataset("ferv39k")
class Ferv39kAdapter(ClipListAdapter):
    """Reads the FERV39k release layout into Sample records and a list of skips."""

    folder = "raw FERV39k folder"

    def frames_root(self) -> Path:
        found = find_dir(self.root, FRAME_ROOTS)
        if found is None:
            raise InputError(self.root / FRAME_ROOTS[-1], "frame folder not found")
        return found

    def list_files(self) -> dict[str, Path]:
        base = find_dir(self.root, LIST_ROOTS)
        if base is None:
            raise InputError(self.root / LIST_ROOTS[0], "split-list folder not found")
        return {part: base / LIST_FILES[part] for part in PARTITIONS}

    def scan(self) -> tuple[list[Sample], list[Skip]]:
        frames = self.frames_root()
        files = self.list_files()
        self._list_files = [files[part] for part in PARTITIONS]
        lists = {part: read_space_list(files[part], self.root) for part in PARTITIONS}
        for part in PARTITIONS:
            check_unique(lists[part], files[part])
        check_disjoint(lists["train"], lists["test"], files["test"])
        self.excluded.clear()
        samples: list[Sample] = []
        skips: list[Skip] = []
        for part in PARTITIONS:
            for entry in lists[part]:
                emotion = canonical_emotion(entry.label, _VOCABULARY)
                if emotion is None:
                    skips.append(
                        Skip(
                            entry.clip,
                            entry.path,
                            f"line {entry.line}: unknown class {entry.label!r} "
                            f"(known: {', '.join(CLASSES)})",
                        )
                    )
                    continue
                found = frames_sample(
                    self.root,
                    entry.clip,
                    entry.clip,
                    "ferv39k",
                    frames / entry.clip,
                    {"emotion": emotion},
                    {"partition": part, "scene": PurePosixPath(entry.clip).parts[0]},
                )
                (samples if isinstance(found, Sample) else skips).append(found)
        listed = {frames / e.clip for part in PARTITIONS for e in lists[part]}
        unlisted = unlisted_folders(frames, listed, CLIP_DEPTH)
        if unlisted:
            self.excluded[EXCLUDED_UNLISTED] = unlisted
        return samples, unique_skips(skips)
