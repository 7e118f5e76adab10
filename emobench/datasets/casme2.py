"""Adapter for the CASME II release (Yan et al., "CASME II: An Improved Spontaneous
Micro-Expression Database and the Baseline Evaluation", PLoS ONE 9(1): e86041, 2014).

The layout read (read-only; paths relative to the root)::

    CASME2-coding-*.xlsx                              the coding sheet (e.g. -20140508); also
                                                      looked for inside CASME2_RAW_selected/
    CASME2_RAW_selected/sub<NN>/<Filename>/img<N>.jpg frames; N is the absolute frame number
                                                      of the recording, the same numbering as
                                                      the sheet (sub01/EP02_01f: img46 ...)

A doubled ``CASME2_RAW_selected/CASME2_RAW_selected/`` (as the archive unpacks) is accepted,
and so is the cropped release ``Cropped/sub<NN>/<Filename>/reg_img<N>.jpg`` when there is no
RAW_selected folder. With several coding sheets, the last by name is used (their names carry
the release date). The sheet's first worksheet has the columns ``Subject`` (a number: 1 →
folder ``sub01``), ``Filename``, ``OnsetFrame``, ``ApexFrame``, ``OffsetFrame``,
``Action Units`` and ``Estimated Emotion`` (lower case: happiness, disgust, repression,
surprise, others, fear, sadness), plus two columns with no header that are ignored. Headers
are matched like ``masked.py``'s (``COLUMNS``; ``columns=`` maps your own first).

Release quirks handled: ``ApexFrame`` is ``/`` for clips whose apex was not coded — these are
listed skips (emobench never invents an apex; a protocol that wants them must say how); a
clip whose folder holds fewer frames than onset..offset is a listed skip naming the missing
frames.

Each sample is ``sub<NN>_<Filename>`` with label ``emotion`` and annotations ``onset``,
``apex``, ``offset``, ``n_frames`` (frames in the folder), ``first_frame`` (smallest N on
disk) and ``action_units`` (the sheet's text, e.g. ``4+7``).
"""

from __future__ import annotations

import re
from pathlib import Path

from emobench.datasets.coding_sheet import (
    CodingSheetAdapter,
    canonical_emotion,
    clip_annotations,
    emotion_vocabulary,
    folder_clip,
    repeated,
    source_digest,
    unique_skips,
)
from emobench.datasets.registry import register_dataset
from emobench.datasets.sample import Sample, Skip
from emobench.errors import InputError

CLASSES: tuple[str, ...] = (
    "happiness",
    "disgust",
    "repression",
    "surprise",
    "others",
    "fear",
    "sadness",
)
CLASS_SYNONYMS: dict[str, str] = {
    "other": "others",
    "happy": "happiness",
    "disgusted": "disgust",
    "surprised": "surprise",
    "fearful": "fear",
    "sad": "sadness",
}
COLUMNS: dict[str, tuple[str, ...]] = {
    "subject": ("Subject",),
    "clip": ("Filename",),
    "onset": ("OnsetFrame", "Onset Frame", "Onset"),
    "apex": ("ApexFrame", "Apex Frame", "Apex"),
    "offset": ("OffsetFrame", "Offset Frame", "Offset"),
    "action_units": ("Action Units", "AUs", "AU"),
    "emotion": ("Estimated Emotion", "Emotion"),
}
REQUIRED_COLUMNS: tuple[str, ...] = ("subject", "clip", "onset", "apex", "offset", "emotion")
SHEET_PATTERN = "CASME2-coding-*.xlsx"
FRAME_ROOTS: tuple[str, ...] = (
    "CASME2_RAW_selected/CASME2_RAW_selected",
    "CASME2_RAW_selected",
    "Cropped/Cropped",
    "Cropped",
)

_VOCABULARY = emotion_vocabulary(CLASSES, CLASS_SYNONYMS)
_SUBJECT = re.compile(r"(?:sub)?0*(\d+)(?:\.0*)?", re.IGNORECASE)


