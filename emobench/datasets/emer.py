"""Adapter for the EMER release (Liu et al., "Smile on the Face, Sadness in the Eyes", IEEE TMM).

Named ``emer`` in emobench; not to be confused with "Explainable Multimodal Emotion Reasoning"
(Lian et al.), since renamed OV-MERD. The released layout (read-only; paths are relative)::

    Data/face video/<ID>.mp4 | .avi          one preprocessed face video per sample
    Data/face_light_align/<ID>/<frame>.jpg   optional aligned frames (used when no video)
    Data/eye_movement data/<ID>.tsv | .xlsx | .csv   Tobii Pro Lab data export per sample
    Labels/EMER_label.xlsx (or .csv)         one row per sample: ER and FER labels
    Labels/emer_set.txt                      the 5-fold split: "<ID> <set>" per line

Label-sheet columns are matched case- and punctuation-insensitively (``LABEL_COLUMNS`` lists
every accepted spelling). The 3-class labels are read from the sheet and never derived from
the 7-class ones (the release has rows where they disagree). The subject is the ``Subject``
column, or else the leading number of the sample ID (``12_film_sad`` → subject 12).
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import pandas as pd

from emobench.datasets.headers import header_key
from emobench.datasets.registry import register_dataset
from emobench.datasets.sample import Sample, Skip, unique_skips
from emobench.datasets.text_encoding import read_text
from emobench.errors import InputError

CLASSES_7 = ("Happiness", "Sadness", "Fear", "Surprise", "Disgust", "Anger", "Neutral")
CLASSES_3 = ("Positive", "Negative", "Neutral")

# Spellings accepted for a class name (lower case) → canonical name.
CLASS_SYNONYMS = {
    **{c.lower(): c for c in CLASSES_7 + CLASSES_3},
    "happy": "Happiness",
    "sad": "Sadness",
    "fearful": "Fear",
    "afraid": "Fear",
    "surprised": "Surprise",
    "disgusted": "Disgust",
    "angry": "Anger",
    "pos": "Positive",
    "neg": "Negative",
    "neu": "Neutral",
}

# canonical column → accepted header spellings (compared by headers.header_key)
LABEL_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("ID", "Sample ID", "Sample", "Video", "Name"),
    "subject": ("Subject", "Subject ID", "Participant", "Participant name"),
    "er7": ("ER_7", "ER 7-class", "ER7", "ER_7class", "ER"),
    "er3": ("ER_3", "ER 3-class", "ER3", "ER_3class"),
    "er_valence": ("ER_Valence", "ER_V", "ER Valence"),
    "er_arousal": ("ER_Arousal", "ER_A", "ER Arousal"),
    "fer7": ("FER_7", "FER 7-class", "FER7", "FER_7class", "FER"),
    "fer3": ("FER_3", "FER 3-class", "FER3", "FER_3class"),
    "fer_valence": ("FER_Valence", "FER_V", "FER Valence"),
    "fer_arousal": ("FER_Arousal", "FER_A", "FER Arousal"),
    "fer_intensity": ("FER_Intensity", "FER_I", "Intensity", "FER Intensity"),
}
CLASS_LABELS = {"er7": CLASSES_7, "fer7": CLASSES_7, "er3": CLASSES_3, "fer3": CLASSES_3}
VALUE_RANGES = {
    "er_valence": (-1.0, 1.0),
    "er_arousal": (-1.0, 1.0),
    "fer_valence": (-1.0, 1.0),
    "fer_arousal": (-1.0, 1.0),
    "fer_intensity": (0.0, 3.0),
}

FACE_VIDEO_DIR = "Data/face video"
FACE_FRAMES_DIR = "Data/face_light_align"
EYE_DIR = "Data/eye_movement data"
LABEL_FILES = ("Labels/EMER_label.xlsx", "Labels/EMER_label.csv")
SPLIT_FILE = "Labels/emer_set.txt"
VIDEO_SUFFIXES = (".mp4", ".avi")
EYE_SUFFIXES = (".tsv", ".xlsx", ".csv")


@register_dataset("emer")
class EmerAdapter:
    """Reads the EMER release layout into Sample records and a list of skips."""

    label_columns = LABEL_COLUMNS

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(self.root, "raw EMER folder not found")
        self.unknown_columns: list[str] = []
        # How raw files were read where that was a choice (a text encoding other than UTF-8),
        # one line each naming the file, for the pack and the screen.
        self.notes: list[str] = []

    # ---- labels -------------------------------------------------------------------------
    def label_file(self) -> Path:
        for rel in LABEL_FILES:
            if (self.root / rel).is_file():
                return self.root / rel
        raise InputError(self.root / LABEL_FILES[0], "label sheet not found")

    def read_labels(self) -> pd.DataFrame:
        path = self.label_file()
        try:
            if path.suffix == ".csv":
                sheet = pd.read_csv(io.StringIO(self._read_text(path)), dtype=str)
            else:
                sheet = pd.read_excel(path, sheet_name=0, dtype=str)
        except InputError:
            raise
        except Exception as err:  # pandas raises many types for a bad file
            raise InputError(path, f"cannot read the label sheet ({err})") from err
        lookup = {
            header_key(alias): canon
            for canon, aliases in LABEL_COLUMNS.items()
            for alias in aliases
        }
        renamed, self.unknown_columns = {}, []
        for header in sheet.columns:
            canon = lookup.get(header_key(header))
            if canon and canon not in renamed.values():
                renamed[header] = canon
            else:
                self.unknown_columns.append(str(header))
        sheet = sheet.rename(columns=renamed)[list(renamed.values())]
        if "id" not in sheet.columns:
            raise InputError(path, f"no sample-ID column (accepted: {LABEL_COLUMNS['id']})")
        labels = [c for c in sheet.columns if c not in ("id", "subject")]
        if not labels:
            raise InputError(
                path,
                "no label column found; accepted names: "
                + ", ".join(
                    f"{c}: {a[0]}" for c, a in LABEL_COLUMNS.items() if c not in ("id", "subject")
                ),
            )
        sheet["id"] = sheet["id"].astype(str).str.strip()
        duplicated = sheet["id"][sheet["id"].duplicated()].tolist()
        if duplicated:
            raise InputError(path, f"sample IDs listed twice: {duplicated[:5]}")
        return sheet

    # ---- split --------------------------------------------------------------------------
    def read_split(self) -> dict[str, int]:
        path = self.root / SPLIT_FILE
        if not path.is_file():
            raise InputError(path, "split file not found")
        folds: dict[str, int] = {}
        for number, line in enumerate(self._read_text(path).splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = re.split(r"[\s,;]+", line)
            match = (
                re.fullmatch(r"(?:set|fold)?_?(\d+)", parts[-1].lower())
                if len(parts) == 2
                else None
            )
            if not match:
                raise InputError(path, f"line {number}: expected '<ID> <set>', got {line!r}")
            if parts[0] in folds:
                raise InputError(path, f"line {number}: sample {parts[0]!r} is listed twice")
            folds[parts[0]] = int(match.group(1))
        if not folds:
            raise InputError(path, "split file lists no sample")
        return folds

    def _read_text(self, path: Path) -> str:
        """A text file of the release in the encoding its bytes show (`text_encoding`); a
        guessed fallback encoding is recorded in ``notes``."""
        decoded = read_text(path)
        note = f"{path.relative_to(self.root).as_posix()}: {decoded.describe()}"
        if decoded.fallback and note not in self.notes:
            self.notes.append(note)
        return decoded.text

    # ---- media --------------------------------------------------------------------------
    def _media_index(self, folder: str, suffixes: tuple[str, ...]) -> dict[str, Path]:
        base = self.root / folder
        if not base.is_dir():
            return {}
        return {
            p.stem: p
            for p in sorted(base.iterdir())
            if p.is_file() and p.suffix.lower() in suffixes
        }

    def scan(self) -> tuple[list[Sample], list[Skip]]:
        sheet = self.read_labels()
        split = self.read_split()
        label_path = str(self.label_file().relative_to(self.root))
        videos = self._media_index(FACE_VIDEO_DIR, VIDEO_SUFFIXES)
        frame_dirs = (
            {p.name: p for p in sorted((self.root / FACE_FRAMES_DIR).glob("*")) if p.is_dir()}
            if (self.root / FACE_FRAMES_DIR).is_dir()
            else {}
        )
        eyes = self._media_index(EYE_DIR, EYE_SUFFIXES)
        if not videos and not frame_dirs:
            raise InputError(self.root / FACE_VIDEO_DIR, "no face video (.mp4/.avi) found")
        if not eyes:
            raise InputError(self.root / EYE_DIR, "no eye-movement export found")

        samples: list[Sample] = []
        skips: list[Skip] = []
        subject_fold: dict[str, tuple[int, str]] = {}
        for row in sheet.to_dict("records"):
            sid = row["id"]
            subject = self._subject(row)
            if subject is None:
                skips.append(
                    Skip(
                        sid,
                        label_path,
                        "no Subject column and the ID has no leading subject number",
                    )
                )
                continue
            if sid not in split:
                skips.append(Skip(sid, SPLIT_FILE, "in the label sheet but not in emer_set.txt"))
                continue
            fold = split[sid]
            if subject in subject_fold and subject_fold[subject][0] != fold:
                other_fold, other_id = subject_fold[subject]
                raise InputError(
                    self.root / SPLIT_FILE,
                    f"subject {subject} is in set {other_fold} ({other_id}) and in set {fold} "
                    f"({sid}); folds must be subject-disjoint",
                )
            subject_fold.setdefault(subject, (fold, sid))
            labels, problem = self._labels(row)
            if problem:
                skips.append(Skip(sid, label_path, problem))
                continue
            media = {}
            if sid in videos:
                media["face_video"] = str(videos[sid].relative_to(self.root))
            elif sid in frame_dirs:
                media["face_frames_dir"] = str(frame_dirs[sid].relative_to(self.root))
            else:
                skips.append(Skip(sid, f"{FACE_VIDEO_DIR}/{sid}.mp4", "face video not on disk"))
                continue
            if sid not in eyes:
                skips.append(Skip(sid, f"{EYE_DIR}/{sid}.tsv", "eye-movement export not on disk"))
                continue
            media["eye_table"] = str(eyes[sid].relative_to(self.root))
            samples.append(Sample(sid, subject, "emer", media, labels, {"fold": fold}))

        known = set(sheet["id"])
        for sid in sorted(set(split) - known):
            skips.append(Skip(sid, SPLIT_FILE, "in emer_set.txt but not in the label sheet"))
        for sid, path in sorted({**videos, **eyes}.items()):
            if sid not in known:
                skips.append(
                    Skip(
                        sid, str(path.relative_to(self.root)), "on disk but not in the label sheet"
                    )
                )
        return samples, unique_skips(skips)

    def _subject(self, row: dict) -> str | None:
        value = row.get("subject")
        if isinstance(value, str) and value.strip():
            return value.strip()
        match = re.match(r"(\d+)", row["id"])
        return match.group(1) if match else None

    def _labels(self, row: dict) -> tuple[dict, str | None]:
        labels: dict = {}
        for column, value in row.items():
            if column in ("id", "subject"):
                continue
            text = "" if value is None or pd.isna(value) else str(value).strip()
            if column in CLASS_LABELS:
                if not text:
                    labels[column] = ""
                    continue
                canon = CLASS_SYNONYMS.get(text.lower())
                if canon not in CLASS_LABELS[column]:
                    return {}, (
                        f"unknown {column} label {text!r} "
                        f"(known: {', '.join(CLASS_LABELS[column])})"
                    )
                labels[column] = canon
            else:
                try:
                    number = float(text) if text else float("nan")
                except ValueError:
                    return {}, f"{column} value {text!r} is not a number"
                lo, hi = VALUE_RANGES[column]
                if number == number and not lo <= number <= hi:
                    return {}, f"{column} value {number} outside [{lo}, {hi}]"
                labels[column] = number
        return labels, None

    def source_digest(self, samples: list[Sample]) -> str:
        """sha256 over the label and split files' bytes and every media file's path and size."""
        h = hashlib.sha256()
        for path in (self.label_file(), self.root / SPLIT_FILE):
            h.update(path.read_bytes())
        for sample in samples:
            for rel in sorted(sample.media.values()):
                p = self.root / rel
                size = (
                    p.stat().st_size if p.is_file() else sum(q.stat().st_size for q in p.iterdir())
                )
                h.update(f"{rel}|{size}\n".encode())
        return h.hexdigest()
