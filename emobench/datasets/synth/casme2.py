"""CASME II miniature: subtle, short expressions in the layout of the CASME II release.

Each clip is a micro-expression-like movement: the estimated emotion's action units at
``INTENSITY`` (0.3–0.5) of their prototype, rising from onset to apex in 4–8 frames
(``RISE_FRAMES``) and fading by the offset, on a still head (sub-pixel pose jitter), with
neutral frames before and after as in the release. Frames are numbered absolutely, from a
random first frame (``img46.jpg`` ...), and the sheet uses the same numbers. One clip has
``ApexFrame`` "/" (no coded apex), as some rows of the release do.

Layout written (read by ``emobench.datasets.casme2``)::

    CASME2-coding-20140508.xlsx                       Subject (number), Filename, (blank),
                                                      OnsetFrame, ApexFrame, OffsetFrame,
                                                      (blank), Action Units, Estimated Emotion
    CASME2_RAW_selected/sub<NN>/EP<xx>_<yy>[f]/img<N>.jpg   96×96, JPEG quality 92

The sheet's bytes depend only on its content (``workbook.write_workbook``). Everything derives
from ``seed``; each clip's randomness from (seed, subject, clip).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emobench.datasets.casme2 import CLASSES, FRAME_ROOTS
from emobench.datasets.registry import register_synth
from emobench.datasets.synth.face_renderer import (
    EMOTION_AUS,
    Identity,
    Lighting,
    expression_timeline,
    pose_track,
    render_face,
)
from emobench.datasets.synth.workbook import write_workbook
from emobench.errors import EmobenchError, InputError

SHEET_FILE = "CASME2-coding-20140508.xlsx"
FRAMES_DIR = FRAME_ROOTS[1]  # CASME2_RAW_selected
# The release's header row, blank spacer columns included (pandas reads them as "Unnamed: k").
SHEET_HEADER: tuple[str | None, ...] = (
    "Subject",
    "Filename",
    None,
    "OnsetFrame",
    "ApexFrame",
    "OffsetFrame",
    None,
    "Action Units",
    "Estimated Emotion",
)
# Action units per CASME II emotion label (prototype intensities, before INTENSITY).
CASME2_AUS: dict[str, dict[str, float]] = {
    "happiness": EMOTION_AUS["Happiness"],
    "disgust": EMOTION_AUS["Disgust"],
    "surprise": EMOTION_AUS["Surprise"],
    "fear": EMOTION_AUS["Fear"],
    "sadness": EMOTION_AUS["Sadness"],
    "repression": {"AU15": 0.8, "AU23": 1.0},  # lips pressed and pulled down: held back
    "others": {"AU4": 0.8, "AU7": 0.8},
}

N_FRAMES = 30
FRAME_SIZE = 96
JPEG_QUALITY = 92
FIRST_FRAME_RANGE = (20, 200)  # absolute number of a clip's first frame, inclusive
ONSET_DELAY = (3, 6)  # frames from the first frame to the onset
RISE_FRAMES = (4, 8)  # onset → apex
FALL_FRAMES = (5, 10)  # apex → offset
INTENSITY = (0.3, 0.5)
POSE_JITTER = {"translation": 0.002, "rotation_deg": 0.5, "scale": 0.003}
NO_APEX = "/"

_PLAN, _CLIP, _SUBJECT = 0, 1, 2


@dataclass(frozen=True)
class Casme2Clip:
    """One row of the coding sheet plus what the world needs to draw the clip."""

    subject: int
    index: int
    filename: str
    emotion: str
    first_frame: int
    onset: int
    apex: int
    offset: int
    intensity: float
    apex_coded: bool = True

    @property
    def folder(self) -> str:
        return f"{FRAMES_DIR}/sub{self.subject:02d}/{self.filename}"

    def sheet_row(self) -> list[object]:
        units = "+".join(au.removeprefix("AU") for au in CASME2_AUS[self.emotion])
        apex = self.apex if self.apex_coded else NO_APEX
        return [
            self.subject,
            self.filename,
            None,
            self.onset,
            apex,
            self.offset,
            None,
            units,
            self.emotion,
        ]


def plan_casme2_clips(
    seed: int = 0, subjects: int = 10, clips_per_subject: int = 3
) -> list[Casme2Clip]:
    """Decide every clip's subject, name, label, frame numbers and intensity."""
    if subjects < 1 or clips_per_subject < 1:
        raise EmobenchError(
            f"the CASME II miniature needs at least 1 subject and 1 clip each, got {subjects} "
            f"and {clips_per_subject}"
        )
    rng = np.random.default_rng([seed, _PLAN])
    clips = []
    for s in range(subjects):
        for j in range(clips_per_subject):
            i = s * clips_per_subject + j
            first = int(rng.integers(FIRST_FRAME_RANGE[0], FIRST_FRAME_RANGE[1] + 1))
            onset = first + int(rng.integers(ONSET_DELAY[0], ONSET_DELAY[1] + 1))
            apex = onset + int(rng.integers(RISE_FRAMES[0], RISE_FRAMES[1] + 1))
            offset = apex + int(rng.integers(FALL_FRAMES[0], FALL_FRAMES[1] + 1))
            take = int(rng.integers(1, 10))
            suffix = "f" if rng.random() < 0.3 else ""
            clips.append(
                Casme2Clip(
                    subject=s + 1,
                    index=j + 1,
                    filename=f"EP{j + 1:02d}_{take:02d}{suffix}",
                    emotion=CLASSES[i % len(CLASSES)],
                    first_frame=first,
                    onset=onset,
                    apex=apex,
                    offset=offset,
                    intensity=round(float(rng.uniform(*INTENSITY)), 3),
                )
            )
    uncoded = int(rng.integers(len(clips)))
    clips[uncoded] = Casme2Clip(**{**clips[uncoded].__dict__, "apex_coded": False})
    return clips


