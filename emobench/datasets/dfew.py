"""Adapter for DFEW (Jiang et al., "DFEW: A Large-Scale Database for Recognizing Dynamic Facial
Expressions in the Wild", ACM MM 2020): 16,372 movie clips, 7 classes, 5-fold cross-validation
over the 12,059 single-labelled clips.

Three layouts are read (read-only; paths relative to ``--src``), detected in this order or
chosen with ``layout=`` (``emobench prepare dfew --layout ...``):

``data_affine`` — the official release as its repository's README shows it::

    data_affine/single_label/data/<05d id>/<05d id>_<05d frame>.jpg
    data_affine/single_label/label/single_trainset_{1..5}.csv
    data_affine/single_label/label/single_testset_{1..5}.csv

(``--src`` may also be the ``single_label`` folder itself.)

``clip_224x224_16f`` — the time-interpolated 16-frame release most DFER code uses, and
``clip_224x224`` — the same faces without time interpolation::

    Clip/clip_224x224_16f/<05d id>/<frame>.jpg          (or Clip/clip_224x224/...)
    EmoLabel_DataSplit/train(single_labeled)/set_{1..5}.csv
    EmoLabel_DataSplit/test(single_labeled)/set_{1..5}.csv

The split folders are matched ignoring case and punctuation, so ``train(single-labeled)``,
``train_single-labeled``, ``training_single-labeled`` and plain ``train`` are all accepted
(``test...`` alike).

Every CSV has a header with the columns ``video_name`` (the clip number, zero-padded to 5
digits on disk; ``1``, ``00001`` and ``00001.mp4`` all name clip ``00001``) and ``label``
(1 Happy, 2 Sad, 3 Neutral, 4 Angry, 5 Surprise, 6 Disgust, 7 Fear; 0 = not single-labelled).
Frames are ordered by the last number in their file name (``00001_00012.jpg`` → 12,
``12.jpg`` → 12).

Fold ``k`` tests the clips of its test list. The lists must partition the clips: in every
fold train ∩ test is empty (a clip in both is an InputError naming the file and clip), and
train ∪ test is the same set of clips in every fold; a clip's label must agree across lists.
Each sample is the clip (``id`` = its 5-digit number) with label ``emotion`` and annotations
``fold`` (the fold that tests it) and ``n_frames``. DFEW clips come from thousands of movies
and carry no actor identity, so the **subject is the clip id**: validation is grouped by clip.

Label 0 rows are left out and counted (``excluded``), as are frame folders no list names
(the release's non-single-labelled clips); neither is a skip. A label outside 0..7, a missing
frame folder, or frame names without a number are listed skips.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from emobench.datasets.clip_lists import (
    PARTITIONS,
    ClipListAdapter,
    ListedClip,
    check_unique,
    child_by_name,
    first_labels,
    frames_sample,
    official_folds,
    parse_int,
    read_csv_list,
    relative_clip_path,
    unlisted_folders,
)
from emobench.datasets.registry import register_dataset
from emobench.datasets.sample import Sample, Skip, unique_skips
from emobench.errors import EmobenchError, InputError

CLASSES: tuple[str, ...] = ("Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear")
"""Class names in label-id order: label ``k`` is ``CLASSES[k - 1]``."""
NOT_SINGLE_LABELLED = 0
FOLDS: tuple[int, ...] = (1, 2, 3, 4, 5)
CLIP_COLUMN, LABEL_COLUMN = "video_name", "label"

AFFINE_BASES: tuple[str, ...] = ("data_affine/single_label", ".")
SPLIT_ROOT = "EmoLabel_DataSplit"
SPLIT_DIRS: dict[str, tuple[str, ...]] = {
    "train": ("train(single_labeled)", "training(single_labeled)", "train", "training"),
    "test": ("test(single_labeled)", "test"),
}
CLIP_LAYOUTS: dict[str, str] = {
    "clip_224x224_16f": "Clip/clip_224x224_16f",
    "clip_224x224": "Clip/clip_224x224",
}
LAYOUTS: tuple[str, ...] = ("data_affine", *CLIP_LAYOUTS)

EXCLUDED_LABEL_0 = "label 0 (not single-labelled)"
EXCLUDED_UNLISTED = "frame folder in no split list (not single-labelled)"

_CLIP = re.compile(r"0*(\d+)(?:\.(?:mp4|avi))?", re.IGNORECASE)


@dataclass(frozen=True)
class DfewFiles:
    """Where one layout keeps its frame folders and its ten split lists."""

    layout: str
    frames: Path
    lists: dict[tuple[str, int], Path]  # (partition, fold) → CSV


def clip_number(entry: ListedClip, path: Path) -> str:
    """The 5-digit folder name of a ``video_name`` cell, or an InputError naming the line."""
    text = relative_clip_path(entry.clip, path, entry.line)
    match = _CLIP.fullmatch(text)
    if not match:
        raise InputError(
            path, f"line {entry.line}: {CLIP_COLUMN} {entry.clip!r} is not a clip number"
        )
    return f"{int(match.group(1)):05d}"


@register_dataset("dfew")
class DfewAdapter(ClipListAdapter):
    """Reads a DFEW release (any of ``LAYOUTS``) into Sample records and a list of skips."""

    folder = "raw DFEW folder"
    layouts = LAYOUTS

    def __init__(self, root: str | Path, layout: str | None = None):
        super().__init__(root)
        if layout is not None and layout not in LAYOUTS:
            raise EmobenchError(f"unknown DFEW layout {layout!r}; known: {', '.join(LAYOUTS)}")
        self.layout = layout

    # ---- layouts ------------------------------------------------------------------------
    def _affine(self) -> DfewFiles | None:
        for base in AFFINE_BASES:
            label = self.root / base / "label"
            if (self.root / base / "data").is_dir() and label.is_dir():
                lists = {
                    (part, k): label / f"single_{part}set_{k}.csv"
                    for part in PARTITIONS
                    for k in FOLDS
                }
                return DfewFiles("data_affine", self.root / base / "data", lists)
        return None

    def _clips(self, layout: str) -> DfewFiles | None:
        frames = self.root / CLIP_LAYOUTS[layout]
        split = self.root / SPLIT_ROOT
        dirs = {part: child_by_name(split, SPLIT_DIRS[part]) for part in PARTITIONS}
        if not frames.is_dir() or any(d is None for d in dirs.values()):
            return None
        lists = {(part, k): dirs[part] / f"set_{k}.csv" for part in PARTITIONS for k in FOLDS}
        return DfewFiles(layout, frames, lists)

    def files(self) -> DfewFiles:
        """The chosen (or the first present) layout's frame root and split lists."""
        for layout in [self.layout] if self.layout else LAYOUTS:
            found = self._affine() if layout == "data_affine" else self._clips(layout)
            if found is not None:
                return found
        if self.layout == "data_affine":
            raise InputError(
                self.root / AFFINE_BASES[0],
                "layout data_affine: no data/ and label/ folders found here",
            )
        if self.layout:
            raise InputError(
                self.root,
                f"layout {self.layout}: expected {CLIP_LAYOUTS[self.layout]}/ and "
                f"{SPLIT_ROOT}/train(single_labeled)/ + test(single_labeled)/",
            )
        raise InputError(
            self.root,
            "no DFEW layout found: expected data_affine/single_label/{data,label}/ (the "
            f"official release) or Clip/clip_224x224_16f/ with {SPLIT_ROOT}/"
            "{train,test}(single_labeled)/set_<k>.csv",
        )

    # ---- scanning -----------------------------------------------------------------------
    def read_lists(self, files: DfewFiles) -> dict[tuple[str, int], list[ListedClip]]:
        lists = {}
        for key, path in files.lists.items():
            entries = read_csv_list(path, self.root, CLIP_COLUMN, LABEL_COLUMN)
            entries = [replace(e, clip=clip_number(e, path)) for e in entries]
            check_unique(entries, path)
            lists[key] = entries
        return lists

    def scan(self) -> tuple[list[Sample], list[Skip]]:
        files = self.files()
        self.layout_found = files.layout
        self._list_files = [files.lists[key] for key in sorted(files.lists)]
        lists = self.read_lists(files)
        train = {k: lists["train", k] for k in FOLDS}
        test = {k: lists["test", k] for k in FOLDS}
        fold_of = official_folds(train, test, files.lists)
        clips = first_labels([test[k] for k in FOLDS] + [train[k] for k in FOLDS])
        self.excluded.clear()
        samples: list[Sample] = []
        skips: list[Skip] = []
        for clip, entry in sorted(clips.items()):
            label = parse_int(entry.label)
            if label == NOT_SINGLE_LABELLED:
                self.excluded[EXCLUDED_LABEL_0] += 1
                continue
            if label is None or not 1 <= label <= len(CLASSES):
                known = ", ".join(f"{i} {c}" for i, c in enumerate(CLASSES, start=1))
                skips.append(
                    Skip(
                        clip,
                        entry.path,
                        f"line {entry.line}: label {entry.label!r} is not a DFEW class "
                        f"({known}; 0 = not single-labelled)",
                    )
                )
                continue
            found = frames_sample(
                self.root,
                clip,
                clip,
                "dfew",
                files.frames / clip,
                {"emotion": CLASSES[label - 1]},
                {"fold": fold_of[clip]},
            )
            (samples if isinstance(found, Sample) else skips).append(found)
        unlisted = unlisted_folders(files.frames, {files.frames / c for c in clips})
        if unlisted:
            self.excluded[EXCLUDED_UNLISTED] = unlisted
        return samples, unique_skips(skips)