def subject_folder(text: str) -> str | None:
    """``"1"``, ``"01"``, ``"1.0"`` or ``"sub01"`` → ``"sub01"``; None if not a subject number."""
    match = _SUBJECT.fullmatch(text.strip())
    return f"sub{int(match.group(1)):02d}" if match else None


@register_dataset("casme2")
class Casme2Adapter(CodingSheetAdapter):
    """Reads the CASME II release layout into Sample records and a list of skips."""

    label_columns = COLUMNS
    required_columns = REQUIRED_COLUMNS
    folder = "raw CASME II folder"

    def frames_root(self) -> Path:
        for rel in FRAME_ROOTS:
            if (self.root / rel).is_dir():
                return self.root / rel
        raise InputError(self.root / FRAME_ROOTS[1], "frame folder not found")

    def sheet_file(self) -> Path:
        found = sorted(self.root.glob(SHEET_PATTERN))
        if not found and (self.root / FRAME_ROOTS[1]).is_dir():
            found = sorted((self.root / FRAME_ROOTS[1]).glob(SHEET_PATTERN))
        if not found:
            raise InputError(self.root / SHEET_PATTERN, "coding sheet not found")
        return found[-1]

    def scan(self) -> tuple[list[Sample], list[Skip]]:
        sheet = self.read_sheet()
        frames_root = self.frames_root()
        sheet_rel = sheet.path.relative_to(self.root).as_posix()
        folders = [subject_folder(row["subject"]) for row in sheet.rows]
        ids = [
            f"{f or row['subject']}_{row['clip']}"
            for f, row in zip(folders, sheet.rows, strict=True)
        ]
        twice = repeated(ids)
        samples: list[Sample] = []
        skips: list[Skip] = []
        listed: set[tuple[str, str]] = set()
        for number, (sid, folder, row) in enumerate(
            zip(ids, folders, sheet.rows, strict=True), start=2
        ):
            clip = row["clip"]
            if folder is None or not clip:
                skips.append(
                    Skip(
                        sid,
                        sheet_rel,
                        f"row {number}: {sheet.headers['subject']} {row['subject']!r} is not a "
                        f"subject number, or {sheet.headers['clip']} is empty",
                    )
                )
                continue
            listed.add((folder, clip))
            if sid in twice:
                skips.append(
                    Skip(sid, sheet_rel, f"row {number}: clip listed more than once in the sheet")
                )
                continue
            emotion = canonical_emotion(row["emotion"], _VOCABULARY)
            if emotion is None:
                skips.append(
                    Skip(
                        sid,
                        sheet_rel,
                        f"row {number}: unknown {sheet.headers['emotion']} {row['emotion']!r} "
                        f"(known: {', '.join(CLASSES)})",
                    )
                )
                continue
            clip_dir = frames_root / folder / clip
            path = clip_dir.relative_to(self.root).as_posix()
            if not clip_dir.is_dir():
                skips.append(Skip(sid, path, "frame folder not on disk"))
                continue
            found, problem = folder_clip(self.root, clip_dir)
            if found is None:
                skips.append(Skip(sid, path, problem))
                continue
            annotations, problem = clip_annotations(row, sheet.headers, found)
            if annotations is None:
                skips.append(Skip(sid, path, problem))
                continue
            annotations["first_frame"] = found.numbers[0]
            annotations["action_units"] = row.get("action_units", "")
            samples.append(
                Sample(sid, folder, "casme2", found.media, {"emotion": emotion}, annotations)
            )
        for subject_dir in sorted(p for p in frames_root.glob("sub*") if p.is_dir()):
            for clip_dir in sorted(p for p in subject_dir.iterdir() if p.is_dir()):
                if (subject_dir.name, clip_dir.name) not in listed:
                    skips.append(
                        Skip(
                            f"{subject_dir.name}_{clip_dir.name}",
                            clip_dir.relative_to(self.root).as_posix(),
                            "on disk but not in the coding sheet",
                        )
                    )
        return samples, unique_skips(skips)

    def source_digest(self, samples: list[Sample]) -> str:
        """sha256 over the coding sheet's bytes and every frame folder's path and size."""
        return source_digest(self.root, self.sheet_file(), samples)
