"""Adapter for paired visible + thermal face databases written in emobench's list format.

The paired visible/thermal expression databases (USTC-NVIE, KTFE, IRIS, Esposito et al. 2022)
are licence-gated and their official folder and label layouts are not all known: for
**USTC-NVIE the official layout is unknown here**, so emobench reads none of it directly. Users
of USTC-NVIE, IRIS or any other paired database write one list file instead, and this adapter
reads it. The layout read (read-only; every path relative to the root)::

    pairs.csv                          one row per capture (a visible + thermal pair)
    <any relative paths>               the images the rows name
    pools/visible/<Label>/<file>       optional: unpaired visible-only images, by class
    pools/thermal/<Label>/<file>       optional: unpaired thermal-only images, by class

``pairs.csv`` has a header row and one row per capture::

    subject,capture,visible,thermal,label
    s01,s01_happy_1,visible/s01/s01_happy_1.png,thermal/s01/s01_happy_1.png,Happiness
    s01,s01_sad_1,rgb/s01_sad.jpg,ir/s01_sad.npy,sad

=========  ========================================================  =========================
column     what it holds                                             accepted headers
=========  ========================================================  =========================
subject    who was recorded (folds are grouped by it; exact text)    Subject, Participant,
                                                                     Person, Subject ID
capture    the capture id, unique in the file (the sample id)        Capture, Capture ID, Pair,
                                                                     Pair ID, ID, Sample
visible    the visible image (``VISIBLE_SUFFIXES``)                  Visible, Visible image,
                                                                     RGB, VIS, Colour, Color
thermal    the thermal image or matrix (``THERMAL_SUFFIXES``)        Thermal, Thermal image,
                                                                     IR, Infrared, LWIR
label      the expression: one of ``CLASSES`` or a synonym           Label, Expression,
           (``happy``, ``joy``, ``angry``, ``sad``, ``afraid`` ...)  Emotion, Class
=========  ========================================================  =========================

Headers are matched case- and punctuation-insensitively; ``columns=`` (``--columns
thermal=IR_path``) maps your own headers first. Other columns are reported as unused. The file
may be UTF-8 (with or without a byte-order mark), UTF-16 or Windows-1252/Latin-1 (the encoding
is detected, `emobench.datasets.text_encoding`, and noted when it is not UTF-8), separated by
commas, semicolons or tabs (whichever the header holds most of). Paths use ``/`` or ``\\``.
Thermal formats are those of `emobench.prepare.thermal`: 8-bit grey images, 16-bit PNG/TIFF
counts, ``.npy`` / ``.csv`` float matrices, or colour-mapped images with ``--thermal-palette``.
"calm" is deliberately not a synonym of Neutral (RAVDESS-style sets keep them apart).

A row that cannot be used is a listed Skip naming the row number and the file: an empty cell, a
capture id on more than one row (every row of it is skipped), a path that is absolute or holds
``..`` (never opened), a label outside ``CLASSES``, a file that is not on disk or whose suffix is
not accepted. Row numbers count the header as row 1 (a spreadsheet's row numbers); blank rows
are ignored. A missing ``pairs.csv``, an empty one, or one without a required column, is an
InputError naming the file (and the missing columns).

Unpaired pools (optional): ``pools/<modality>/<Label>/<file>`` holds images of one modality
only, in class folders named by a class or synonym. Their samples are ``pool-<modality>-<Label>-
<stem>`` (``<Label>`` canonical), each its own subject, with only one media key and
``train_only`` True: they join the training part of every fold and are never tested. A class
folder whose name is not a class is one listed skip; a file outside a class folder, a nested
folder, an unaccepted suffix or two files with the same id are listed skips too.

``layout="ktfe"`` reads KTFE-style pair naming instead of ``pairs.csv`` (the naming of the
re-hosted "KTFEv.2" copy, a derived layout, not an official one)::

    <subject>/R_<Emotion>_<id>_KTFE.jpg     visible
    <subject>/T_<Emotion>_<id>_KTFE.jpg     thermal (same Emotion and id = same pair)

with capture id ``<subject>_<Emotion>_<id>``. KTFE names carry no subject, so the files must be
grouped in one folder per subject: KTFE-named files at the root, or folders named for a class,
are an InputError saying so. A file without its partner, two files for one side of a pair, or
an Emotion outside ``CLASSES`` are listed skips; other files are ignored and counted in
``notes``; no KTFE pair at all is an InputError. Pools are read in both layouts.

Every sample (`emobench.datasets.sample.Sample`): ``id`` = capture id, ``subject``, ``source``
``"vt-pairs"``, ``media`` ``{"visible_image", "thermal_image"}`` (a pool row has one of them),
``labels`` ``{"expression": <class>}``, ``annotations`` ``{"capture", "pool" ("" | "visible" |
"thermal"), "train_only"}``. Samples come in list-row order (``ktfe``: subject folders and
names in natural order), then the visible pool and the thermal pool, each by class folder and
file name; never in the order the file system lists a folder.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath

import pandas as pd

from emobench.datasets.coding_sheet import (
    canonical_emotion,
    cell_text,
    emotion_vocabulary,
    normalise_header,
    repeated,
    source_digest,
)
from emobench.datasets.paired_captures import MEDIA_KEYS, media_digest, natural_key
from emobench.datasets.registry import register_dataset
from emobench.datasets.sample import Sample, Skip, unique_skips
from emobench.datasets.text_encoding import read_text
from emobench.errors import EmobenchError, InputError

CLASSES: tuple[str, ...] = (
    "Anger",
    "Disgust",
    "Fear",
    "Happiness",
    "Sadness",
    "Surprise",
    "Neutral",
)

# Accepted spellings of a class name (compared after normalise_header) → canonical name.
CLASS_SYNONYMS: dict[str, str] = {
    "angry": "Anger",
    "anger": "Anger",
    "mad": "Anger",
    "disgusted": "Disgust",
    "fearful": "Fear",
    "afraid": "Fear",
    "scared": "Fear",
    "happy": "Happiness",
    "joy": "Happiness",
    "joyful": "Happiness",
    "smile": "Happiness",
    "sad": "Sadness",
    "surprised": "Surprise",
    "shocked": "Surprise",
    "neutral": "Neutral",
}
VOCABULARY = emotion_vocabulary(CLASSES, CLASS_SYNONYMS)

# canonical column → accepted header spellings (the first is the documented one)
COLUMNS: dict[str, tuple[str, ...]] = {
    "subject": ("Subject", "Participant", "Person", "Subject ID"),
    "capture": ("Capture", "Capture ID", "Pair", "Pair ID", "ID", "Sample"),
    "visible": ("Visible", "Visible image", "RGB", "VIS", "Colour", "Color"),
    "thermal": ("Thermal", "Thermal image", "IR", "Infrared", "LWIR"),
    "label": ("Label", "Expression", "Emotion", "Class"),
}
LIST_FILE = "pairs.csv"
POOLS_DIR = "pools"
POOL_MODALITIES: tuple[str, ...] = ("visible", "thermal")
LAYOUTS: tuple[str, ...] = ("list", "ktfe")

VISIBLE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
THERMAL_SUFFIXES: tuple[str, ...] = (*VISIBLE_SUFFIXES, ".npy", ".csv")
SUFFIXES: dict[str, tuple[str, ...]] = {"visible": VISIBLE_SUFFIXES, "thermal": THERMAL_SUFFIXES}

KTFE_NAME = re.compile(
    r"(?P<side>[RT])_(?P<emotion>[^_]+)_(?P<id>.+)_KTFE(?P<suffix>\.[^.]+)", re.IGNORECASE
)
KTFE_SIDES: dict[str, str] = {"R": "visible", "T": "thermal"}

_BLANK_HEADER = re.compile(r"Unnamed: \d+")  # what pandas calls a column without a header


def relative_media_path(text: str) -> tuple[str | None, str | None]:
    """``(posix path, None)`` for a relative path (``\\`` read as ``/``, ``.`` parts dropped), or
    ``(None, problem)`` for an absolute path, a drive, ``..`` or nothing at all. Never opens it."""
    text = text.strip().replace("\\", "/")
    if PurePosixPath(text).is_absolute() or PureWindowsPath(text).drive:
        return None, f"{text!r} is an absolute path; paths must be relative to the dataset folder"
    parts = [p for p in PurePosixPath(text).parts if p != "."]
    if ".." in parts:
        return None, f"{text!r} holds '..' (it would leave the dataset folder)"
    if not parts:
        return None, f"{text!r} names no file"
    return PurePosixPath(*parts).as_posix(), None


def media_problem(root: Path, rel: str, modality: str) -> str | None:
    """Why the ``modality`` file at ``rel`` cannot be used (suffix not accepted, not on disk, a
    folder), or None."""
    suffix = PurePosixPath(rel).suffix.lower()
    if suffix not in SUFFIXES[modality]:
        return (
            f"{modality} file suffix {suffix or '(none)'!r} is not accepted "
            f"(accepted: {', '.join(SUFFIXES[modality])})"
        )
    path = root / rel
    if path.is_dir():
        return f"{modality} path is a folder, not a file"
    if not path.is_file():
        return f"{modality} file not on disk"
    return None


def _separator(header_line: str) -> str:
    counts = {sep: header_line.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def _annotations(capture: str, pool: str) -> dict[str, object]:
    return {"capture": capture, "pool": pool, "train_only": bool(pool)}


@register_dataset("vt-pairs")
class VtPairsAdapter:
    """Reads the list format (or KTFE-style naming) and the optional unpaired pools into Sample
    records and a list of skips."""

    source = "vt-pairs"
    layouts = LAYOUTS

    def __init__(
        self,
        root: str | Path,
        layout: str | None = None,
        columns: dict[str, str] | None = None,
    ):
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(self.root, "raw visible/thermal folder not found")
        if layout is not None and layout not in LAYOUTS:
            raise EmobenchError(f"unknown vt-pairs layout {layout!r}; known: {', '.join(LAYOUTS)}")
        self.layout = layout or "list"
        self.columns = dict(columns or {})
        unknown = sorted(set(self.columns) - set(COLUMNS))
        if unknown:
            raise EmobenchError(
                f"--columns names {unknown}, which vt-pairs does not use; "
                f"known: {', '.join(COLUMNS)}"
            )
        if self.columns and self.layout != "list":
            raise EmobenchError("--columns applies to the list layout (pairs.csv) only")
        self.unknown_columns: list[str] = []
        # How raw files were read where that was a choice (an encoding other than UTF-8, a
        # separator other than a comma), and files the KTFE naming ignored; one line each.
        self.notes: list[str] = []

    # ---- the list ------------------------------------------------------------------------
    @property
    def list_file(self) -> Path:
        return self.root / LIST_FILE

    def read_list(self) -> tuple[list[dict[str, str]], dict[str, str]]:
        """The rows of ``pairs.csv`` (canonical column → stripped cell; ``"_row"`` → the
        1-based row number, the header being row 1) and the header each column was read from.
        Blank rows are dropped but keep their numbers."""
        path = self.list_file
        if not path.is_file():
            hint = ""
            if any(KTFE_NAME.fullmatch(p.name) for p in self.root.glob("*/*") if p.is_file()):
                hint = "; the folder holds KTFE-style names: pass --layout ktfe"
            raise InputError(
                path,
                "list file not found: write one row per capture with the columns "
                f"{', '.join(COLUMNS)} (see `emobench.datasets.vt_pairs`){hint}",
            )
        decoded = read_text(path)
        text = decoded.text
        if decoded.fallback or not decoded.encoding.startswith("utf-8"):
            self._note(f"{LIST_FILE}: {decoded.describe()}")
        sep = _separator(text.split("\n", 1)[0])
        if sep != ",":
            self._note(f"{LIST_FILE}: separated by {'tabs' if sep == chr(9) else repr(sep)}")
        try:
            table = pd.read_csv(
                io.StringIO(text),
                sep=sep,
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
            )
        except pd.errors.EmptyDataError:
            raise InputError(path, "list file is empty (no header row)") from None
        except Exception as err:  # pandas raises many types for a bad file
            raise InputError(path, f"cannot read the list ({err})") from err
        headers = [str(h) for h in table.columns]
        chosen = self._match_columns(path, headers)
        taken = set(chosen.values())
        self.unknown_columns = [
            h
            for h in headers
            if h not in taken
            and not (_BLANK_HEADER.fullmatch(h) and not any(map(cell_text, table[h])))
        ]
        rows = []
        for number, record in enumerate(table.to_dict("records"), start=2):
            row = {canon: cell_text(record[header]) for canon, header in chosen.items()}
            if any(row.values()):
                rows.append({**row, "_row": str(number)})
        if not rows:
            raise InputError(path, "list file names no capture (only a header row)")
        return rows, chosen

    def _match_columns(self, path: Path, headers: list[str]) -> dict[str, str]:
        """Canonical column → header: the user's ``columns`` first, then ``COLUMNS``' spellings
        (`normalise_header`); every missing column is named in one InputError."""
        by_key: dict[str, str] = {}
        for header in headers:
            by_key.setdefault(normalise_header(header), header)
        chosen: dict[str, str] = {}
        for canon, header in self.columns.items():
            found = header if header in headers else by_key.get(normalise_header(header))
            if found is None:
                raise InputError(
                    path,
                    f"column {header!r} (given for {canon}) not found; the header has: "
                    + ", ".join(repr(h) for h in headers),
                )
            chosen[canon] = found
        taken = set(chosen.values())
        for canon, spellings in COLUMNS.items():
            if canon in chosen:
                continue
            for spelling in spellings:
                header = by_key.get(normalise_header(spelling))
                if header is not None and header not in taken:
                    chosen[canon] = header
                    taken.add(header)
                    break
        missing = [canon for canon in COLUMNS if canon not in chosen]
        if missing:
            accepted = "; ".join(f"{c}: {', '.join(COLUMNS[c])}" for c in missing)
            raise InputError(
                path,
                f"missing required column(s) {', '.join(missing)} (accepted headers: {accepted}; "
                f"or map yours with --columns {missing[0]}=<header>); the header has: "
                + ", ".join(repr(h) for h in headers),
            )
        return chosen

    def _list_pairs(self) -> tuple[list[Sample], list[Skip]]:
        rows, headers = self.read_list()
        twice = repeated(row["capture"] for row in rows if row["capture"])
        rows_of: dict[str, list[str]] = {}
        for row in rows:
            rows_of.setdefault(row["capture"], []).append(row["_row"])
        samples: list[Sample] = []
        skips: list[Skip] = []
        for row in rows:
            where = f"row {row['_row']}"
            capture = row["capture"]
            sid = capture or f"{LIST_FILE}-row-{row['_row']}"
            empty = [headers[c] for c in COLUMNS if not row[c]]
            if empty:
                cells = ", ".join(repr(h) for h in empty)
                skips.append(Skip(sid, LIST_FILE, f"{where}: empty cell(s) {cells}"))
                continue
            if capture in twice:
                skips.append(
                    Skip(
                        sid,
                        LIST_FILE,
                        f"{where}: capture id {capture!r} is on rows "
                        f"{', '.join(rows_of[capture])}; capture ids must be unique, so every "
                        "row of it is skipped",
                    )
                )
                continue
            media: dict[str, str] = {}
            problem = None
            for modality in POOL_MODALITIES:
                rel, problem = relative_media_path(row[modality])
                if rel is None:
                    problem = f"{where}: {headers[modality]} path {problem} (not opened)"
                    break
                media[modality] = rel
            if problem:
                skips.append(Skip(sid, LIST_FILE, problem))
                continue
            label = canonical_emotion(row["label"], VOCABULARY)
            if label is None:
                skips.append(
                    Skip(
                        sid,
                        LIST_FILE,
                        f"{where}: {headers['label']} {row['label']!r} is not a class "
                        f"(known: {', '.join(CLASSES)})",
                    )
                )
                continue
            bad = [(media[m], media_problem(self.root, media[m], m)) for m in POOL_MODALITIES]
            bad = [(rel, problem) for rel, problem in bad if problem]
            if bad:
                rel, problem = bad[0]
                skips.append(Skip(sid, rel, f"{where} of {LIST_FILE}: {problem}"))
                continue
            samples.append(
                Sample(
                    capture,
                    row["subject"],
                    self.source,
                    {MEDIA_KEYS[m]: media[m] for m in POOL_MODALITIES},
                    {"expression": label},
                    _annotations(capture, ""),
                )
            )
        return samples, skips

    # ---- KTFE-style naming -----------------------------------------------------------------
    def _ktfe_pairs(self) -> tuple[list[Sample], list[Skip]]:
        at_root = sorted(
            p.name for p in self.root.iterdir() if p.is_file() and KTFE_NAME.fullmatch(p.name)
        )
        if at_root:
            raise InputError(
                self.root,
                f"{len(at_root)} KTFE-named file(s) lie directly in this folder (e.g. "
                f"{at_root[0]}), but KTFE names carry no subject and folds are grouped by "
                "subject: put each subject's files in a folder named for the subject "
                "(<subject>/R_<Emotion>_<id>_KTFE.jpg beside <subject>/T_<Emotion>_<id>_KTFE.jpg)"
                f", or write a {LIST_FILE} with a subject column and use the list layout",
            )
        folders = sorted(
            (p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")),
            key=lambda p: natural_key(p.name),
        )
        folders = [p for p in folders if p.name != POOLS_DIR]
        for folder in folders:
            if canonical_emotion(folder.name, VOCABULARY):
                raise InputError(
                    folder,
                    "is named for a class, not a subject: KTFE names carry no subject, so "
                    "emobench needs one folder per subject (<subject>/R_<Emotion>_<id>_KTFE.jpg); "
                    f"regroup the files by subject, or write a {LIST_FILE} (list layout)",
                )
        samples: list[Sample] = []
        skips: list[Skip] = []
        ignored: list[str] = []
        for folder in folders:
            subject = folder.name
            pairs: dict[tuple[str, str], dict[str, list[str]]] = {}
            for path in sorted(folder.iterdir(), key=lambda p: natural_key(p.name)):
                if path.name.startswith("."):
                    continue
                match = KTFE_NAME.fullmatch(path.name) if path.is_file() else None
                if match is None:
                    ignored.append(path.relative_to(self.root).as_posix())
                    continue
                key = (match["emotion"], match["id"])
                side = KTFE_SIDES[match["side"].upper()]
                pairs.setdefault(key, {}).setdefault(side, []).append(
                    path.relative_to(self.root).as_posix()
                )
            for (emotion, number), sides in sorted(
                pairs.items(), key=lambda kv: (natural_key(kv[0][0]), natural_key(kv[0][1]))
            ):
                sid = f"{subject}_{emotion}_{number}"
                item = self._ktfe_item(sid, subject, f"{emotion}_{number}", sides)
                (samples if isinstance(item, Sample) else skips).append(item)
        if not samples and not skips:
            has_list = self.list_file.is_file()
            raise InputError(
                self.root,
                "no KTFE-named pair in any subject folder (expected "
                "<subject>/R_<Emotion>_<id>_KTFE.jpg with <subject>/T_<Emotion>_<id>_KTFE.jpg)"
                + (f"; the folder holds a {LIST_FILE}: drop --layout ktfe" if has_list else ""),
            )
        if ignored:
            shown = ", ".join(ignored[:3]) + (" ..." if len(ignored) > 3 else "")
            self._note(
                f"ignored {len(ignored)} file(s) or folder(s) in subject folders that are not "
                f"R_/T_<Emotion>_<id>_KTFE images: {shown}"
            )
        return samples, skips

    def _ktfe_item(
        self, sid: str, subject: str, name: str, sides: Mapping[str, list[str]]
    ) -> Sample | Skip:
        """The pair ``<Emotion>_<id>`` (``name``) of one subject folder, or why it is skipped."""
        for modality, files in sides.items():
            if len(files) > 1:
                return Skip(sid, files[0], f"several {modality} files for one pair: {files}")
        for modality, partner in (("visible", "thermal"), ("thermal", "visible")):
            if partner not in sides:
                return Skip(
                    sid,
                    sides[modality][0],
                    f"{modality} image without its {partner} partner "
                    f"(no {'T' if partner == 'thermal' else 'R'}_{name}_KTFE.* beside it)",
                )
        media = {m: sides[m][0] for m in POOL_MODALITIES}
        for modality in POOL_MODALITIES:
            problem = media_problem(self.root, media[modality], modality)
            if problem:
                return Skip(sid, media[modality], problem)
        emotion = name.split("_", 1)[0]
        label = canonical_emotion(emotion, VOCABULARY)
        if label is None:
            return Skip(
                sid,
                media["visible"],
                f"emotion {emotion!r} in the file name is not a class "
                f"(known: {', '.join(CLASSES)})",
            )
        return Sample(
            sid,
            subject,
            self.source,
            {MEDIA_KEYS[m]: media[m] for m in POOL_MODALITIES},
            {"expression": label},
            _annotations(sid, ""),
        )

    # ---- the pools ---------------------------------------------------------------------------
    def _pools(self) -> tuple[list[Sample], list[Skip]]:
        base = self.root / POOLS_DIR
        if not base.is_dir():
            return [], []
        skips: list[Skip] = []
        found: list[tuple[str, str, str, str]] = []  # (id, modality, label, rel)
        for entry in sorted(base.iterdir(), key=lambda p: p.name):
            if entry.name.startswith("."):
                continue
            rel = entry.relative_to(self.root).as_posix()
            if not (entry.is_dir() and entry.name in POOL_MODALITIES):
                skips.append(
                    Skip(
                        f"pool-{entry.name}",
                        rel,
                        f"{POOLS_DIR}/ holds only the folders visible/ and thermal/; not read",
                    )
                )
        for modality in POOL_MODALITIES:
            folder = base / modality
            if not folder.is_dir():
                continue
            for class_dir in sorted(folder.iterdir(), key=lambda p: p.name):
                if class_dir.name.startswith("."):
                    continue
                rel = class_dir.relative_to(self.root).as_posix()
                if not class_dir.is_dir():
                    skips.append(
                        Skip(
                            f"pool-{modality}-{class_dir.stem}",
                            rel,
                            f"pool images belong in a class folder "
                            f"({POOLS_DIR}/{modality}/<Label>/<file>); not read",
                        )
                    )
                    continue
                label = canonical_emotion(class_dir.name, VOCABULARY)
                if label is None:
                    count = sum(1 for p in class_dir.rglob("*") if p.is_file())
                    skips.append(
                        Skip(
                            f"pool-{modality}-{class_dir.name}",
                            rel,
                            f"pool folder name {class_dir.name!r} is not a class (known: "
                            f"{', '.join(CLASSES)}); its {count} file(s) are not read",
                        )
                    )
                    continue
                for path in sorted(class_dir.iterdir(), key=lambda p: p.name):
                    if path.name.startswith("."):
                        continue
                    rel = path.relative_to(self.root).as_posix()
                    sid = f"pool-{modality}-{label}-{path.stem}"
                    if path.is_dir():
                        skips.append(Skip(sid, rel, "folder inside a pool class folder; not read"))
                        continue
                    problem = media_problem(self.root, rel, modality)
                    if problem:
                        skips.append(Skip(sid, rel, problem))
                        continue
                    found.append((sid, modality, label, rel))
        twice = repeated(sid for sid, *_ in found)
        files_of: dict[str, list[str]] = {}
        for sid, _, _, rel in found:
            files_of.setdefault(sid, []).append(rel)
        samples = []
        for sid, modality, label, rel in found:
            if sid in twice:
                skips.append(
                    Skip(
                        sid,
                        rel,
                        f"pool id {sid!r} is also the id of "
                        f"{', '.join(f for f in files_of[sid] if f != rel)} (same class and file "
                        "stem); rename one",
                    )
                )
                continue
            samples.append(
                Sample(
                    sid,
                    sid,
                    self.source,
                    {MEDIA_KEYS[modality]: rel},
                    {"expression": label},
                    _annotations(sid, modality),
                )
            )
        return samples, skips

    # ---- the adapter protocol ----------------------------------------------------------------
    def scan(self) -> tuple[list[Sample], list[Skip]]:
        self.notes = []
        if self.layout == "ktfe":
            samples, skips = self._ktfe_pairs()
        else:
            samples, skips = self._list_pairs()
        pooled, pool_skips = self._pools()
        captures = {s.id for s in samples}
        for sample in pooled:
            if sample.id in captures:
                pool_skips.append(
                    Skip(
                        sample.id,
                        next(iter(sample.media.values())),
                        "pool id equals a capture id of the pairs; rename the file",
                    )
                )
            else:
                samples.append(sample)
        samples, shared = _without_shared_files(samples)
        return samples, unique_skips(skips + pool_skips + shared)

    def source_digest(self, samples: list[Sample]) -> str:
        """sha256 over the list file's bytes (list layout) and every media path with its size."""
        if self.layout == "list":
            return source_digest(self.root, self.list_file, samples)
        return media_digest(self.root, samples, f"layout={self.layout}\n".encode())

    def _note(self, line: str) -> None:
        if line not in self.notes:
            self.notes.append(line)


def _without_shared_files(samples: list[Sample]) -> tuple[list[Sample], list[Skip]]:
    """The samples whose media files no other sample names, and a skip for every sample that
    shares one: an image named by two rows (two captures, or a capture and a pool entry)
    could be tested in one fold and trained on in another."""
    users: dict[str, list[str]] = {}
    for sample in samples:
        for path in sample.media.values():
            users.setdefault(path, []).append(sample.id)
    shared = {path: ids for path, ids in users.items() if len(ids) > 1}
    kept, skips = [], []
    for sample in samples:
        paths = [p for p in sample.media.values() if p in shared]
        if not paths:
            kept.append(sample)
            continue
        others = sorted(set(shared[paths[0]]) - {sample.id})
        skips.append(
            Skip(sample.id, paths[0], f"the same file is named by {', '.join(others)} too")
        )
    return kept, skips
