"""EMER miniature: who was recorded, what they felt and showed, written in the release layout.

The world mirrors the claim of Liu et al. ("Smile on the Face, Sadness in the Eyes", TMM): the
face shows the displayed expression (FER label), the eyes follow the true emotion (ER label), and
the two disagree in 30 % of the samples, most often as a neutral face or a masking smile.

Layout written (the official release, see reference B.5)::

    Data/face video/<ID>.mp4          mp4v, 15 fps, 128×128, 45 frames
    Data/eye_movement data/<ID>.tsv   Tobii Pro Lab data export, 120 Hz, 3.0–3.2 s
    Labels/EMER_label.xlsx            sheet "labels": ID, Subject, ER_*, FER_*
    Labels/emer_set.txt               "<ID>\\t<set>", subject-disjoint 5-fold split

IDs are ``<subject>_<film|sport>_<stimulus word>``. Everything derives from ``seed``: the label
plan from one generator, each sample's signals from a generator seeded by (seed, sample index),
so the bytes do not depend on the order in which samples are written.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emobench.datasets.emer import (
    CLASSES_3,
    CLASSES_7,
    EYE_DIR,
    FACE_VIDEO_DIR,
    LABEL_FILES,
    SPLIT_FILE,
)
from emobench.datasets.registry import register_synth
from emobench.datasets.synth.eye_behaviour import (
    EMOTION_EYE_BEHAVIOUR,
    MOVEMENT_TYPES,
    EyeSubject,
    SimulatedGaze,
    generate_gaze,
)
from emobench.datasets.synth.face_renderer import (
    Identity,
    Lighting,
    expression_aus,
    expression_timeline,
    pose_track,
    render_face,
)
from emobench.datasets.synth.workbook import write_workbook
from emobench.errors import EmobenchError, InputError

THREE_CLASS: dict[str, str] = {
    "Happiness": "Positive",
    "Surprise": "Positive",
    "Sadness": "Negative",
    "Fear": "Negative",
    "Disgust": "Negative",
    "Anger": "Negative",
    "Neutral": "Neutral",
}
STIMULUS_WORD: dict[str, str] = {
    "Happiness": "happy",
    "Sadness": "sad",
    "Fear": "fear",
    "Surprise": "surprise",
    "Disgust": "disgust",
    "Anger": "anger",
    "Neutral": "neutral",
}
VALENCE_AROUSAL: dict[str, tuple[float, float]] = {
    "Happiness": (0.6, 0.45),
    "Sadness": (-0.65, -0.3),
    "Fear": (-0.6, 0.6),
    "Surprise": (0.3, 0.65),
    "Disgust": (-0.6, 0.15),
    "Anger": (-0.7, 0.7),
    "Neutral": (0.0, 0.0),
}

LABEL_SHEET_COLUMNS: tuple[str, ...] = (
    "ID",
    "Subject",
    "ER_7",
    "ER_3",
    "ER_Valence",
    "ER_Arousal",
    "FER_7",
    "FER_3",
    "FER_Valence",
    "FER_Arousal",
    "FER_Intensity",
)
TOBII_COLUMNS: tuple[str, ...] = (
    "Recording timestamp [ms]",
    "Sensor",
    "Participant name",
    "Recording name",
    "Gaze point X [DACS px]",
    "Gaze point Y [DACS px]",
    "Pupil diameter left [mm]",
    "Pupil diameter right [mm]",
    "Validity left",
    "Validity right",
    "Eye movement type",
    "Gaze event duration [ms]",
    "Eye movement type index",
    "Fixation point X [DACS px]",
    "Fixation point Y [DACS px]",
)

LABEL_FILE = LABEL_FILES[0]

N_FOLDS = 5
VIDEO_FPS = 15
VIDEO_SIZE = 128
VIDEO_FRAMES = 45
EYE_RATE_HZ = 120.0
EYE_DURATION_MS = (3000.0, 3200.0)

STIMULUS_IS_FELT = 0.9  # fraction of samples with ER == stimulus emotion (exact, rounded)
DISAGREEMENT = 0.3  # fraction of samples with FER != ER (exact, rounded)
THREE_CLASS_OFF_MAPPING = 0.03  # fraction of samples whose 3-class label breaks the mapping
FER_INTENSITY_RANGE = (1.5, 3.0)

# Streams of the seed: one per purpose, so adding one never shifts another.
_PLAN, _FACE, _EYE, _SUBJECT = 0, 1, 2, 3


@dataclass(frozen=True)
class EmerSample:
    """One row of the label sheet plus what the world needs to draw its signals."""

    index: int
    id: str
    subject: int
    source: str
    stimulus: str
    er7: str
    er3: str
    er_valence: float
    er_arousal: float
    fer7: str
    fer3: str
    fer_valence: float
    fer_arousal: float
    fer_intensity: float
    fold: int

    def label_row(self) -> list[object]:
        return [
            self.id,
            self.subject,
            self.er7,
            self.er3,
            self.er_valence,
            self.er_arousal,
            self.fer7,
            self.fer3,
            self.fer_valence,
            self.fer_arousal,
            self.fer_intensity,
        ]


def plan_emer_samples(
    seed: int = 0, subjects: int = 30, samples_per_subject: int = 6
) -> list[EmerSample]:
    """Decide every sample's subject, stimulus, labels and fold (no signals are drawn)."""
    if subjects < N_FOLDS:
        raise EmobenchError(f"EMER miniature needs at least {N_FOLDS} subjects, got {subjects}")
    if not 1 <= samples_per_subject <= len(CLASSES_7):
        raise EmobenchError(
            f"samples_per_subject must be 1..{len(CLASSES_7)} (one per distinct stimulus), "
            f"got {samples_per_subject}"
        )
    rng = np.random.default_rng([seed, _PLAN])
    n = subjects * samples_per_subject
    subject_of = np.repeat(np.arange(1, subjects + 1), samples_per_subject)
    # Rotate the stimulus emotions across subjects so that every class is equally common.
    stimulus = [
        CLASSES_7[(s * samples_per_subject + j) % len(CLASSES_7)]
        for s in range(subjects)
        for j in range(samples_per_subject)
    ]
    source = rng.choice(["film", "sport"], size=n)
    er7 = _felt_emotions(stimulus, rng)
    disagree = np.zeros(n, bool)
    disagree[rng.permutation(n)[: round(DISAGREEMENT * n)]] = True
    fer7 = [_displayed(er, rng) if off else er for er, off in zip(er7, disagree, strict=True)]
    intensity = [
        0.0 if fer == "Neutral" else round(float(rng.uniform(*FER_INTENSITY_RANGE)), 2)
        for fer in fer7
    ]
    er_va = [_valence_arousal(er, 1.0, 0.15, rng) for er in er7]
    fer_va = [
        _valence_arousal(fer, 0.5 + intensity_k / 6.0, 0.1, rng)
        for fer, intensity_k in zip(fer7, intensity, strict=True)
    ]
    er3 = [THREE_CLASS[e] for e in er7]
    fer3 = [THREE_CLASS[e] for e in fer7]
    off_mapping = rng.permutation(n)[: max(1, round(THREE_CLASS_OFF_MAPPING * n))]
    for i in sorted(off_mapping):
        labels = er3 if rng.random() < 0.5 else fer3
        labels[i] = str(rng.choice([c for c in CLASSES_3 if c != labels[i]]))
    order = rng.permutation(subjects) + 1
    fold_of = {int(subject): k % N_FOLDS + 1 for k, subject in enumerate(order)}
    return [
        EmerSample(
            index=i,
            id=f"{subject_of[i]}_{source[i]}_{STIMULUS_WORD[stimulus[i]]}",
            subject=int(subject_of[i]),
            source=str(source[i]),
            stimulus=stimulus[i],
            er7=er7[i],
            er3=er3[i],
            er_valence=er_va[i][0],
            er_arousal=er_va[i][1],
            fer7=fer7[i],
            fer3=fer3[i],
            fer_valence=fer_va[i][0],
            fer_arousal=fer_va[i][1],
            fer_intensity=intensity[i],
            fold=fold_of[int(subject_of[i])],
        )
        for i in range(n)
    ]


