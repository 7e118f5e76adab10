"""What adapters of clip-list releases share (DFEW, FERV39k, MAFW).

Such a release is a folder of frame folders, one per clip (``<clip>/<frame>.jpg``), beside
plain list files that name each clip and its label: CSV files with a header (DFEW) or
whitespace-separated ``<clip> <label>`` lines (FERV39k, MAFW), one list per partition
(train / test) and, for cross-validated datasets, per fold. This module reads the lists
read-only, turns the official folds into one test fold per clip (checking that they
partition the clips), checks the frame folders, and counts what a release leaves out by
design (``excluded``) apart from what is broken (listed ``Skip``).

Paths in a list are relative to a folder the adapter names; an absolute path, or one that
climbs out with ``..``, is an InputError naming the list file and line — split files with
absolute paths are a known pitfall of this field's code, and emobench never follows them.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from emobench.datasets.coding_sheet import list_numbered_frames, normalise_header
from emobench.datasets.sample import Sample, Skip
from emobench.errors import InputError

PARTITIONS: tuple[str, ...] = ("train", "test")


@dataclass(frozen=True)
class ListedClip:
    """One line of a list file: the clip as the list names it, its label cell as written, and
    where it was read (``path`` relative to the raw root, ``line`` 1-based)."""

    clip: str
    label: str
    path: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}, line {self.line}"


# A Windows drive and root (``C:/``, after backslashes became slashes): absolute on Windows.
_WINDOWS_ROOT = re.compile(r"[A-Za-z]:/")


def relative_clip_path(text: str, list_file: Path, line: int) -> str:
    """``text`` as a relative POSIX path; an absolute path or ``..`` is an InputError.

    String operations, not pathlib: a release lists every clip in several files (DFEW: in
    the lists of all five folds), and four path objects per row were much of the scan that
    runs before any prepare worker starts (figures in CHANGELOG)."""
    text = text.strip().replace("\\", "/")
    if text.startswith("/") or _WINDOWS_ROOT.match(text):
        raise InputError(
            list_file,
            f"line {line}: absolute path {text!r}; list files must name clips relative to the "
            "dataset folder",
        )
    parts = [p for p in text.split("/") if p and p != "."]
    if ".." in parts:
        raise InputError(list_file, f"line {line}: path {text!r} leaves the dataset folder")
    return "/".join(parts) or "."


def read_space_list(path: Path, root: Path) -> list[ListedClip]:
    """``<clip path> <label>`` per line (the label is the last whitespace-separated field, so
    clip paths may hold spaces); blank lines and ``#`` comments are ignored. A line without
    both fields, or with an absolute path, is an InputError naming the file and line."""
    if not path.is_file():
        raise InputError(path, "list file not found")
    rel = path.relative_to(root).as_posix()
    entries = []
    text = path.read_text(encoding="utf-8-sig")
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.rsplit(None, 1)
        if len(fields) != 2:
            raise InputError(path, f"line {number}: expected '<clip> <label>', got {line!r}")
        clip = relative_clip_path(fields[0], path, number)
        entries.append(ListedClip(clip, fields[1], rel, number))
    if not entries:
        raise InputError(path, "list file names no clip")
    return entries


def read_csv_list(path: Path, root: Path, clip_column: str, label_column: str) -> list[ListedClip]:
    """A CSV list with a header; the two columns are matched case- and punctuation-
    insensitively (``Video Name`` finds ``video_name``). Line numbers count the header."""
    if not path.is_file():
        raise InputError(path, "list file not found")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except Exception as err:  # pandas raises many types for a bad file
        raise InputError(path, f"cannot read the list ({err})") from err
    by_key = {normalise_header(h): h for h in table.columns}
    found = {}
    for column in (clip_column, label_column):
        header = by_key.get(normalise_header(column))
        if header is None:
            raise InputError(
                path,
                f"missing column {column!r}; the header has: "
                + ", ".join(repr(str(h)) for h in table.columns),
            )
        found[column] = header
    rel = path.relative_to(root).as_posix()
    entries = [
        ListedClip(
            str(row[found[clip_column]]).strip(), str(row[found[label_column]]).strip(), rel, i
        )
        for i, row in enumerate(table.to_dict("records"), start=2)
    ]
    if not entries:
        raise InputError(path, "list file names no clip")
    return entries


def check_unique(entries: Sequence[ListedClip], path: Path) -> None:
    """A clip named twice in one list file is an InputError naming both lines."""
    first: dict[str, ListedClip] = {}
    for entry in entries:
        if entry.clip in first:
            raise InputError(
                path,
                f"line {entry.line}: clip {entry.clip!r} is listed again "
                f"(first on line {first[entry.clip].line})",
            )
        first[entry.clip] = entry


def check_disjoint(
    train: Sequence[ListedClip], test: Sequence[ListedClip], test_file: Path, what: str = ""
) -> None:
    """A clip in both the training and the test list of one split is an InputError naming
    the test list, the clip(s) and the training list."""
    train_clips = {e.clip: e for e in train}
    shared = [e for e in test if e.clip in train_clips]
    if shared:
        shown = ", ".join(repr(e.clip) for e in shared[:5]) + (" ..." if len(shared) > 5 else "")
        raise InputError(
            test_file,
            f"{what}clip(s) {shown} are in this test list (line {shared[0].line}) and in the "
            f"training list {train_clips[shared[0].clip].path} "
            f"(line {train_clips[shared[0].clip].line}); train and test must be disjoint",
        )


def official_folds(
    train: Mapping[int, Sequence[ListedClip]],
    test: Mapping[int, Sequence[ListedClip]],
    files: Mapping[tuple[str, int], Path],
) -> dict[str, int]:
    """Each clip's test fold, from the release's per-fold train and test lists.

    The lists must describe a k-fold cross-validation: in every fold train ∩ test is empty,
    every fold's train ∪ test holds the same clips, and so every clip is in exactly one test
    list. Any departure is an InputError naming the list file and clip(s). ``files`` maps
    (partition, fold) to the list file, for messages."""
    folds = sorted(test)
    for k in folds:
        check_disjoint(train[k], test[k], files["test", k], f"fold {k}: ")
    fold_of: dict[str, int] = {}
    for k in folds:
        for entry in test[k]:
            if entry.clip in fold_of:
                raise InputError(
                    files["test", k],
                    f"line {entry.line}: clip {entry.clip!r} is also in the test list of fold "
                    f"{fold_of[entry.clip]}; each clip must be tested in one fold only",
                )
            fold_of[entry.clip] = k
    everything = set(fold_of)
    for k in folds:
        covered = {e.clip for e in train[k]} | {e.clip for e in test[k]}
        missing, extra = sorted(everything - covered), sorted(covered - everything)
        if missing or extra:
            clip = (missing or extra)[0]
            problem = (
                f"fold {k}'s training and test lists lack clip(s) {missing[:5]} that another "
                "fold tests"
                if missing
                else f"fold {k}'s training list names clip(s) {extra[:5]} that no fold tests"
            )
            raise InputError(
                files["train", k], f"{problem} (e.g. {clip!r}); the folds must partition the clips"
            )
    return fold_of


def first_labels(lists: Iterable[Sequence[ListedClip]]) -> dict[str, ListedClip]:
    """Each clip's first line over all lists; the same clip with two different label cells is
    an InputError naming both places."""
    seen: dict[str, ListedClip] = {}
    for entries in lists:
        for entry in entries:
            before = seen.get(entry.clip)
            if before is None:
                seen[entry.clip] = entry
            elif before.label != entry.label:
                raise InputError(
                    entry.path,
                    f"line {entry.line}: clip {entry.clip!r} has label {entry.label!r} here and "
                    f"{before.label!r} in {before.where}",
                )
    return seen


def find_dir(root: Path, candidates: Sequence[str]) -> Path | None:
    """The first of ``candidates`` (relative to ``root``) that is a folder."""
    for rel in candidates:
        if (root / rel).is_dir():
            return root / rel
    return None


def child_by_name(folder: Path, accepted: Iterable[str]) -> Path | None:
    """The subfolder whose name, ignoring case and punctuation, is one of ``accepted``
    (``train(single_labeled)`` and ``train_single-labeled`` both match ``trainsinglelabeled``)."""
    if not folder.is_dir():
        return None
    keys = {normalise_header(a) for a in accepted}
    for child in sorted(folder.iterdir()):
        if child.is_dir() and normalise_header(child.name) in keys:
            return child
    return None


def frames_sample(
    root: Path,
    sample_id: str,
    subject: str,
    source: str,
    folder: Path,
    labels: Mapping[str, str],
    annotations: Mapping[str, object],
) -> Sample | Skip:
    """The clip of one frame folder as a Sample, or the Skip that says why it cannot be used:
    the folder is missing, holds no image, or has names without a frame number or with one
    number twice (frames are ordered by the last number in their name)."""
    rel = folder.relative_to(root).as_posix()
    if not folder.is_dir():
        return Skip(sample_id, rel, "frame folder not on disk")
    listing = list_numbered_frames(folder)
    problem = listing.problem()
    if problem:
        return Skip(sample_id, rel, problem)
    return Sample(
        sample_id,
        subject,
        source,
        {"face_frames_dir": rel},
        dict(labels),
        {**annotations, "n_frames": len(listing.numbers)},
    )


def unlisted_folders(frames_root: Path, listed: set[Path], depth: int = 1) -> int:
    """How many clip folders ``depth`` levels under ``frames_root`` no list names."""
    pattern = "/".join(["*"] * depth)
    return sum(1 for p in frames_root.glob(pattern) if p.is_dir() and p not in listed)


def parse_int(text: str) -> int | None:
    """``"3"`` or ``"3.0"`` → 3; anything else → None."""
    match = re.fullmatch(r"\s*\+?(\d+)(?:\.0*)?\s*", text)
    return int(match.group(1)) if match else None


def list_digest(root: Path, files: Iterable[Path], samples: Iterable[Sample]) -> str:
    """sha256 over the list files' bytes and every clip folder's path, frame count and size."""
    h = hashlib.sha256()
    for path in files:
        h.update(path.relative_to(root).as_posix().encode() + b"\n")
        h.update(path.read_bytes())
    for sample in samples:
        rel = sample.media["face_frames_dir"]
        with os.scandir(root / rel) as entries:  # file types come with the listing
            sizes = [e.stat().st_size for e in entries if e.is_file()]
        h.update(f"{rel}|{len(sizes)}|{sum(sizes)}\n".encode())
    return h.hexdigest()


class ClipListAdapter:
    """What every clip-list adapter shares: the raw root (read-only), the frame count that
    ``emobench prepare`` samples by default, and the ``excluded`` counts (reason → number of
    clips the release itself leaves out of the task, reported but not skips)."""

    default_frames = 16
    folder = "raw dataset folder"

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(self.root, f"{self.folder} not found")
        self.excluded: Counter[str] = Counter()
        self._list_files: list[Path] = []

    def source_digest(self, samples: list[Sample]) -> str:
        """sha256 over the list files' bytes and every clip folder's path and size."""
        if not self._list_files:
            self.scan()  # type: ignore[attr-defined]  (each subclass defines it)
        return list_digest(self.root, self._list_files, samples)
