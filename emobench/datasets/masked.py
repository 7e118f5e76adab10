"""Adapter for a masked-expression database (MFED-like: Mo et al., IEEE Access 2021).

Participants watched emotional clips (the *true* emotion: 6 classes) and made a required
expression (the *displayed* one: the same 6 classes), consistent or not with what they felt;
6 × 6 combinations, evaluated leave-one-subject-out. The layout read (read-only; paths are
relative to the root)::

    coding.csv  or  coding.xlsx             one row per clip (first worksheet of an .xlsx)
    <subject>/<clip>/img<N>.jpg             the clip's frames, N = 1-based frame number
    <subject>/<clip>.mp4 | .avi             (or) one video per clip

When both exist the frame folder is used. Sheet columns, matched case- and
punctuation-insensitively (``COLUMNS`` lists every accepted header; ``columns=`` maps yours,
e.g. ``{"true_emotion": "Context"}``, before the aliases are tried):

=============  ==================================================================
subject        Subject, Participant
clip           Clip, Filename, Clip ID
onset          OnsetFrame, Onset
apex           ApexFrame, Apex
offset         OffsetFrame, Offset
true_emotion   TrueEmotion, True emotion, Felt emotion, Emotion context, Experienced emotion
expression     Expression, Displayed expression, Required expression
=============  ==================================================================

Frame numbers in the sheet are the N of ``img<N>.jpg`` (for a video: the 1-based frame index).
Emotion names are normalised to ``CLASSES`` (``happy`` → ``Happiness``). Each sample is
``<subject>_<clip>`` with labels ``true_emotion`` and ``expression`` and annotations
``onset``, ``apex``, ``offset`` and ``n_frames`` (frames in the folder, or the frame count the
video declares). A clip that cannot be used is a listed Skip naming the file and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from emobench.datasets.coding_sheet import (
    VIDEO_SUFFIXES,
    CodingSheet,
    CodingSheetAdapter,
    canonical_emotion,
    clip_annotations,
    emotion_vocabulary,
    folder_clip,
    repeated,
    source_digest,
    unique_skips,
    video_clip,
)
from emobench.datasets.registry import register_dataset
from emobench.datasets.sample import Sample, Skip
from emobench.errors import InputError

CLASSES: tuple[str, ...] = ("Happiness", "Sadness", "Fear", "Surprise", "Disgust", "Anger")

# Accepted spellings of a class name (compared after normalise_header) → canonical name.
CLASS_SYNONYMS: dict[str, str] = {
    "happy": "Happiness",
    "joy": "Happiness",
    "sad": "Sadness",
    "fearful": "Fear",
    "afraid": "Fear",
    "scared": "Fear",
    "surprised": "Surprise",
    "disgusted": "Disgust",
    "angry": "Anger",
}

# canonical column → accepted header spellings
COLUMNS: dict[str, tuple[str, ...]] = {
    "subject": ("Subject", "Participant"),
    "clip": ("Clip", "Filename", "Clip ID"),
    "onset": ("OnsetFrame", "Onset"),
    "apex": ("ApexFrame", "Apex"),
    "offset": ("OffsetFrame", "Offset"),
    "true_emotion": (
        "TrueEmotion",
        "True emotion",
        "Felt emotion",
        "Emotion context",
        "Experienced emotion",
    ),
    "expression": ("Expression", "Displayed expression", "Required expression"),
}
LABEL_COLUMNS: tuple[str, ...] = ("true_emotion", "expression")
SHEET_FILES: tuple[str, ...] = ("coding.csv", "coding.xlsx")

_VOCABULARY = emotion_vocabulary(CLASSES, CLASS_SYNONYMS)


@register_dataset("masked")
class MaskedAdapter(CodingSheetAdapter):
    """Reads the masked-expression layout into Sample records and a list of skips."""

    label_columns = COLUMNS
    required_columns = tuple(COLUMNS)
    folder = "raw masked-expression folder"

    def sheet_file(self) -> Path:
        for name in SHEET_FILES:
            if (self.root / name).is_file():
                return self.root / name
        raise InputError(self.root / SHEET_FILES[0], "coding sheet not found (coding.csv/.xlsx)")

    def scan(self) -> tuple[list[Sample], list[Skip]]:
        sheet = self.read_sheet()
        sheet_rel = sheet.path.name
        ids = [f"{row['subject']}_{row['clip']}" for row in sheet.rows]
        twice = repeated(ids)
        samples: list[Sample] = []
        skips: list[Skip] = []
        listed: set[tuple[str, str]] = set()
        for number, (sid, row) in enumerate(zip(ids, sheet.rows, strict=True), start=2):
            subject, clip = row["subject"], row["clip"]
            listed.add((subject, clip))
            if not subject or not clip:
                skips.append(Skip(sid, sheet_rel, f"row {number}: empty subject or clip cell"))
                continue
            if sid in twice:
                skips.append(
                    Skip(sid, sheet_rel, f"row {number}: clip listed more than once in the sheet")
                )
                continue
            labels, problem = self._labels(row, sheet)
            if problem:
                skips.append(Skip(sid, sheet_rel, f"row {number}: {problem}"))
                continue
            clip_dir = self.root / subject / clip
            videos = [self.root / subject / f"{clip}{s}" for s in VIDEO_SUFFIXES]
            if clip_dir.is_dir():
                found, problem = folder_clip(self.root, clip_dir)
                path = f"{subject}/{clip}"
            elif any(v.is_file() for v in videos):
                video = next(v for v in videos if v.is_file())
                found, problem = video_clip(self.root, video)
                path = video.relative_to(self.root).as_posix()
            else:
                skips.append(
                    Skip(sid, f"{subject}/{clip}", "neither a frame folder nor a video on disk")
                )
                continue
            if found is None:
                skips.append(Skip(sid, path, problem))
                continue
            annotations, problem = clip_annotations(row, sheet.headers, found)
            if annotations is None:
                skips.append(Skip(sid, path, problem))
                continue
            samples.append(Sample(sid, subject, "masked", found.media, labels, annotations))
        skips += self._unlisted(listed)
        return samples, unique_skips(skips)

    def _labels(self, row: Mapping[str, str], sheet: CodingSheet) -> tuple[dict, str | None]:
        labels = {}
        for column in LABEL_COLUMNS:
            canon = canonical_emotion(row[column], _VOCABULARY)
            if canon is None:
                return {}, (
                    f"unknown {sheet.headers[column]} {row[column]!r} (known: {', '.join(CLASSES)})"
                )
            labels[column] = canon
        return labels, None

    def _unlisted(self, listed: set[tuple[str, str]]) -> list[Skip]:
        """Clips on disk (frame folders or videos under a subject folder) the sheet lacks."""
        skips = []
        for subject_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            if subject_dir.name.startswith("."):
                continue
            for entry in sorted(subject_dir.iterdir()):
                is_video = entry.is_file() and entry.suffix.lower() in VIDEO_SUFFIXES
                clip = entry.stem if is_video else entry.name
                if not (entry.is_dir() or is_video) or clip.startswith("."):
                    continue
                if (subject_dir.name, clip) not in listed:
                    skips.append(
                        Skip(
                            f"{subject_dir.name}_{clip}",
                            entry.relative_to(self.root).as_posix(),
                            "on disk but not in the coding sheet",
                        )
                    )
        return skips

    def source_digest(self, samples: list[Sample]) -> str:
        """sha256 over the coding sheet's bytes and every media path with its size."""
        return source_digest(self.root, self.sheet_file(), samples)
