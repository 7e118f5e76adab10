"""What adapters of onset/apex/offset-coded clip databases share (masked expressions, CASME II).

Such a release is a *coding sheet* (CSV or Excel, one row per clip, with subject, clip, onset,
apex and offset frame numbers and labels) beside one folder of numbered frames (``img46.jpg``)
or one video per clip. This module reads the sheet read-only, matches its headers to canonical
column names (a user mapping first, then the accepted spellings, case- and
punctuation-insensitively), normalises emotion names, lists the numbered frames of a folder,
counts a video's frames, and checks a row's onset/apex/offset against the frames on disk,
returning the reason a clip must be skipped.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import pandas as pd

from emobench.datasets.headers import header_key
from emobench.datasets.sample import Sample, unique_skips  # noqa: F401  (re-exported)
from emobench.errors import EmobenchError, InputError

FRAME_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".avi")
PHASES: tuple[str, ...] = ("onset", "apex", "offset")

_BLANK_HEADER = re.compile(r"Unnamed: \d+")  # what pandas calls a column without a header


def normalise_header(name: object) -> str:
    """``"Onset Frame"``, ``"onset_frame"`` and ``"OnsetFrame"`` all become ``"onsetframe"``
    (`emobench.datasets.headers.header_key`, the loose level used for every sheet)."""
    return header_key(name)


def cell_text(value: object) -> str:
    """A sheet cell as stripped text; empty for a missing cell."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value).strip()


def parse_column_mapping(text: str) -> dict[str, str]:
    """``"true_emotion=Context,expression=Shown"`` → ``{"true_emotion": "Context", ...}``."""
    mapping: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        canon, sep, header = part.partition("=")
        if not sep or not canon.strip() or not header.strip():
            raise EmobenchError(
                f"--columns: expected 'name=Header[,name=Header...]', got {part.strip()!r}"
            )
        mapping[canon.strip()] = header.strip()
    return mapping


# ----------------------------------------------------------------------------------------------
# The sheet.


@dataclass(frozen=True)
class CodingSheet:
    """A coding sheet with its columns renamed to canonical names.

    ``rows`` hold the cells as stripped text (empty when missing); ``headers`` maps each
    canonical name to the header it was read from, so that messages use the sheet's own words;
    ``unknown_columns`` lists headers that matched no canonical name (blank spacer columns
    with no content are left out).
    """

    path: Path
    rows: tuple[dict[str, str], ...]
    headers: Mapping[str, str]
    unknown_columns: tuple[str, ...]


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Excel sheet (first worksheet) as text cells; never writes to ``path``."""
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        return pd.read_excel(path, sheet_name=0, dtype=str)
    except Exception as err:  # pandas and its engines raise many types for a bad file
        raise InputError(path, f"cannot read the coding sheet ({err})") from err


def read_coding_sheet(
    path: Path,
    aliases: Mapping[str, Sequence[str]],
    *,
    required: Iterable[str],
    columns: Mapping[str, str] | None = None,
) -> CodingSheet:
    """Read ``path`` and rename its headers to the canonical names of ``aliases``.

    ``columns`` maps canonical names to the user's headers and is applied before the aliases.
    A missing required column, or a mapped header the sheet does not have, is an InputError
    naming the file and the column.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "coding sheet not found")
    table = read_table(path)
    headers = [str(h) for h in table.columns]
    columns = dict(columns or {})
    unknown_canon = sorted(set(columns) - set(aliases))
    if unknown_canon:
        raise EmobenchError(
            f"--columns names {unknown_canon}, which this dataset does not use; "
            f"known: {', '.join(aliases)}"
        )
    by_key: dict[str, str] = {}
    for header in headers:
        by_key.setdefault(normalise_header(header), header)
    chosen: dict[str, str] = {}  # canonical → header
    for canon, header in columns.items():
        if header in headers:
            chosen[canon] = header
        elif normalise_header(header) in by_key:
            chosen[canon] = by_key[normalise_header(header)]
        else:
            raise InputError(
                path,
                f"column {header!r} (given for {canon}) not found; the sheet has: "
                + ", ".join(repr(h) for h in headers),
            )
    taken = set(chosen.values())
    for canon, spellings in aliases.items():
        if canon in chosen:
            continue
        for spelling in spellings:
            header = by_key.get(normalise_header(spelling))
            if header is not None and header not in taken:
                chosen[canon] = header
                taken.add(header)
                break
    for canon in required:
        if canon not in chosen:
            raise InputError(
                path,
                f"missing required column {canon!r} (accepted headers: "
                + ", ".join(repr(a) for a in aliases[canon])
                + f"; or map yours with --columns {canon}=<header>)",
            )
    unknown = tuple(
        h
        for h in headers
        if h not in taken and not (_BLANK_HEADER.fullmatch(h) and not any(map(cell_text, table[h])))
    )
    rows = tuple(
        {canon: cell_text(record[header]) for canon, header in chosen.items()}
        for record in table.to_dict("records")
    )
    return CodingSheet(path, rows, dict(chosen), unknown)


