"""A thermal layer on the shared face: the temperature map (°C) a long-wave infrared camera
would see of the face the renderer draws — same identity, action units and pose.

What a thermal image shows is skin temperature, set by blood flow, sweat and muscle heat under
the control of the autonomic nervous system (Ioannou, Gallese & Merla, "Thermal infrared
imaging in psychophysiology: potentialities and limits", Psychophysiology 51:951-963, 2014: a
review of 23 studies). So the map has no light in it — no shading, no gradient, no colour —
only tissue temperatures, optics and sensor noise:

- **geometry** comes from the renderer itself: the face is drawn once more with label colours
  (``render_face`` on an ``Identity`` whose colours name regions, twice the size, no light,
  no noise) and each pixel is assigned the temperature of what is drawn there; the face's
  canonical frame is recovered from ``face_landmarks``. Eyes, open mouth, hair fringe, ears
  and neck are exactly where the visible image has them.
- **resting temperatures** (``ThermalIdentity``, drawn per subject): a base skin temperature
  of 33.2 ± 0.45 °C at a 23.5 °C room, with warm inner canthi (+1.5 K on top of the
  periorbital region's +0.5 K: the warmest skin of the face), a warm forehead (+0.4 K),
  cooler cheeks (−0.3 K), a cool nose tip (−1.8 ± 0.6 K: the nose varies most between people)
  and bridge, warm lips, cool ears (−2 K); hair insulates, so its surface sits 30-50 % of the
  way from room to skin temperature. For scale: Translational Vision Science & Technology
  2022 ("Relative stability of regional facial and ocular temperature measurements in
  healthy individuals", 20 adults) measured forehead 33.4 ± 0.8 °C and inner canthus
  34.3 ± 0.7 °C; the layer's resting values lie within about 1 K of those. The open mouth
  shows the warm oral cavity (35.5 °C); skin seen at a grazing angle near the face's outline
  reads up to 1 K cooler (emissivity falls off at oblique view); eyebrows are 0.6 K and the
  open eye's surface 0.2 K cooler than the skin around them. Background: a wall at room
  temperature (21.5-25.5 °C per capture); skin follows the room by 0.2 K per K.
- **optics and sensor**: a Gaussian blur of 0.6 px (at the output size) and white noise of a
  NETD drawn per capture in 0.05-0.10 K; values are °C as float32.

Emotion changes regional temperatures — the **cue table**, written before anything was
trained on this world and not tuned after. ΔT in K at each region's centre (Gaussian regions,
peak 1), at full response:

============  ===========  ========  ======  ========  ========
emotion       periorbital  forehead  cheeks  nose tip  perioral
============  ===========  ========  ======  ========  ========
Neutral          0           0        0        0         0
Happiness        0          +0.2     +0.4     −0.2      +0.3
Surprise        +0.4         0       −0.3     −0.4       0
Fear            +0.3        −0.2     −0.4     −0.8      −0.2
Anger           +0.2        +0.5     +0.3     −0.3       0
Sadness          0          −0.1     −0.1     −0.3      −0.1
Disgust          0          −0.1     −0.2     −0.5       0
============  ===========  ========  ======  ========  ========

Sources (read as abstracts or summaries; page numbers not checked) and reasons:

- **nose tip** — the most reported cue: it cools with emotional arousal whatever the valence
  (De Zorzi et al., Autonomic Neuroscience 2015; Kosonogov et al., "Facial thermal
  variations: a new marker of emotional arousal", PLoS ONE 2017: larger nose-tip cooling for
  pleasant and unpleasant than for neutral pictures, no valence difference), with stress
  (Engert et al., PLoS ONE 2014) and with negative valence (Salazar-López et al., Conscious.
  Cogn. 2015; Aristizabal-Tique et al., J. Therm. Biol. 2023: nose cooler under both
  valences). So the strongest cooling is for fear (negative and high arousal), then disgust
  (Goulart et al., PLoS ONE 2019: disgust among the strongest triggers in children, nasal
  cooling tracking valence), surprise, anger and sadness (low arousal: small). Happiness:
  Salazar-López et al. report nose *warming* with positive emotion against Kosonogov et al.'s
  cooling; emobench takes a small cooling (−0.2) between the two.
- **periorbital warming, cheek cooling** — Levine, Pavlidis & Cooper, "The face of fear"
  (Lancet 2001): a sudden startle warmed the periorbital region and cooled the cheeks in all
  six subjects (blood shifted to the eye musculature, away from the cheeks). Surprise is
  emobench's stand-in for the startle (sudden, high arousal), fear shares it; both are kept
  modest because Gane et al. (PLoS ONE 2011) found no substantial periorbital change after a
  102 dB startle in 11 adults. Fear's cheek cooling also follows Drummond (Pers. Individ.
  Differ. 1997: pallor is linked with fear, flushing with anger).
- **anger: forehead and cheeks warm** — Drummond, "Facial flushing during provocation in
  women" (Psychophysiology 1999): facial blood flow rose with provocation, vasodilatation
  competing with cutaneous vasoconstriction (hence still a small nose cooling). Anger's small
  periorbital warming (+0.2) is emobench's choice (an aroused, vigilant state; Levine et al.).
- **happiness: cheeks, forehead and mouth warm** — Drummond's study of anger and pleasure
  ("the face flushes with joy": cheek blood flow rose after a pleasant surprise bonus) and
  Ioannou et al. (Front. Hum. Neurosci. 2017: a compliment warmed cheeks and forehead). The
  perioral warming (+0.3) is emobench's choice: heat of the smile's muscles, in the spirit of
  the chewing example in Levine et al. (muscle work warms the skin above it) and of the
  review's "muscular activity" as one source of the thermal print.
- **negative valence, elsewhere** — Aristizabal-Tique et al. report small decreases in
  forehead, periorbital, cheek and upper-lip temperature under negative valence: emobench
  gives fear, sadness and disgust small forehead and cheek coolings (−0.1 to −0.2; fear's
  cheeks −0.4, after Levine et al.) and fear and sadness a perioral one (−0.2, −0.1).
  Where this disagrees with Levine et al.'s periorbital warming, emobench follows Levine et
  al. for fear and surprise and puts 0 for sadness and disgust.

Posed expressions (Tufts) carry a weaker response: voluntary facial action does produce
emotion-specific autonomic changes (Levenson, Ekman & Friesen, Psychophysiology 1990), but no
emotion was induced, so the writer scales the response (``POSED_RESPONSE``), an emobench
choice.

**Per-capture variability**, so that thermal carries a real but imperfect signal: each
capture's response intensity is drawn in ``RESPONSE_RANGE`` (0.4-1.2) and multiplied by the
subject's reactivity (log-normal, sd 0.35: strong and weak responders) and by a per-subject,
per-region reactivity (1 ± 0.25, clipped at 0.2) and a per-capture, per-region factor (1 ± 0.3,
clipped at 0); on top, regions fluctuate independently of emotion (sd 0.08-0.25 K, the nose most: it
also follows breathing and vasomotion) and the whole face drifts with the session (sd 0.25 K;
Christensen et al., Dentomaxillofac. Radiol. 2012, measured up to 1 °C between sessions).
The response is drawn independently of the visible expression's intensity: expressive and
autonomic channels are loosely coupled (an emobench choice), so each modality can be weak
where the other is strong.

The map shares the face's geometry *and its action units* with the visible image (an open
mouth shows the warm mouth interior, raised brows move the warm brow line), so a thermal
image carries the expression's shape as well as the cue table's temperatures: a model
reading thermal alone reads both.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from emobench.datasets.synth.face_renderer import (
    Identity,
    Pose,
    face_landmarks,
    render_face,
)

REGIONS: tuple[str, ...] = ("periorbital", "forehead", "cheeks", "nose_tip", "perioral")

CUES: dict[str, dict[str, float]] = {
    "Neutral": {},
    "Happiness": {"forehead": 0.2, "cheeks": 0.4, "nose_tip": -0.2, "perioral": 0.3},
    "Surprise": {"periorbital": 0.4, "cheeks": -0.3, "nose_tip": -0.4},
    "Fear": {
        "periorbital": 0.3,
        "forehead": -0.2,
        "cheeks": -0.4,
        "nose_tip": -0.8,
        "perioral": -0.2,
    },
    "Anger": {"periorbital": 0.2, "forehead": 0.5, "cheeks": 0.3, "nose_tip": -0.3},
    "Sadness": {"forehead": -0.1, "cheeks": -0.1, "nose_tip": -0.3, "perioral": -0.1},
    "Disgust": {"forehead": -0.1, "cheeks": -0.2, "nose_tip": -0.5},
}
"""ΔT (K) per emotion and region at full response: the cue table of the module docstring."""

RESPONSE_RANGE = (0.4, 1.2)  # per-capture response intensity
REGION_JITTER = 0.3  # sd of the per-capture, per-region factor around 1
FLUCTUATION_SD: dict[str, float] = {  # K, per capture, independent of emotion
    "periorbital": 0.08,
    "forehead": 0.10,
    "cheeks": 0.12,
    "nose_tip": 0.25,
    "perioral": 0.12,
}
SESSION_DRIFT_SD = 0.25  # K, whole face, per capture
ROOM_RANGE = (21.5, 25.5)  # °C
ROOM_REFERENCE = 23.5  # °C: the room at which ThermalIdentity's skin temperature holds
SKIN_FOLLOWS_ROOM = 0.2  # K of skin per K of room
NETD_RANGE = (0.05, 0.10)  # K
OPTICS_SIGMA = 0.6  # px at the output size
MOUTH_CAVITY = 35.5  # °C
TEETH = 34.0  # °C
EDGE_COOLING = 1.0  # K at the face outline
EDGE_SCALE = 0.02  # canonical units (image side = 1) over which the edge cooling fades
BROW_OFFSET = -0.6  # K
CORNEA_OFFSET = -0.2  # K: the open eye's surface, cooled by evaporation, below the lids' skin
LIP_OFFSET = 0.5  # K above the surrounding (perioral) skin
LENS_SHARE = 0.35  # sunglass lens: this share of the way from room to skin temperature
_SUPERSAMPLE = 2


@dataclass(frozen=True)
class ThermalIdentity:
    """One subject's resting temperatures (°C and K offsets) and autonomic reactivity."""

    skin: float = 33.2  # base skin temperature, °C, at ROOM_REFERENCE
    canthus: float = 1.5  # inner canthi hot spot, K above skin
    periorbital: float = 0.5
    forehead: float = 0.4
    cheeks: float = -0.3
    nose_tip: float = -1.8
    perioral: float = 0.3
    ear: float = -2.0
    hair_insulation: float = 0.4  # hair surface: this share of the way from room to skin
    reactivity: float = 1.0  # overall autonomic gain
    region_reactivity: tuple[float, ...] = (1.0,) * len(REGIONS)

    @classmethod
    def sample(cls, rng: np.random.Generator) -> ThermalIdentity:
        return cls(
            skin=float(rng.normal(33.2, 0.45)),
            canthus=float(rng.normal(1.5, 0.25)),
            periorbital=float(rng.normal(0.5, 0.2)),
            forehead=float(rng.normal(0.4, 0.3)),
            cheeks=float(rng.normal(-0.3, 0.3)),
            nose_tip=float(rng.normal(-1.8, 0.6)),
            perioral=float(rng.normal(0.3, 0.2)),
            ear=float(rng.normal(-2.0, 0.5)),
            hair_insulation=float(rng.uniform(0.3, 0.5)),
            reactivity=float(np.exp(rng.normal(0.0, 0.35))),
            region_reactivity=tuple(
                float(v) for v in np.clip(rng.normal(1.0, 0.25, len(REGIONS)), 0.2, None)
            ),
        )

    def offset(self, region: str) -> float:
        return float(getattr(self, region))


