"""Adapter for MAFW (Liu et al., "MAFW: A Large-scale, Multi-modal, Compound Affective Database
for Dynamic Facial Expression Recognition in the Wild", ACM MM 2022), single-label subset:
11 classes, 5-fold cross-validation.

The layout read (read-only; paths relative to ``--src``)::

    data/faces/<stem>/<frame>.jpg | .png           (or data/frames/<stem>/, frames/<stem>/)
    label/no_caption/set_{1..5}/train.txt           (or label/single/no_caption/...,
    label/no_caption/set_{1..5}/test.txt             Train & Test Set/single/no_caption/...)

Each list line is ``<video file> <label>`` (``00025.mp4 anger``), whitespace-separated; the
clip is the file's stem (``00025``; folders in front of the file name are ignored), its
frames are the folder of that name, ordered by the last number in each file name. Labels
(case-insensitive): anger, disgust, fear, happiness, neutral, sadness, surprise, contempt,
anxiety, helplessness, disappointment.

The five folds are checked as DFEW's are (``clip_lists.official_folds``): a clip in the train
and test list of one fold, in two test lists, or missing from a fold is an InputError naming
the list file. Each sample is the clip with label ``emotion`` and annotations ``fold`` and
``n_frames``. MAFW names no actor per clip, so the **subject is the clip stem**. An unknown
label, a missing frame folder or unnumbered frame names are listed skips; frame folders no
list names (multi-label or caption-only clips) are counted in ``excluded``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path, PurePosixPath

from emobench.datasets.clip_lists import (
    PARTITIONS,
    ClipListAdapter,
    ListedClip,
    check_unique,
    find_dir,
    first_labels,
    frames_sample,
    official_folds,
    read_space_list,
    unlisted_folders,
)
from emobench.datasets.coding_sheet import canonical_emotion, emotion_vocabulary
from emobench.datasets.registry import register_dataset
from emobench.datasets.sample import Sample, Skip, unique_skips
from emobench.errors import InputError

CLASSES: tuple[str, ...] = (
    "anger",
    "disgust",
    "fear",
    "happiness",
    "neutral",
    "sadness",
    "surprise",
    "contempt",
    "anxiety",
    "helplessness",
    "disappointment",
)
FOLDS: tuple[int, ...] = (1, 2, 3, 4, 5)
FRAME_ROOTS: tuple[str, ...] = ("data/faces", "data/frames", "frames")
LIST_ROOTS: tuple[str, ...] = (
    "label/no_caption",
    "label/single/no_caption",
    "Train & Test Set/single/no_caption",
)

EXCLUDED_UNLISTED = "frame folder in no list (not single-labelled)"

_VOCABULARY = emotion_vocabulary(CLASSES)


def clip_stem(entry: ListedClip) -> ListedClip:
    """The entry with its clip as the video file's stem (``clips/00025.mp4`` → ``00025``)."""
    return replace(entry, clip=PurePosixPath(entry.clip).stem)


@register_dataset("mafw")
class MafwAdapter(ClipListAdapter):
    """Reads the MAFW single-label release into Sample records and a list of skips."""

    folder = "raw MAFW folder"

    def frames_root(self) -> Path:
        found = find_dir(self.root, FRAME_ROOTS)
        if found is None:
            raise InputError(self.root / FRAME_ROOTS[0], "frame folder not found")
        return found

    def list_files(self) -> dict[tuple[str, int], Path]:
        base = find_dir(self.root, LIST_ROOTS)
        if base is None:
            raise InputError(self.root / LIST_ROOTS[0], "split-list folder not found")
        return {(part, k): base / f"set_{k}" / f"{part}.txt" for part in PARTITIONS for k in FOLDS}

    def scan(self) -> tuple[list[Sample], list[Skip]]:
        frames = self.frames_root()
        files = self.list_files()
        self._list_files = [files[key] for key in sorted(files)]
        lists = {}
        for key, path in files.items():
            lists[key] = [clip_stem(e) for e in read_space_list(path, self.root)]
            check_unique(lists[key], path)
        train = {k: lists["train", k] for k in FOLDS}
        test = {k: lists["test", k] for k in FOLDS}
        fold_of = official_folds(train, test, files)
        clips = first_labels([test[k] for k in FOLDS] + [train[k] for k in FOLDS])
        self.excluded.clear()
        samples: list[Sample] = []
        skips: list[Skip] = []
        for clip, entry in sorted(clips.items()):
            emotion = canonical_emotion(entry.label, _VOCABULARY)
            if emotion is None:
                skips.append(
                    Skip(
                        clip,
                        entry.path,
                        f"line {entry.line}: unknown label {entry.label!r} "
                        f"(known: {', '.join(CLASSES)})",
                    )
                )
                continue
            found = frames_sample(
                self.root,
                clip,
                clip,
                "mafw",
                frames / clip,
                {"emotion": emotion},
                {"fold": fold_of[clip]},
            )
            (samples if isinstance(found, Sample) else skips).append(found)
        unlisted = unlisted_folders(frames, {frames / c for c in clips})
        if unlisted:
            self.excluded[EXCLUDED_UNLISTED] = unlisted
        return samples, unique_skips(skips)