# ----------------------------------------------------------------------------------------------
# Labels.


def emotion_vocabulary(
    classes: Iterable[str], synonyms: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Lookup from a normalised spelling to the canonical class name."""
    vocabulary = {normalise_header(c): c for c in classes}
    for spelling, canon in (synonyms or {}).items():
        vocabulary[normalise_header(spelling)] = canon
    return vocabulary


def canonical_emotion(text: str, vocabulary: Mapping[str, str]) -> str | None:
    """The canonical name of ``text`` (``"happy"``, ``"HAPPINESS"`` → ``"Happiness"``), or None."""
    return vocabulary.get(normalise_header(text)) if text else None


# ----------------------------------------------------------------------------------------------
# Frames on disk.


@dataclass(frozen=True)
class FrameListing:
    """The numbered images of one frame folder, in frame-number order.

    ``unnumbered`` are image names with no number; ``duplicates`` are numbers that more than one
    file carries (``img5.jpg`` and ``img05.jpg``).
    """

    numbers: tuple[int, ...]
    names: tuple[str, ...]
    unnumbered: tuple[str, ...] = ()
    duplicates: tuple[int, ...] = ()

    def problem(self) -> str | None:
        if self.unnumbered:
            shown = ", ".join(self.unnumbered[:3]) + (" ..." if len(self.unnumbered) > 3 else "")
            return f"frame files without a number in their name: {shown}"
        if self.duplicates:
            return f"several frame files carry the same number: {list(self.duplicates[:5])}"
        if not self.numbers:
            return "frame folder holds no images"
        return None


_DIGITS = re.compile(r"\d+")


def frame_number(name: str) -> int | None:
    """The frame number of an image name: its last run of digits (``reg_img46.jpg`` → 46).
    This is the one rule by which emobench numbers and orders frame files."""
    stem = os.path.splitext(os.path.basename(name))[0]
    return _last_number(stem, len(stem))


def _last_number(name: str, end: int) -> int | None:
    """:func:`frame_number`'s rule on ``name[:end]``, the stem of a bare file name."""
    runs = _DIGITS.findall(name, 0, end)
    return int(runs[-1]) if runs else None


def list_numbered_frames(folder: Path) -> FrameListing:
    """The images of ``folder`` (``FRAME_SUFFIXES``, hidden files ignored) by frame number.

    Each name's stem is found by its last dot, as ``os.path.splitext`` finds it for a bare
    name that does not start with one: a prepare lists every clip folder twice (the scan,
    then the worker that samples it), and the per-name ``os.path`` calls were most of the
    listing's cost."""
    names = []
    with os.scandir(folder) as entries:  # file types come with the listing: no stat per file
        for entry in entries:
            name = entry.name
            dot = name.rfind(".")  # what os.path.splitext takes as the suffix of such a name
            if (
                dot > 0
                and name[0] != "."
                and name[dot:].lower() in FRAME_SUFFIXES
                and entry.is_file()
            ):
                names.append(name)
    names.sort()
    numbered: dict[int, str] = {}
    unnumbered, duplicates = [], set()
    for name in names:
        number = _last_number(name, name.rfind("."))
        if number is None:
            unnumbered.append(name)
        elif number in numbered:
            duplicates.add(number)
        else:
            numbered[number] = name
    order = sorted(numbered)
    return FrameListing(
        tuple(order),
        tuple(numbered[n] for n in order),
        tuple(unnumbered),
        tuple(sorted(duplicates)),
    )


def video_frame_count(path: Path) -> int | None:
    """The frame count a video declares (``CAP_PROP_FRAME_COUNT``); None if it does not open."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return None
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()


@dataclass(frozen=True)
class ClipMedia:
    """Where a clip's face is (``face_frames_dir`` or ``face_video``, relative to the root)
    and which frame numbers exist: the numbers in the file names of a frame folder, 1..N for a
    video (1-based frame index)."""

    media: Mapping[str, str]
    numbers: tuple[int, ...]


def folder_clip(root: Path, folder: Path) -> tuple[ClipMedia | None, str | None]:
    """The clip held in a frame folder, or the reason it cannot be used."""
    listing = list_numbered_frames(folder)
    problem = listing.problem()
    if problem:
        return None, problem
    rel = Path(folder).relative_to(root).as_posix()
    return ClipMedia({"face_frames_dir": rel}, listing.numbers), None


def video_clip(root: Path, path: Path) -> tuple[ClipMedia | None, str | None]:
    """The clip held in one video file, or the reason it cannot be used."""
    count = video_frame_count(path)
    if count is None:
        return None, "cannot open the video (no video stream, or a codec OpenCV lacks)"
    if count <= 0:
        return None, "the video declares no frames"
    rel = Path(path).relative_to(root).as_posix()
    return ClipMedia({"face_video": rel}, tuple(range(1, count + 1))), None


def parse_frame_number(text: str) -> int | None:
    """``"46"`` or ``"46.0"`` → 46; anything else (``"/"``, ``""``, ``"4.5"``) → None."""
    match = re.fullmatch(r"\+?(\d+)(?:\.0*)?", text.strip())
    return int(match.group(1)) if match else None


def check_phases(
    row: Mapping[str, str], headers: Mapping[str, str], available: Sequence[int]
) -> tuple[dict[str, int] | None, str | None]:
    """Onset/apex/offset of ``row`` as ints, checked against the sorted frame numbers on disk.

    Returns ``(phases, None)`` or ``(None, reason)`` with the reason the clip must be skipped:
    a cell that is no frame number (CASME II writes ``/`` where no apex was coded), onset after
    offset, apex outside onset..offset, or frames the sheet names that are not on disk.
    """
    phases: dict[str, int] = {}
    for phase in PHASES:
        number = parse_frame_number(row[phase])
        if number is None:
            what = "empty" if not row[phase] else f"{row[phase]!r}"
            note = " (no frame coded)" if row[phase] in ("/", "-", "?") else ""
            return None, f"{headers[phase]} is {what}{note}, not a frame number"
        phases[phase] = number
    onset, apex, offset = phases["onset"], phases["apex"], phases["offset"]
    if onset > offset:
        return None, f"onset frame {onset} is after offset frame {offset}"
    if not onset <= apex <= offset:
        return None, f"apex frame {apex} is outside onset..offset {onset}..{offset}"
    if not available:
        return None, "no frames on disk"
    first, last = available[0], available[-1]
    if onset < first or offset > last:
        return None, (
            f"the sheet codes frames {onset}..{offset} but frames {first}..{last} are on disk"
            + (" (clip shorter than the sheet says)" if offset > last else "")
        )
    present = set(available)
    missing = [n for n in range(onset, offset + 1) if n not in present]
    if missing:
        return None, f"frames missing between onset and offset: {missing[:10]}"
    return phases, None


def clip_annotations(
    row: Mapping[str, str], headers: Mapping[str, str], clip: ClipMedia
) -> tuple[dict[str, int] | None, str | None]:
    """``onset``, ``apex``, ``offset`` and ``n_frames`` (frames on disk / in the video) of a
    clip, or the reason it must be skipped (see ``check_phases``)."""
    phases, problem = check_phases(row, headers, clip.numbers)
    if phases is None:
        return None, problem
    return {**phases, "n_frames": len(clip.numbers)}, None


def repeated(keys: Iterable[str]) -> set[str]:
    """Keys that occur more than once."""
    seen: set[str] = set()
    twice: set[str] = set()
    for key in keys:
        (twice if key in seen else seen).add(key)
    return twice


# ----------------------------------------------------------------------------------------------
# Provenance.


def source_digest(root: Path, sheet: Path, samples: Iterable[Sample]) -> str:
    """sha256 over the coding sheet's bytes and every media path with its size in bytes."""
    h = hashlib.sha256(Path(sheet).read_bytes())
    for sample in samples:
        for rel in sorted(sample.media.values()):
            p = Path(root) / rel
            size = p.stat().st_size if p.is_file() else sum(q.stat().st_size for q in p.iterdir())
            h.update(f"{rel}|{size}\n".encode())
    return h.hexdigest()


class CodingSheetAdapter:
    """What every coding-sheet adapter shares: the raw root, the user's header mapping, and
    reading the sheet (read-only) with the subclass's accepted columns. A subclass sets
    ``label_columns``, ``required_columns`` and ``folder`` and defines ``sheet_file()``."""

    label_columns: Mapping[str, tuple[str, ...]] = {}
    required_columns: tuple[str, ...] = ()
    folder = "raw dataset folder"

    def __init__(self, root: str | Path, columns: Mapping[str, str] | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(self.root, f"{self.folder} not found")
        self.columns = dict(columns or {})
        self.unknown_columns: list[str] = []

    def read_sheet(self) -> CodingSheet:
        sheet = read_coding_sheet(
            self.sheet_file(),  # type: ignore[attr-defined]  (each subclass defines it)
            self.label_columns,
            required=self.required_columns,
            columns=self.columns,
        )
        self.unknown_columns = list(sheet.unknown_columns)
        return sheet