@dataclass(frozen=True)
class ThermalConditions:
    """What one capture session adds: room temperature, drift, emotion-free fluctuations of
    each region, and the sensor's noise level."""

    room: float = ROOM_REFERENCE
    drift: float = 0.0
    fluctuation: tuple[float, ...] = (0.0,) * len(REGIONS)
    netd: float = 0.07

    @classmethod
    def sample(cls, rng: np.random.Generator) -> ThermalConditions:
        return cls(
            room=float(rng.uniform(*ROOM_RANGE)),
            drift=float(rng.normal(0.0, SESSION_DRIFT_SD)),
            fluctuation=tuple(float(rng.normal(0.0, FLUCTUATION_SD[r])) for r in REGIONS),
            netd=float(rng.uniform(*NETD_RANGE)),
        )


def capture_response(
    emotion: str, thermal: ThermalIdentity, rng: np.random.Generator, *, scale: float = 1.0
) -> dict[str, float]:
    """ΔT (K) per region of one capture of ``emotion``: the cue table times this capture's
    intensity, the subject's reactivity (overall and per region) and a per-region jitter;
    ``scale`` weakens it (posed expressions). Always draws the same numbers from ``rng``."""
    if emotion not in CUES:
        raise ValueError(f"no thermal cues for {emotion!r}; known: {', '.join(CUES)}")
    intensity = float(rng.uniform(*RESPONSE_RANGE)) * thermal.reactivity * scale
    jitter = np.clip(rng.normal(1.0, REGION_JITTER, len(REGIONS)), 0.0, None)
    cues = CUES[emotion]
    return {
        region: cues.get(region, 0.0) * intensity * thermal.region_reactivity[k] * float(jitter[k])
        for k, region in enumerate(REGIONS)
    }


