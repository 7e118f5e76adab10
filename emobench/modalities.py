"""Modalities: every model input declared once (DESIGN §2).

A :class:`Modality` names one input a protocol can offer and a model can read (``face``,
``eye`` …), the pack array that holds it, its kind, how one stored sample becomes a tensor in
the loader and how a batch of them becomes what the model sees. Protocols validate their
``inputs`` against this registry, the engine's dataset and loader convert through it, the
model spec takes its shapes from it, ``info`` describes packs with it, and FLOP counting asks
it which inputs are frame clips — none of them branch on an input's name.

Kinds:

==========  =====================  ========================================================
kind        stored per sample      model sees (per batch)
==========  =====================  ========================================================
frames      (T, H, W, C) uint8     (B, T, C, H, W) float in 0..1
image       (1, H, W, C) uint8     (B, C, H, W) float in 0..1
            or float32             (B, C, H, W) float32 as stored (a thermal matrix),
                                   z-scored with training statistics when ``standardise``
sequence    (S, F) float           (B, S, F) float32, z-scored with training statistics
                                   when ``standardise`` is set
map         (h, w) float           (B, 1, h, w) float32
==========  =====================  ========================================================

Frames stay uint8 through the loader and are converted per batch (:func:`to_model_inputs`):
the same arithmetic as per sample, a quarter of the memory traffic. A new track declares its
modalities with :func:`register_modality` in its own module (e.g. its prepare step), which the
registry discovers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from emobench.errors import ProtocolError
from emobench.registry import Registry

if TYPE_CHECKING:  # torch is imported where tensors are made, so the CLI starts fast
    import torch

KINDS = ("frames", "image", "sequence", "map")

MODALITIES: Registry[Modality] = Registry(
    "input", ("emobench.prepare",), error=ProtocolError
)  # steps may declare the modalities they write


@dataclass(frozen=True)
class Modality:
    name: str  # the input name protocols and models use
    key: str  # the pack array that holds it
    kind: str  # one of KINDS
    description: str
    standardise: bool = False  # z-score with statistics of the training part (per feature)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"modality {self.name!r}: kind {self.kind!r} is not one of {KINDS}")

    @property
    def group(self) -> str:
        """The pack group the array lives in; presence masks are kept per group."""
        return self.key.split("/", 1)[0]

    @property
    def is_clip(self) -> bool:
        """A clip of frames (its frame count and sampling must match the protocol's)."""
        return self.kind == "frames"

    @property
    def is_visual(self) -> bool:
        """Stored as pictures (frames or one image)."""
        return self.kind in ("frames", "image")

    def sample_tensor(self, array: np.ndarray, scale: Callable | None = None) -> torch.Tensor:
        """One stored sample as the loader hands it over."""
        import torch

        if self.is_visual and array.dtype == np.uint8:
            return torch.from_numpy(array)  # uint8; see batch_tensor()
        if self.is_visual:  # a float image (thermal): z-scored here when standardised
            values = scale(array) if scale is not None else array
            return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
        if self.kind == "map":
            return torch.from_numpy(array.astype(np.float32))[None]
        if scale is not None:
            return torch.from_numpy(np.ascontiguousarray(scale(array), dtype=np.float32))
        return torch.from_numpy(array.astype(np.float32))

    def batch_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """A collated batch as the model reads it."""
        import torch

        if not self.is_visual:
            return x
        if self.kind == "image":
            x = x[:, 0]
        x = x.movedim(-1, -3).contiguous()
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()

    def blank(self, like: np.ndarray) -> np.ndarray:
        """What a row that lacks this modality holds in a batch (zeros of a present row's
        shape); the batch's ``present`` mask says which rows are real."""
        return np.zeros_like(like)


def register_modality(modality: Modality) -> Modality:
    return MODALITIES.register(modality.name, modality)


def get_modality(name: str) -> Modality:
    return MODALITIES.get(name)


for _m in (
    Modality("face", "face/frames", "frames", "T face frames sampled over the clip (RGB)"),
    Modality("apex", "face/apex", "image", "the apex frame a spotting strategy chose (RGB)"),
    Modality("clip", "face/clip", "frames", "T frames from onset to the chosen apex (RGB)"),
    Modality(
        "eye",
        "eye/windows",
        "sequence",
        "eye-behaviour features per time window",
        standardise=True,
    ),
    Modality("gaze", "eye/gaze", "sequence", "mean gaze point per window, screen-centred"),
    Modality("fixmap", "eye/fixation_map", "map", "fixation density map (sums to 1)"),
):
    register_modality(_m)


def to_model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A loader batch as the model reads it: every registered input converted by its
    modality, everything else (targets, presence masks) passed through."""
    out = dict(batch)
    for name, x in batch.items():
        if name in MODALITIES:
            out[name] = get_modality(name).batch_tensor(x)
    return out