@register_synth("casme2")
def write_casme2_miniature(
    out: Path,
    *,
    seed: int = 0,
    subjects: int = 10,
    clips_per_subject: int = 3,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write the CASME II miniature under ``out`` (which must not exist or be empty)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(out, "exists and is not empty; choose a new --out or remove it first")
    clips = plan_casme2_clips(seed, subjects, clips_per_subject)
    staging = out.parent / f".{out.name}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    files = []
    for done, clip in enumerate(clips, start=1):
        folder = staging / clip.folder
        folder.mkdir(parents=True)
        identity = Identity.sample(np.random.default_rng([seed, _SUBJECT, clip.subject]))
        rng = np.random.default_rng([seed, _CLIP, clip.subject, clip.index])
        for k, frame in enumerate(render_clip(clip, identity, rng)):
            name = f"img{clip.first_frame + k}.jpg"
            if not cv2.imwrite(str(folder / name), frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                raise EmobenchError(f"{folder / name}: OpenCV cannot write JPEG")
            files.append(f"{clip.folder}/{name}")
        if progress is not None:
            progress(done, len(clips))
    write_workbook(staging / SHEET_FILE, [SHEET_HEADER] + [c.sheet_row() for c in clips])
    files.append(SHEET_FILE)
    if out.exists():
        out.rmdir()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(out)
    return {
        "dataset": "casme2",
        "out": str(out),
        "seed": seed,
        "n_samples": len(clips),
        "n_subjects": subjects,
        "n_uncoded_apex": sum(not c.apex_coded for c in clips),
        "n_files": len(files),
        "files": sorted(files),
    }


def render_clip(clip: Casme2Clip, identity: Identity, rng: np.random.Generator) -> list[np.ndarray]:
    """The clip's frames (BGR uint8, ``FRAME_SIZE`` square), first to last."""
    first = clip.first_frame
    curve = expression_timeline(
        N_FRAMES, clip.onset - first, clip.apex - first, clip.offset - first
    )
    aus = {au: value * clip.intensity for au, value in CASME2_AUS[clip.emotion].items()}
    poses = pose_track(N_FRAMES, rng, **POSE_JITTER)
    lighting = Lighting.sample(rng)
    return [
        render_face(
            identity,
            {au: value * curve[k] for au, value in aus.items()},
            FRAME_SIZE,
            rng,
            pose=poses[k],
            lighting=lighting,
        )
        for k in range(N_FRAMES)
    ]