def render_thermal(
    identity: Identity,
    thermal: ThermalIdentity,
    aus: Mapping[str, float],
    size: int,
    rng: np.random.Generator,
    *,
    pose: Pose = Pose(),
    conditions: ThermalConditions = ThermalConditions(),
    response: Mapping[str, float] | None = None,
    eyes_closed: bool = False,
    sunglasses: bool = False,
) -> np.ndarray:
    """The temperature map (°C, (size, size) float32) of ``identity``'s face showing ``aus``
    at ``pose``; ``response`` is the capture's ΔT per region (``capture_response``)."""
    big = size * _SUPERSAMPLE
    labels, silhouette = _labels(identity, _au_key(aus), big, pose)
    frame = face_frame(identity, aus, big, pose=pose)
    u, v = _canonical_grid(frame, big)
    geo = _Geometry.of(identity, aus)
    skin = thermal.skin + SKIN_FOLLOWS_ROOM * (conditions.room - ROOM_REFERENCE)
    skin += conditions.drift
    response = dict(response or {})
    unknown = set(response) - set(REGIONS)
    if unknown:
        raise ValueError(f"unknown regions {sorted(unknown)}; known: {', '.join(REGIONS)}")
    blobs = geo.blobs(u, v)
    field = np.full((big, big), skin, np.float64)
    field += thermal.canthus * blobs["canthus"]
    for k, region in enumerate(REGIONS):
        change = thermal.offset(region) + conditions.fluctuation[k] + response.get(region, 0.0)
        field += change * blobs[region]
    field -= 0.5 * blobs["bridge"]
    face = labels == _FACE
    inside = cv2.distanceTransform(silhouette, cv2.DIST_L2, 3)  # to the outline, in pixels
    scale = big * pose.scale
    field -= EDGE_COOLING * np.exp(-inside / (EDGE_SCALE * scale))
    room = conditions.room
    temps = np.full((big, big), room, np.float64)
    hair = room + thermal.hair_insulation * (skin - room)
    temps[labels == _HAIR] = hair
    temps[labels == _EAR] = skin + thermal.ear
    temps[labels == _NECK] = skin + 0.3
    eye = field if eyes_closed else field + CORNEA_OFFSET
    temps = np.where(face, field, temps)
    temps = np.where(labels == _BROW, field + BROW_OFFSET, temps)
    temps = np.where(labels == _LIPS, field + LIP_OFFSET, temps)
    temps = np.where(labels == _EYE, eye, temps)
    temps[labels == _MOUTH] = MOUTH_CAVITY + SKIN_FOLLOWS_ROOM * (room - ROOM_REFERENCE)
    temps[labels == _TEETH] = TEETH + SKIN_FOLLOWS_ROOM * (room - ROOM_REFERENCE)
    if sunglasses:
        lens = np.zeros((big, big), np.uint8)
        outlines = lens_outlines(identity, aus, big, pose=pose)
        cv2.fillPoly(lens, [np.round(p * 16).astype(np.int32) for p in outlines], 1, cv2.LINE_8, 4)
        temps[lens > 0] = room + LENS_SHARE * (skin - room)
    out = cv2.resize(temps.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    out = cv2.GaussianBlur(out, (0, 0), OPTICS_SIGMA)
    out += rng.normal(0.0, conditions.netd, out.shape).astype(np.float32)
    return out


def face_frame(
    identity: Identity, aus: Mapping[str, float], size: int, *, pose: Pose = Pose()
) -> np.ndarray:
    """The 2×3 affine map from the renderer's canonical face units (image side = 1, origin at
    the face centre, y down) to pixel positions (x, y) of ``face_landmarks`` at ``size`` and
    ``pose``, recovered from the landmarks themselves (least squares, exact up to rounding)."""
    canonical = _points(face_landmarks(identity, aus, 1)) - 0.5
    pixels = _points(face_landmarks(identity, aus, size, pose=pose))
    design = np.hstack([canonical, np.ones((len(canonical), 1))])
    solution, *_ = np.linalg.lstsq(design, pixels, rcond=None)
    return solution.T


def lens_outlines(
    identity: Identity, aus: Mapping[str, float], size: int, *, pose: Pose = Pose()
) -> list[np.ndarray]:
    """Pixel polygons (float, x/y, pixel centres at integers as in ``cv2.fillPoly``) of a pair
    of sunglass lenses and their bridge over the eyes, for the visible and thermal layers."""
    geometry = _Geometry.of(identity, aus)
    frame = face_frame(identity, aus, size, pose=pose)
    t = np.linspace(0.0, 2.0 * np.pi, 40, endpoint=False)
    rx, ry = geometry.eye_w * 1.6, geometry.eye_w * 0.95
    polygons = []
    for side in (-1.0, 1.0):
        cx, cy = side * geometry.eye_x, geometry.eye_y + 0.008
        polygons.append(np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1))
    inner = geometry.eye_x - rx * 0.9
    polygons.append(
        np.array(
            [
                [-inner, geometry.eye_y - 0.012],
                [inner, geometry.eye_y - 0.012],
                [inner, geometry.eye_y + 0.004],
                [-inner, geometry.eye_y + 0.004],
            ]
        )
    )
    return [poly @ frame[:, :2].T + frame[:, 2] - 0.5 for poly in polygons]


