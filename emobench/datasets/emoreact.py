"""Adapter for EmoReact (Nojavanasghari et al., "EmoReact: A Multimodal Approach and Dataset for
Recognizing Emotional Responses in Children", ICMI 2016): 1102 clips of 63 children reacting
to a topic, 8 binary emotions and a valence per clip, official Train/Validation/Test split.

The release layout (read-only; ``--src`` is the folder ``EmoReact_V_1.0`` or the folder that
holds it)::

    EmoReact_V_1.0/Data/{Train,Validation,Test}/<name>.mp4
    EmoReact_V_1.0/Labels/{train,val,test}_labels.text
    EmoReact_V_1.0/Labels/{Train,Val,Test}_names.txt

A labels file has no header and one line per clip of 9 comma-separated values: Curiosity,
Uncertainty, Excitement, Happiness, Surprise, Disgust, Fear, Frustration (each 0 or 1) and
Valence (the mean of three raters on 1..7). The names file of the same split lists one file
name per line, wrapped in single quotes (``'80sTOYS105_2.mp4'``; double quotes and bare names
are accepted too), **in the order of the label lines**: line k of the names file is the clip
of line k of the labels file. Pairing follows that file order, never the folder listing.
Blank lines at the end of either file are ignored.

What cannot be paired is an InputError (the whole split is unknowable): a names file and a
labels file with different numbers of lines (naming both files and both counts), a blank line
between entries, an entry that is not a ``.mp4`` file name, or a name listed twice. What is
wrong with one clip is a listed skip naming the file and line: a label line without 9 values,
an emotion value other than 0/1, a valence outside 1..7, or a listed video missing from
``Data/<Split>/``.

Each sample is one clip: ``id`` = the video's stem; ``subject`` = the stem without its
trailing ``_<k>`` (``80sTOYS105_2`` → ``80sTOYS105``). The release carries **no child id**:
the stem names the source reaction video a clip was cut from, the closest identity it has, so
grouping by it keeps the clips of one video together (the same child may appear in several
source videos). Media ``person_video`` = ``Data/<Split>/<name>.mp4`` relative to ``--src``
(prefixed with ``EmoReact_V_1.0/`` when ``--src`` is the folder holding it); labels
``curiosity`` … ``frustration`` (int 0/1) and ``valence`` (float); annotation ``partition``
(``train``, ``validation`` or ``test``: the official split).
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

from emobench.datasets.registry import register_dataset
from emobench.datasets.sample import Sample, Skip
from emobench.errors import InputError

RELEASE = "EmoReact_V_1.0"
EMOTIONS: tuple[str, ...] = (
    "curiosity",
    "uncertainty",
    "excitement",
    "happiness",
    "surprise",
    "disgust",
    "fear",
    "frustration",
)
"""Label columns in the order of a label line (valence is the 9th value)."""
VALENCE_RANGE = (1.0, 7.0)
PARTITIONS: tuple[str, ...] = ("train", "validation", "test")
SPLIT_FILES: dict[str, tuple[str, str, str]] = {
    # partition: (video folder under Data/, labels file, names file) under Labels/
    "train": ("Train", "train_labels.text", "Train_names.txt"),
    "validation": ("Validation", "val_labels.text", "Val_names.txt"),
    "test": ("Test", "test_labels.text", "Test_names.txt"),
}
_CLIP_SUFFIX = re.compile(r"_\d+$")


def subject_of(stem: str) -> str:
    """The source video of a clip: its stem without the trailing ``_<k>``."""
    return _CLIP_SUFFIX.sub("", stem)


def _lines(path: Path) -> list[tuple[int, str]]:
    """(1-based line number, stripped text) of every line up to the last non-blank one; a
    blank line before it is an InputError (it would shift the pairing)."""
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(path, f"not UTF-8 text ({err.reason} at byte {err.start})") from err
    lines = [(i, raw.strip()) for i, raw in enumerate(text.splitlines(), start=1)]
    while lines and not lines[-1][1]:
        lines.pop()
    for number, line in lines:
        if not line:
            raise InputError(path, f"line {number} is blank between entries")
    return lines


def _unquote(text: str) -> str:
    while len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1].strip()
    return text


def read_names(path: Path) -> list[tuple[int, str]]:
    """(line number, file name) per entry of a names file, quotes removed."""
    names, seen = [], {}
    for number, line in _lines(path):
        name = _unquote(line)
        if (
            PurePosixPath(name).is_absolute()
            or PureWindowsPath(name).is_absolute()
            or "/" in name
            or "\\" in name
        ):
            raise InputError(path, f"line {number}: {line!r} is a path, not a file name")
        if not name.lower().endswith(".mp4") or len(name) <= len(".mp4"):
            raise InputError(path, f"line {number}: {line!r} is not a .mp4 file name")
        if name in seen:
            raise InputError(
                path, f"line {number}: {name!r} is already listed on line {seen[name]}"
            )
        seen[name] = number
        names.append((number, name))
    return names


def parse_label_line(line: str) -> tuple[dict[str, int | float] | None, str | None]:
    """The labels of one label line, or ``(None, why)``."""
    fields = [f.strip() for f in line.split(",")]
    if len(fields) != len(EMOTIONS) + 1:
        return None, (
            f"expected {len(EMOTIONS) + 1} comma-separated values "
            f"({', '.join(EMOTIONS)}, valence), got {len(fields)}"
        )
    labels: dict[str, int | float] = {}
    for column, text in zip(EMOTIONS, fields, strict=False):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if value not in (0.0, 1.0):
            return None, f"{column} value {text!r} is not 0 or 1"
        labels[column] = int(value)
    try:
        valence = float(fields[-1])
    except ValueError:
        return None, f"valence {fields[-1]!r} is not a number"
    lo, hi = VALENCE_RANGE
    if not lo <= valence <= hi:  # also refuses nan
        return None, f"valence {fields[-1]} is outside {lo:g}..{hi:g}"
    labels["valence"] = valence
    return labels, None


@register_dataset("emoreact")
class EmoReactAdapter:
    """Reads an EmoReact_V_1.0 release into Sample records and a list of skips."""

    default_frames = 10

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(self.root, "raw EmoReact folder not found")
        self.excluded: dict[str, int] = {}

    def release(self) -> Path:
        """The EmoReact_V_1.0 folder: ``--src`` itself or its child of that name."""
        for folder in (self.root / RELEASE, self.root):
            if (folder / "Labels").is_dir() and (folder / "Data").is_dir():
                return folder
        raise InputError(
            self.root,
            f"no EmoReact layout found: expected {RELEASE}/Data/{{Train,Validation,Test}}/ and "
            f"{RELEASE}/Labels/ here, or Data/ and Labels/ (--src may be {RELEASE} itself)",
        )

    def split_files(self) -> dict[str, tuple[Path, Path, Path]]:
        """(video folder, labels file, names file) per partition."""
        release = self.release()
        return {
            part: (release / "Data" / data, release / "Labels" / labels, release / "Labels" / names)
            for part, (data, labels, names) in SPLIT_FILES.items()
        }

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def scan(self) -> tuple[list[Sample], list[Skip]]:
        samples: list[Sample] = []
        skips: list[Skip] = []
        listed: dict[str, str] = {}  # id -> names file and line (ids are unique across splits)
        for part, (videos, label_file, names_file) in self.split_files().items():
            names = read_names(names_file)
            lines = _lines(label_file)
            if len(names) != len(lines):
                raise InputError(
                    label_file,
                    f"{len(lines)} label lines but {self._rel(names_file)} lists {len(names)} "
                    "names; names and label lines are paired by position, so the pairing is "
                    "unknowable",
                )
            for (name_line, name), (label_line, text) in zip(names, lines, strict=True):
                stem = name[: -len(".mp4")]
                where = f"{self._rel(names_file)}, line {name_line}"
                if stem in listed:
                    raise InputError(
                        names_file, f"line {name_line}: {name!r} is also listed in {listed[stem]}"
                    )
                listed[stem] = where
                labels, problem = parse_label_line(text)
                if labels is None:
                    skips.append(Skip(stem, self._rel(label_file), f"line {label_line}: {problem}"))
                    continue
                video = videos / name
                if not video.is_file():
                    skips.append(
                        Skip(stem, self._rel(video), f"video not found (listed in {where})")
                    )
                    continue
                samples.append(
                    Sample(
                        id=stem,
                        subject=subject_of(stem),
                        source="emoreact",
                        media={"person_video": self._rel(video)},
                        labels=labels,
                        annotations={"partition": part},
                    )
                )
        return samples, skips

    def source_digest(self, samples: list[Sample]) -> str:
        """sha256 over the six label and names files' bytes and every video's path and size."""
        h = hashlib.sha256()
        for _, label_file, names_file in self.split_files().values():
            for path in (label_file, names_file):
                h.update(self._rel(path).encode() + b"\n")
                h.update(path.read_bytes())
        for sample in samples:
            rel = sample.media["person_video"]
            h.update(f"{rel}|{(self.root / rel).stat().st_size}\n".encode())
        return h.hexdigest()