@register_synth("emer")
def write_emer_miniature(
    out: Path,
    *,
    seed: int = 0,
    subjects: int = 30,
    samples_per_subject: int = 6,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write the EMER miniature under ``out`` (which must not exist or be empty)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(out, "exists and is not empty; choose a new --out or remove it first")
    samples = plan_emer_samples(seed, subjects, samples_per_subject)
    # Write next to the target and rename when complete: an interrupted run never looks done.
    staging = out.parent / f".{out.name}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    (staging / FACE_VIDEO_DIR).mkdir(parents=True)
    (staging / EYE_DIR).mkdir(parents=True)
    (staging / "Labels").mkdir(parents=True)
    people = {s.subject: _person(seed, s.subject) for s in samples}
    files = []
    for done, sample in enumerate(samples, start=1):
        identity, eye_subject = people[sample.subject]
        video = f"{FACE_VIDEO_DIR}/{sample.id}.mp4"
        face_rng = np.random.default_rng([seed, _FACE, sample.index])
        _write_face_video(staging / video, sample, identity, face_rng)
        table = f"{EYE_DIR}/{sample.id}.tsv"
        rng = np.random.default_rng([seed, _EYE, sample.index])
        duration = rng.uniform(*EYE_DURATION_MS)
        recording = generate_gaze(
            EMOTION_EYE_BEHAVIOUR[sample.er7],
            duration,
            rng,
            subject=eye_subject,
            sampling_rate_hz=EYE_RATE_HZ,
        )
        _write_tobii_tsv(staging / table, sample, recording)
        files += [video, table]
        if progress is not None:
            progress(done, len(samples))
    _write_label_sheet(staging / LABEL_FILE, samples)
    _write_split(staging / SPLIT_FILE, samples)
    files += [LABEL_FILE, SPLIT_FILE]
    if out.exists():
        out.rmdir()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(out)
    return {
        "dataset": "emer",
        "out": str(out),
        "seed": seed,
        "n_samples": len(samples),
        "n_subjects": subjects,
        "disagreement_rate": sum(s.er7 != s.fer7 for s in samples) / len(samples),
        "n_files": len(files),
        "files": sorted(files),
    }


# ----------------------------------------------------------------------------------------------
# Labels.


def _felt_emotions(stimulus: list[str], rng: np.random.Generator) -> list[str]:
    """ER per sample: the stimulus emotion, except for a fixed fraction of samples.

    The samples that felt something else swap emotions among themselves (a random permutation
    without fixed points), so the ER classes stay exactly as balanced as the stimuli.
    """
    n = len(stimulus)
    off = np.sort(rng.permutation(n)[: round((1.0 - STIMULUS_IS_FELT) * n)])
    felt = list(stimulus)
    for _ in range(100):
        moved = [stimulus[i] for i in rng.permutation(off)]
        if all(m != stimulus[i] for m, i in zip(moved, off, strict=True)):
            for i, m in zip(off, moved, strict=True):
                felt[i] = m
            return felt
    for i in off:  # no such permutation (too few samples): draw each one freely
        felt[i] = _other(stimulus[i], rng)
    return felt


def _other(emotion: str, rng: np.random.Generator) -> str:
    return str(rng.choice([e for e in CLASSES_7 if e != emotion]))


def _displayed(felt: str, rng: np.random.Generator) -> str:
    """The expression shown when it differs from the felt emotion: mostly masks."""
    if THREE_CLASS[felt] == "Negative":
        choices, weights = ["Happiness", "Neutral"], [0.45, 0.4]  # smile on the face
    elif felt == "Happiness":
        choices, weights = ["Neutral"], [0.6]
    elif felt == "Surprise":
        choices, weights = ["Neutral", "Happiness"], [0.5, 0.3]
    else:  # Neutral felt
        choices, weights = ["Happiness"], [0.5]
    r = rng.random()
    for choice, weight in zip(choices, weights, strict=True):
        if r < weight:
            return choice
        r -= weight
    return str(rng.choice([e for e in CLASSES_7 if e != felt and e not in choices]))


def _valence_arousal(
    emotion: str, scale: float, noise: float, rng: np.random.Generator
) -> tuple[float, float]:
    proto = np.array(VALENCE_AROUSAL[emotion]) * scale
    va = np.clip(proto + rng.normal(0.0, noise, 2), -1.0, 1.0)
    return tuple(float(np.round(v, 2)) + 0.0 for v in va)  # + 0.0 turns -0.0 into 0.0


def _write_label_sheet(path: Path, samples: list[EmerSample]) -> None:
    rows = [list(LABEL_SHEET_COLUMNS)] + [sample.label_row() for sample in samples]
    write_workbook(path, rows, title="labels")


def _write_split(path: Path, samples: list[EmerSample]) -> None:
    lines = [f"# EMER {N_FOLDS}-fold split: <ID> <set>"]
    lines += [f"{s.id}\t{s.fold}" for s in samples]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")


# ----------------------------------------------------------------------------------------------
# Signals.


def _person(seed: int, subject: int) -> tuple[Identity, EyeSubject]:
    rng = np.random.default_rng([seed, _SUBJECT, subject])
    return Identity.sample(rng), EyeSubject.sample(rng)


def _face_intensity(fer_intensity: float) -> float:
    """Action-unit scale from the 0–3 FER intensity: 1.5 → 0.625, 3.0 → 1.0."""
    return 0.25 + 0.75 * fer_intensity / 3.0 if fer_intensity > 0 else 0.0


def _write_face_video(
    path: Path, sample: EmerSample, identity: Identity, rng: np.random.Generator
) -> None:
    onset = rng.uniform(2.0, 5.0)
    apex = onset + rng.uniform(5.0, 7.0)
    apex_end = apex + rng.uniform(21.0, 24.0)
    offset = min(apex_end + rng.uniform(5.0, 8.0), VIDEO_FRAMES - 1.0)
    curve = expression_timeline(VIDEO_FRAMES, onset, apex, offset, apex_end=apex_end)
    aus = expression_aus(sample.fer7, _face_intensity(sample.fer_intensity))
    poses = pose_track(VIDEO_FRAMES, rng)
    lighting = Lighting.sample(rng)
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*"mp4v"), VIDEO_FPS, (VIDEO_SIZE, VIDEO_SIZE)
    )
    if not writer.isOpened():
        raise EmobenchError(f"{path}: OpenCV cannot write mp4v video (FFmpeg backend missing?)")
    try:
        for k in range(VIDEO_FRAMES):
            frame_aus = {au: value * curve[k] for au, value in aus.items()}
            frame = render_face(
                identity, frame_aus, VIDEO_SIZE, rng, pose=poses[k], lighting=lighting
            )
            writer.write(frame)
    finally:
        writer.release()


def _fixed(value: float, decimals: int) -> str:
    """Deterministic decimal text; empty for NaN; never '-0.0'."""
    if np.isnan(value):
        return ""
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0.0 else text


def _write_tobii_tsv(path: Path, sample: EmerSample, rec: SimulatedGaze) -> None:
    validity = ("Invalid", "Valid")
    lines = ["\t".join(TOBII_COLUMNS)]
    for i in range(len(rec)):
        lines.append(
            "\t".join(
                (
                    str(int(rec.t_ms[i])),
                    "Eye Tracker",
                    str(sample.subject),
                    sample.id,
                    _fixed(rec.gaze_x_px[i], 1),
                    _fixed(rec.gaze_y_px[i], 1),
                    _fixed(rec.pupil_left_mm[i], 3),
                    _fixed(rec.pupil_right_mm[i], 3),
                    validity[bool(rec.valid_left[i])],
                    validity[bool(rec.valid_right[i])],
                    MOVEMENT_TYPES[int(rec.movement_type[i])],
                    str(int(rec.event_duration_ms[i])),
                    str(int(rec.event_index[i])),
                    _fixed(rec.fixation_x_px[i], 1),
                    _fixed(rec.fixation_y_px[i], 1),
                )
            )
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