def region_masks(
    identity: Identity, aus: Mapping[str, float], size: int, *, pose: Pose = Pose()
) -> dict[str, np.ndarray]:
    """Per cue region, its Gaussian weight (peak 1) at each pixel of a ``size`` image, and
    ``face``: the pixels of tissue the cues change (skin, lips, brows, eyes; not hair, ears,
    neck, the mouth's cavity or teeth), as bool; for measuring what a map shows per region."""
    frame = face_frame(identity, aus, size, pose=pose)
    u, v = _canonical_grid(frame, size)
    blobs = _Geometry.of(identity, aus).blobs(u, v)
    big, _ = _labels(identity, _au_key(aus), size * _SUPERSAMPLE, pose)
    tissue = np.isin(big, (_FACE, _LIPS, _BROW, _EYE)).astype(np.float32)
    face = cv2.resize(tissue, (size, size), interpolation=cv2.INTER_AREA)
    masks = {region: blobs[region].astype(np.float32) for region in REGIONS}
    masks["face"] = face > 0.99
    return masks


# ----------------------------------------------------------------------------------------------
# Geometry: the canonical face recovered from the landmarks.


@dataclass(frozen=True)
class _Geometry:
    eye_x: float
    eye_y: float
    eye_w: float
    nose_y: float
    mouth_y: float
    mouth_w: float
    face_w: float
    face_top: float

    @classmethod
    def of(cls, identity: Identity, aus: Mapping[str, float]) -> _Geometry:
        marks = {k: np.asarray(p) - 0.5 for k, p in face_landmarks(identity, aus, 1).items()}
        contour = marks["contour"]
        return cls(
            eye_x=float(marks["right_eye"][0]),
            eye_y=float(marks["right_eye"][1]),
            eye_w=0.062 * identity.eye_size,  # the renderer's eye half-width
            nose_y=float(marks["nose_tip"][1]),
            mouth_y=float((marks["mouth_left"][1] + marks["mouth_right"][1]) / 2.0),
            mouth_w=float(marks["mouth_right"][0] - marks["mouth_left"][0]) / 2.0,
            face_w=float(contour[:, 0].max()),
            face_top=float(-contour[:, 1].min()),
        )

    def blobs(self, u: np.ndarray, v: np.ndarray) -> dict[str, np.ndarray]:
        """Gaussian weights (peak 1) of each region over canonical coordinates (u, v)."""
        ex, ey, ew = self.eye_x, self.eye_y, self.eye_w

        def blob(cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
            return np.exp(-0.5 * (((u - cx) / sx) ** 2 + ((v - cy) / sy) ** 2))

        def pair(cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
            return np.maximum(blob(-cx, cy, sx, sy), blob(cx, cy, sx, sy))

        return {
            "canthus": pair(ex - 0.9 * ew, ey + 0.005, 0.016, 0.014),
            "periorbital": pair(ex * 0.9, ey, 0.055, 0.035),
            "forehead": blob(0.0, ey - 0.17, 0.16, 0.07),
            "cheeks": pair(ex + 0.03, ey + 0.13, 0.06, 0.055),
            "nose_tip": blob(0.0, self.nose_y - 0.01, 0.035, 0.03),
            "bridge": blob(0.0, (ey + self.nose_y) / 2.0, 0.022, 0.05),
            "perioral": blob(0.0, self.mouth_y, max(self.mouth_w, 0.06) * 1.1, 0.04),
        }


def _points(marks: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([np.atleast_2d(np.asarray(p, np.float64)) for p in marks.values()])


def _canonical_grid(frame: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Canonical (u, v) of every pixel centre of a ``size`` image whose face is in ``frame``."""
    inverse = cv2.invertAffineTransform(frame)
    centres = np.arange(size, dtype=np.float64) + 0.5
    x, y = np.meshgrid(centres, centres)
    u = inverse[0, 0] * x + inverse[0, 1] * y + inverse[0, 2]
    v = inverse[1, 0] * x + inverse[1, 1] * y + inverse[1, 2]
    return u, v


# ----------------------------------------------------------------------------------------------
# Labels: the face drawn by the renderer in colours that name its parts.

_BACKGROUND, _HAIR, _BROW, _FACE, _EAR, _NECK, _LIPS, _EYE, _MOUTH, _TEETH = range(10)
_SKIN = 100  # any skin shade before it is split into face, ear and neck
_WHITE = 101  # sclera or teeth
_DARK = 102  # pupil or mouth cavity

_LABEL_IDENTITY_COLOURS = {
    "skin_bgr": (40, 110, 240),
    "hair_bgr": (255, 0, 255),
    "background_bgr": (0, 255, 0),
    "lip_bgr": (240, 40, 40),
    "iris_bgr": (0, 200, 200),
}


@functools.cache
def _references() -> tuple[np.ndarray, np.ndarray]:
    """Reference colours (BGR) of every part the renderer can draw with the label identity,
    and the label each stands for."""
    c = {k: np.array(v, np.float64) for k, v in _LABEL_IDENTITY_COLOURS.items()}
    refs: list[tuple[np.ndarray, int]] = [
        (c["background_bgr"], _BACKGROUND),
        (c["hair_bgr"], _HAIR),
        (c["hair_bgr"] * 0.5, _BROW),
        (c["lip_bgr"], _LIPS),
        (c["lip_bgr"] * 0.45, _LIPS),
        (c["iris_bgr"], _EYE),
        (np.array([235.0, 238.0, 240.0]), _WHITE),
        (np.array([225.0, 232.0, 236.0]), _WHITE),
        (np.array([20.0, 20.0, 20.0]), _DARK),
        (np.array([35.0, 30.0, 50.0]), _DARK),
    ]
    for shade in (0.3, 0.45, 0.55, 0.65, 0.78, 0.82, 0.85, 0.9, 1.0):
        refs.append((c["skin_bgr"] * shade, _SKIN))
    for blush in (1.0, 0.94):
        refs.append((c["skin_bgr"] * np.array([0.93, 0.9, 1.0]) * blush, _SKIN))
    colours = np.stack([r for r, _ in refs])
    labels = np.array([lab for _, lab in refs], np.int16)
    return colours, labels


def _au_key(aus: Mapping[str, float]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((k, float(v)) for k, v in aus.items()))


@functools.lru_cache(maxsize=64)
def _labels(
    identity: Identity, aus: tuple[tuple[str, float], ...], size: int, pose: Pose
) -> tuple[np.ndarray, np.ndarray]:
    """(size, size) int16 label map of the drawn face (see the label constants) and the uint8
    mask of its outline's inside (the face's silhouette, hair fringe included)."""
    labelled = dataclasses.replace(identity, **_LABEL_IDENTITY_COLOURS)
    drawing = render_face(
        labelled, dict(aus), size, np.random.default_rng(0), pose=pose, noise_sd=0.0
    )
    colours, kinds = _references()
    flat = drawing.reshape(-1, 3).astype(np.int32)
    keys = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    unique, inverse = np.unique(keys, return_inverse=True)  # a drawing has few colours
    drawn = np.stack([unique >> 16, (unique >> 8) & 255, unique & 255], 1).astype(np.float64)
    nearest = np.argmin(((drawn[:, None, :] - colours[None]) ** 2).sum(axis=2), axis=1)
    labels = kinds[nearest][inverse].reshape(size, size)
    frame = face_frame(identity, dict(aus), size, pose=pose)
    u, v = _canonical_grid(frame, size)
    geo = _Geometry.of(identity, dict(aus))
    upper = v < (geo.eye_y + geo.nose_y) / 2.0
    labels = np.where((labels == _WHITE) & upper, _EYE, labels)
    labels = np.where((labels == _WHITE) & ~upper, _TEETH, labels)
    labels = np.where((labels == _DARK) & upper, _EYE, labels)
    labels = np.where((labels == _DARK) & ~upper, _MOUTH, labels)
    for side in (-1.0, 1.0):  # lid lines share the brows' colour: they belong to the eye
        lid = ((u - side * geo.eye_x) / (1.3 * geo.eye_w)) ** 2 + ((v - geo.eye_y) / 0.06) ** 2
        labels = np.where((labels == _BROW) & (lid < 1.0), _EYE, labels)
    outline = face_landmarks(identity, dict(aus), size, pose=pose)["contour"]
    inside = np.zeros((size, size), np.uint8)
    cv2.fillPoly(inside, [np.round((outline - 0.5) * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    skin = labels == _SKIN
    ear = skin & (inside == 0) & (np.abs(u) > 0.8 * geo.face_w) & (v < geo.eye_y + 0.15)
    labels = np.where(skin & (inside > 0), _FACE, labels)
    labels = np.where(ear, _EAR, labels)
    labels = np.where(skin & (inside == 0) & ~ear, _NECK, labels)
    labels.flags.writeable = False
    inside.flags.writeable = False
    return labels, inside
