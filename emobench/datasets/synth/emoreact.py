"""EmoReact miniature: children reacting on camera, written in the EmoReact_V_1.0 layout.

EmoReact (Nojavanasghari et al., ICMI 2016) holds 1102 YouTube clips of 63 children (4-14 years)
reacting to a topic, each labelled with 8 binary emotions and a valence. This world writes::

    EmoReact_V_1.0/Data/{Train,Validation,Test}/<Topic><n>_<k>.mp4    mp4v, 25 fps, 224×224
    EmoReact_V_1.0/Labels/{train,val,test}_labels.text                8 × 0/1, valence
    EmoReact_V_1.0/Labels/{Train,Val,Test}_names.txt                  'name.mp4' per line

read by ``emobench.datasets.emoreact``. Each child is one source reaction video
``<Topic><n>`` (the adapter's subject), filmed in ``clips_per_subject`` clips ``_1``, ``_2``…
Children are split ~40/27/33 % into Train/Validation/Test (``SPLIT_SHARES``), never shared
between splits. Names files list a split's clips in a shuffled order that is not the sorted
order, so a reader that pairs label lines with ``listdir()`` order gets them wrong.

**Labels** follow the released label statistics: a Gaussian copula whose marginals
(``PREVALENCE``) and pairwise latent correlations (``LATENT_CORRELATION``) were fitted once to
the 1102 label lines of the EmoReact train/val/test CSVs in
``nkegke/deep-affective-bodily-expression-recognition`` (``EmoReact/{train,val,test}.csv``):
excitement with happiness, uncertainty with curiosity and fear, surprise with curiosity,
disgust with fear; disgust (12 %) and fear (4.5 %) are rare. A child's clips share
``SUBJECT_SHARE`` of their latent scores (children differ in what they show). Every split
holds at least ``MIN_POSITIVES`` clips of every emotion (the clips with the highest latent
scores are promoted), so per-class AP and ROC AUC are defined on each split. Valence is the
mean of 3 raters on 1-7 (thirds, as released): a latent valence from a linear fit to the same
lines (``VALENCE_BASE`` + ``VALENCE_WEIGHTS`` · labels, residual ``VALENCE_SD``), each rater
adding ``RATER_SD`` and rounding to an integer in 1..7.

**Cues** (``CUE_TABLE``, written before any clip was drawn and never tuned on a model's
numbers): every emotion shows in three channels — the *lower face* (mouth and nose: what a
face mask hides), the *upper face* (brows, lids, cheeks) and *posture/gesture* (the body
layer: lean, slump, shrug, raised arms, hand to face, bouncing). Each present emotion gets a
clip intensity in ``INTENSITY``; each of its channels is shown with probability
``SHOW_PROBABILITY`` (a child may keep still, or keep a straight face); a child's face and body
expressivity scale all its clips (``FACE_EXPRESSIVITY``, ``BODY_EXPRESSIVITY``). Action units of
co-occurring emotions combine by the maximum (``combine_aus``); lean and slump add (clipped),
the other posture parameters take the maximum. Strengths are emobench's choices, read from:

================  ==========================  =========================  =====================
emotion           lower face                  upper face                 posture / gesture
================  ==========================  =========================  =====================
curiosity         AU26 0.3 (parted lips)      AU1 0.4 AU2 0.5 AU5 0.35   lean forward 0.8
uncertainty       AU23 0.6 AU15 0.3           AU4 0.45 AU7 0.3           shrug 0.8, hand to
                                                                         face 0.6
excitement        AU12 0.7 AU26 0.7           AU6 0.5 AU5 0.4 AU2 0.3    arms up 0.9, bounce
                                                                         0.9, lean fwd 0.3
happiness         AU12 1.0                    AU6 0.8                    upright 0.4 (slump
                                                                         −0.4), bounce 0.2
surprise          AU26 0.9                    AU1 0.9 AU2 0.9 AU5 0.9    lean back 0.5, arms
                                                                         up 0.35, shrug 0.3
disgust           AU9 0.9 AU15 0.6            AU4 0.35 AU7 0.4           lean back 0.7, hand
                                                                         to face 0.35
fear              AU20 0.9 AU26 0.35          AU1 0.8 AU2 0.5 AU4 0.6    lean back 0.6, shrug
                                              AU5 0.9                    0.6, hand to face 0.3
frustration       AU23 0.9 AU15 0.5           AU4 0.8 AU7 0.6            slump 0.8, hand to
                                                                         face 0.5
================  ==========================  =========================  =====================

Reasons, per emotion (``CUE_TABLE[...].reason`` holds the same text): the face channels of
happiness, surprise, disgust and fear are the EMFACS prototypes (Ekman & Friesen 1978; the
renderer's ``EMOTION_AUS``) split at the lids; curiosity is the *interest* face (Reeve 1993:
raised brows, widened eyes, parted lips) and forward lean, the posture of high interest in
children at a computer (Mota & Picard 2003); uncertainty is the brow-lowering of confusion
(Rozin & Cohen 2003) with pressed lips, the shoulder shrug emblem of not knowing (Ekman &
Friesen 1969) and self-touch adaptors; excitement is a high-arousal open-mouth Duchenne smile
with raised, energetic arms (Wallbott 1998 and Dael et al. 2012 BAP: elated joy — arms raised,
high movement activity); happiness is mostly the smile, with only an upright posture in the
body (Wallbott 1998; Kleinsmith & Bianchi-Berthouze 2013); surprise's body is the start
backwards with raised hands (Darwin 1872); disgust and fear withdraw (leaning away; fear also
hunches the shoulders and brings a hand to the face — Kleinsmith & Bianchi-Berthouze 2013);
frustration is the anger family's lowered brows, tight lids and pressed lips at low intensity
with a collapsed, slumped posture and a hand to the face (Mota & Picard 2003 for slumping).

**Nuisance** carrying no label: talking (AU26 flicker, ``TALK_PROBABILITY``), self-touch
(``SELF_TOUCH_PROBABILITY``), a resting posture and slow sway per clip, head-pose jitter,
lighting, a room background per clip and sensor noise. Timing: every channel rises (raised
cosine) from an onset in the first 30 % of the clip to its apex and holds; the body lags or
leads the face by up to ``BODY_LAG`` frames.

Everything derives from ``seed``: the plan from one generator, each clip's pixels from
(seed, stream, child, clip), so the label and names files are byte-identical for a seed and
pixels do not depend on the order clips are written in (mp4 bytes may depend on the codec).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import NormalDist
from types import MappingProxyType

import cv2
import numpy as np

from emobench.datasets.emoreact import EMOTIONS, PARTITIONS, RELEASE, SPLIT_FILES
from emobench.datasets.registry import register_synth
from emobench.datasets.synth.body_layer import (
    FRAME_SIZE,
    Outfit,
    Posture,
    render_scene,
    room_background,
)
from emobench.datasets.synth.dynamic_fer import finish_output, start_output
from emobench.datasets.synth.face_renderer import (
    Identity,
    Lighting,
    combine_aus,
    expression_timeline,
    pose_track,
)
from emobench.errors import EmobenchError

SPLIT_SHARES: tuple[float, float, float] = (0.40, 0.27, 0.33)

SUBJECTS = 63
CLIPS_PER_SUBJECT = 3
FPS = 25.0
LENGTHS = (16, 24)
TOPICS: tuple[str, ...] = (
    "80sTOYS",
    "SUSHI",
    "VCR",
    "SQUID",
    "TYPEWRITERS",
    "WALKMANS",
    "SLIME",
    "ROBOTS",
    "KIMCHI",
    "GAMEBOY",
    "MAGIC_TRICKS",
    "ROTARYPHONES",
    "TOFU",
    "YOYOS",
    "DRONES",
)


@dataclass(frozen=True)
class Cue:
    """How one emotion shows at full intensity, per channel, and why (sources)."""

    lower: Mapping[str, float]  # lower-face action units (mouth, nose)
    upper: Mapping[str, float]  # upper-face action units (brows, lids, cheeks)
    body: Mapping[str, float]  # posture parameters of ``body_layer.Posture`` (+ ``bounce``)
    reason: str


def _cue(lower: dict, upper: dict, body: dict, reason: str) -> Cue:
    return Cue(MappingProxyType(lower), MappingProxyType(upper), MappingProxyType(body), reason)


CUE_TABLE: Mapping[str, Cue] = MappingProxyType(
    {
        "curiosity": _cue(
            {"AU26": 0.3},
            {"AU1": 0.4, "AU2": 0.5, "AU5": 0.35},
            {"lean": 0.8},
            "interest face: raised brows, widened eyes, parted lips (Reeve 1993); leaning "
            "forward, the posture of high interest in children (Mota & Picard 2003)",
        ),
        "uncertainty": _cue(
            {"AU23": 0.6, "AU15": 0.3},
            {"AU4": 0.45, "AU7": 0.3},
            {"shrug": 0.8, "hand_to_face": 0.6},
            "brow lowering of confusion (Rozin & Cohen 2003) with pressed lips; the shoulder "
            "shrug emblem of not knowing and self-touch adaptors (Ekman & Friesen 1969)",
        ),
        "excitement": _cue(
            {"AU12": 0.7, "AU26": 0.7},
            {"AU6": 0.5, "AU5": 0.4, "AU2": 0.3},
            {"arm_raise": 0.9, "bounce": 0.9, "lean": 0.3},
            "high-arousal open-mouth Duchenne smile; raised arms and high movement activity of "
            "elated joy (Wallbott 1998; Dael, Mortillaro & Scherer 2012, BAP)",
        ),
        "happiness": _cue(
            {"AU12": 1.0},
            {"AU6": 0.8},
            {"slump": -0.4, "bounce": 0.2},
            "EMFACS smile AU6+AU12 (Ekman & Friesen 1978), shown mostly in the mouth; only an "
            "upright posture in the body (Wallbott 1998; Kleinsmith & Bianchi-Berthouze 2013)",
        ),
        "surprise": _cue(
            {"AU26": 0.9},
            {"AU1": 0.9, "AU2": 0.9, "AU5": 0.9},
            {"lean": -0.5, "arm_raise": 0.35, "shrug": 0.3},
            "EMFACS surprise AU1+2+5+26 (Ekman & Friesen 1978); starting backwards with "
            "raised hands (Darwin 1872)",
        ),
        "disgust": _cue(
            {"AU9": 0.9, "AU15": 0.6},
            {"AU4": 0.35, "AU7": 0.4},
            {"lean": -0.7, "hand_to_face": 0.35},
            "EMFACS disgust AU9 (+ the upper-lip raise the renderer draws with it) and AU15 "
            "(Ekman & Friesen 1978); withdrawal, leaning away (Kleinsmith & "
            "Bianchi-Berthouze 2013)",
        ),
        "fear": _cue(
            {"AU20": 0.9, "AU26": 0.35},
            {"AU1": 0.8, "AU2": 0.5, "AU4": 0.6, "AU5": 0.9},
            {"lean": -0.6, "shrug": 0.6, "hand_to_face": 0.3},
            "EMFACS fear AU1+2+4+5+20+26 (Ekman & Friesen 1978); withdrawal with hunched "
            "shoulders and a protective hand (Kleinsmith & Bianchi-Berthouze 2013)",
        ),
        "frustration": _cue(
            {"AU23": 0.9, "AU15": 0.5},
            {"AU4": 0.8, "AU7": 0.6},
            {"slump": 0.8, "hand_to_face": 0.5},
            "low-intensity anger family: lowered brows, tight lids, pressed lips (Ekman & "
            "Friesen 1978); collapsed, slumped posture (Mota & Picard 2003) and a hand to the "
            "face",
        ),
    }
)
"""Per-emotion cues at full intensity (see the module docstring's table)."""

CHANNELS: tuple[str, ...] = ("lower", "upper", "body")
SHOW_PROBABILITY: Mapping[str, float] = MappingProxyType(
    {"lower": 0.85, "upper": 0.8, "body": 0.75}
)
INTENSITY = (0.45, 1.0)
FACE_EXPRESSIVITY = (0.7, 1.1)
BODY_EXPRESSIVITY = (0.6, 1.2)
BODY_LAG = 3  # frames, either way
ONSET_SHARE = (0.0, 0.3)
RISE_SHARE = (0.2, 0.45)
TALK_PROBABILITY = 0.3
TALK_AMPLITUDE = (0.15, 0.35)
SELF_TOUCH_PROBABILITY = 0.1
REST_POSTURE = 0.2  # resting lean and slump drawn in ±this
SWAY = 0.008  # body sway, fraction of the frame
BOUNCE_HEIGHT = 0.03  # vertical bob at full bounce, fraction of the frame
AU_STEP = 0.02
HEAD_JITTER = {"translation": 0.008, "rotation_deg": 3.0, "scale": 0.015}

# Label statistics fitted to the 1102 released label lines (see the module docstring).
PREVALENCE: tuple[float, ...] = (0.349, 0.312, 0.322, 0.548, 0.270, 0.124, 0.045, 0.119)
LATENT_CORRELATION: tuple[tuple[float, ...], ...] = (
    (1.00, 0.52, 0.01, 0.17, 0.55, -0.24, -0.04, 0.00),
    (0.52, 1.00, -0.41, -0.22, 0.38, 0.30, 0.57, 0.13),
    (0.01, -0.41, 1.00, 0.63, 0.19, -0.36, -0.24, -0.15),
    (0.17, -0.22, 0.63, 1.00, 0.16, -0.61, -0.43, -0.13),
    (0.55, 0.38, 0.19, 0.16, 1.00, 0.15, 0.27, 0.14),
    (-0.24, 0.30, -0.36, -0.61, 0.15, 1.00, 0.66, -0.05),
    (-0.04, 0.57, -0.24, -0.43, 0.27, 0.66, 1.00, -0.05),
    (0.00, 0.13, -0.15, -0.13, 0.14, -0.05, -0.05, 1.00),
)
VALENCE_BASE = 3.52
VALENCE_WEIGHTS: tuple[float, ...] = (0.25, -0.16, 0.60, 1.42, -0.03, -1.17, -0.50, -0.72)
VALENCE_SD = 0.45
RATER_SD = 0.8
RATERS = 3
SUBJECT_SHARE = 0.3
MIN_POSITIVES = 2

_PLAN, _PERSON, _CLIP = 30, 31, 32  # seed streams


@dataclass(frozen=True)
class ClipPlan:
    """One clip's labels and everything its drawing needs except pixels."""

    name: str  # file stem, ``<source>_<k>``
    child: int
    k: int
    split: str
    labels: tuple[int, ...]  # 0/1 per emotion, in ``EMOTIONS`` order
    ratings: tuple[int, ...]  # the raters' valence ratings
    n_frames: int

    @property
    def valence(self) -> float:
        return round(sum(self.ratings) / len(self.ratings), 4)

    @property
    def file(self) -> str:
        return f"{self.name}.mp4"

    def label_line(self) -> str:
        return ",".join([*(str(v) for v in self.labels), f"{self.valence:.4f}"])


@dataclass(frozen=True)
class ChildPlan:
    index: int
    source: str  # the source reaction video, ``<Topic><n>``: the adapter's subject
    split: str
    clips: tuple[ClipPlan, ...]


def split_counts(n: int) -> tuple[int, int, int]:
    """Children per split for ``n`` children (~``SPLIT_SHARES``, at least one each)."""
    if n < 3:
        raise EmobenchError(f"the EmoReact miniature needs at least 3 children, got {n}")
    train = max(1, round(n * SPLIT_SHARES[0]))
    val = max(1, round(n * SPLIT_SHARES[1]))
    return train, val, max(1, n - train - val)


def plan_emoreact(
    seed: int = 0, subjects: int = SUBJECTS, clips_per_subject: int = CLIPS_PER_SUBJECT
) -> list[ChildPlan]:
    """Who is filmed, in which split, with which labels (no pixels; cheap at any size)."""
    if clips_per_subject < 1:
        raise EmobenchError(f"clips_per_subject must be at least 1, got {clips_per_subject}")
    counts = split_counts(subjects)
    rng = np.random.default_rng([seed, _PLAN])
    order = rng.permutation(subjects)
    split_of = {}
    for rank, child in enumerate(order.tolist()):
        split_of[child] = PARTITIONS[0 if rank < counts[0] else 1 if rank < sum(counts[:2]) else 2]
    numbers = rng.choice(np.arange(2, 2 + max(198, 4 * subjects)), subjects, replace=False)
    sources = [f"{TOPICS[i % len(TOPICS)]}{int(numbers[i])}" for i in range(subjects)]
    chol = np.linalg.cholesky(np.array(LATENT_CORRELATION))
    child_z = rng.standard_normal((subjects, len(EMOTIONS))) @ chol.T
    clip_z = rng.standard_normal((subjects, clips_per_subject, len(EMOTIONS))) @ chol.T
    latent = math.sqrt(SUBJECT_SHARE) * child_z[:, None, :] + math.sqrt(1 - SUBJECT_SHARE) * clip_z
    thresholds = np.array([NormalDist().inv_cdf(1.0 - p) for p in PREVALENCE])
    labels = (latent > thresholds).astype(int)
    for split in PARTITIONS:
        members = [c for c in range(subjects) if split_of[c] == split]
        for e in range(len(EMOTIONS)):
            cells = [(c, k) for c in members for k in range(clips_per_subject)]
            need = min(MIN_POSITIVES, len(cells)) - sum(labels[c, k, e] for c, k in cells)
            negatives = sorted(
                (c for c in cells if not labels[c[0], c[1], e]),
                key=lambda ck: -latent[ck[0], ck[1], e],
            )
            for c, k in negatives[: max(need, 0)]:
                labels[c, k, e] = 1
    valence = VALENCE_BASE + labels @ np.array(VALENCE_WEIGHTS)
    valence = valence + rng.normal(0.0, VALENCE_SD, valence.shape)
    ratings = np.clip(
        np.round(valence[..., None] + rng.normal(0.0, RATER_SD, (*valence.shape, RATERS))), 1, 7
    ).astype(int)
    lengths = rng.integers(LENGTHS[0], LENGTHS[1] + 1, (subjects, clips_per_subject))
    children = []
    for c in range(subjects):
        clips = tuple(
            ClipPlan(
                name=f"{sources[c]}_{k + 1}",
                child=c,
                k=k + 1,
                split=split_of[c],
                labels=tuple(int(v) for v in labels[c, k]),
                ratings=tuple(int(v) for v in ratings[c, k]),
                n_frames=int(lengths[c, k]),
            )
            for k in range(clips_per_subject)
        )
        children.append(ChildPlan(c, sources[c], split_of[c], clips))
    return children


def names_order(seed: int, clips: list[ClipPlan], split: str) -> list[ClipPlan]:
    """A split's clips in names-file order: shuffled, so that it is not the sorted order."""
    rng = np.random.default_rng([seed, _PLAN, PARTITIONS.index(split)])
    ordered = sorted(clips, key=lambda c: c.name)
    shuffled = [ordered[int(i)] for i in rng.permutation(len(ordered))]
    if len(shuffled) > 1 and shuffled == ordered:
        shuffled = shuffled[1:] + shuffled[:1]
    return shuffled


@register_synth("emoreact")
def write_emoreact_miniature(
    out: Path,
    *,
    seed: int = 0,
    subjects: int = SUBJECTS,
    clips_per_subject: int = CLIPS_PER_SUBJECT,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write the EmoReact miniature under ``out`` (which must not exist or be empty)."""
    out = Path(out)
    children = plan_emoreact(seed, subjects, clips_per_subject)
    staging = start_output(out)
    release = staging / RELEASE
    for split in PARTITIONS:
        (release / "Data" / SPLIT_FILES[split][0]).mkdir(parents=True)
    (release / "Labels").mkdir(parents=True)
    clips = [clip for child in children for clip in child.clips]
    n_frames = 0
    for done, clip in enumerate(clips, start=1):
        path = release / "Data" / SPLIT_FILES[clip.split][0] / clip.file
        n_frames += write_video(path, render_clip(seed, clip))
        if progress is not None:
            progress(done, len(clips))
    for split in PARTITIONS:
        chosen = names_order(seed, [c for c in clips if c.split == split], split)
        labels = "".join(c.label_line() + "\n" for c in chosen)
        names = "".join(f"'{c.file}'\n" for c in chosen) + "\n"  # the release's trailing line
        (release / "Labels" / SPLIT_FILES[split][1]).write_text(
            labels, encoding="utf-8", newline="\n"
        )
        (release / "Labels" / SPLIT_FILES[split][2]).write_text(
            names, encoding="utf-8", newline="\n"
        )
    files = finish_output(staging, out)
    per_split = {s: sum(c.split == s for c in clips) for s in PARTITIONS}
    return {
        "dataset": "emoreact",
        "out": str(out),
        "seed": seed,
        "n_subjects": len(children),
        "n_samples": len(clips),
        "per_split": per_split,
        "n_frames": n_frames,
        "n_files": len(files),
        "files": files,
    }


# ---- pixels ------------------------------------------------------------------------------


def child_look(seed: int, child: int) -> tuple[Identity, Outfit, float, float]:
    """A child's face, clothes and face/body expressivity (the same in all their clips).

    Children's faces: larger eyes, a shorter nose and a rounder face than the renderer's
    adult identities, within its range."""
    rng = np.random.default_rng([seed, _PERSON, child])
    base = Identity.sample(rng)
    identity = replace(
        base,
        eye_size=base.eye_size * 1.08,
        nose_length=base.nose_length * 0.9,
        face_length=base.face_length * 0.97,
        face_width=base.face_width * 1.02,
    )
    outfit = Outfit.sample(rng)
    face = float(rng.uniform(*FACE_EXPRESSIVITY))
    body = float(rng.uniform(*BODY_EXPRESSIVITY))
    return identity, outfit, face, body


def _timeline(n: int, onset: float, rise: float) -> np.ndarray:
    onset = min(max(onset, 0.0), n - 1.0)
    apex = min(onset + rise, n - 1.0)
    return expression_timeline(n, onset, apex, n - 1.0, apex_end=n - 1.0)


def clip_signals(clip: ClipPlan, face_gain: float, body_gain: float, rng) -> dict:
    """Per-frame action units and postures of one clip (the cue table applied)."""
    n = clip.n_frames
    face_layers: list[tuple[dict, np.ndarray]] = []
    posture_add = {"lean": np.zeros(n), "slump": np.zeros(n)}
    posture_max = {k: np.zeros(n) for k in ("shrug", "arm_raise", "hand_to_face", "bounce")}
    for e, present in zip(EMOTIONS, clip.labels, strict=True):
        # draws happen for every emotion, present or not, so one label does not shift another's
        intensity = float(rng.uniform(*INTENSITY))
        shown = {ch: bool(rng.uniform() < SHOW_PROBABILITY[ch]) for ch in CHANNELS}
        onset = float(rng.uniform(*ONSET_SHARE)) * n
        rise = float(rng.uniform(*RISE_SHARE)) * n
        lag = float(rng.uniform(-BODY_LAG, BODY_LAG))
        if not present:
            continue
        cue = CUE_TABLE[e]
        face_curve = _timeline(n, onset, rise) * intensity * face_gain
        for channel, aus in (("lower", cue.lower), ("upper", cue.upper)):
            if shown[channel]:
                face_layers.append((dict(aus), face_curve))
        if shown["body"]:
            body_curve = _timeline(n, onset + lag, rise) * intensity * body_gain
            for key, value in cue.body.items():
                if key in posture_add:
                    posture_add[key] += value * body_curve
                else:
                    posture_max[key] = np.maximum(posture_max[key], value * body_curve)
    # nuisance: talking, self-touch, resting posture, sway
    t = np.arange(n, dtype=np.float64)
    talk = np.zeros(n)
    if rng.uniform() < TALK_PROBABILITY:
        amp, period = rng.uniform(*TALK_AMPLITUDE), rng.uniform(4.0, 8.0)
        talk = amp * np.abs(np.sin(math.pi * t / period + rng.uniform(0, math.pi)))
    if rng.uniform() < SELF_TOUCH_PROBABILITY:
        touch = _timeline(n, rng.uniform(0.0, 0.5) * n, rng.uniform(0.2, 0.4) * n)
        posture_max["hand_to_face"] = np.maximum(
            posture_max["hand_to_face"], touch * rng.uniform(0.6, 1.0)
        )
    rest_lean, rest_slump = rng.uniform(-REST_POSTURE, REST_POSTURE, 2)
    sway_phase, sway_period = rng.uniform(0, 2 * math.pi), rng.uniform(20.0, 50.0)
    sway = SWAY * np.sin(2 * math.pi * t / sway_period + sway_phase)
    bounce_period, bounce_phase = rng.uniform(6.0, 10.0), rng.uniform(0, 2 * math.pi)
    bob = -BOUNCE_HEIGHT * np.minimum(posture_max["bounce"], 1.0)
    bob = bob * np.abs(np.sin(math.pi * t / bounce_period + bounce_phase))
    hand_side = 1.0 if rng.uniform() < 0.5 else -1.0
    aus, postures = [], []
    for i in range(n):
        layers = [
            {au: v * float(curve[i]) for au, v in layer.items()} for layer, curve in face_layers
        ]
        frame = combine_aus(*layers, {"AU26": float(talk[i])})
        aus.append({au: round(min(v, 1.0) / AU_STEP) * AU_STEP for au, v in frame.items()})
        postures.append(
            Posture(
                lean=_clip(rest_lean + posture_add["lean"][i], -1.0, 1.0),
                slump=_clip(rest_slump + posture_add["slump"][i], -1.0, 1.0),
                shrug=_clip(posture_max["shrug"][i], 0.0, 1.0),
                arm_raise=_clip(posture_max["arm_raise"][i], 0.0, 1.0),
                hand_to_face=_clip(posture_max["hand_to_face"][i], 0.0, 1.0),
                hand_side=hand_side,
                dx=float(sway[i]),
                bob=float(bob[i]),
            )
        )
    return {"aus": aus, "postures": postures}


def render_clip(seed: int, clip: ClipPlan, size: int = FRAME_SIZE) -> list[np.ndarray]:
    """The clip's frames (BGR uint8, ``size`` square), in order."""
    identity, outfit, face_gain, body_gain = child_look(seed, clip.child)
    rng = np.random.default_rng([seed, _CLIP, clip.child, clip.k])
    signals = clip_signals(clip, face_gain, body_gain, rng)
    background = room_background(rng, size)
    lighting = Lighting.sample(rng)
    heads = pose_track(clip.n_frames, rng, **HEAD_JITTER)
    return [
        render_scene(identity, outfit, aus, posture, background, rng, head=head, lighting=lighting)
        for aus, posture, head in zip(signals["aus"], signals["postures"], heads, strict=True)
    ]


def write_video(path: Path, frames: list[np.ndarray], fps: float = FPS) -> int:
    """Frames (BGR) as an mp4v ``.mp4`` with OpenCV; returns the number written."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise EmobenchError(f"{path}: OpenCV cannot write an mp4v video here")
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    return len(frames)


def _clip(value: float, lo: float, hi: float) -> float:
    return float(min(max(value, lo), hi))
