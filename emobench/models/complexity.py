"""Parameters and FLOPs per clip of the registered models (``emobench models --flops``).

**FLOP convention**: one fused multiply-add = one FLOP (the fvcore / "GMACs" convention that
papers in this field quote). ``torch.utils.flop_counter`` counts two FLOPs per multiply-add for
convolutions and matrix products, so its total is halved. What is counted: convolutions and every
matrix product (linear layers, ``matmul``/``bmm``/``einsum``, hence the attention products);
what is not: normalisation, activations, softmax, pooling, resizing, ``grid_sample`` and other
element-wise work (fvcore counts normalisation too; for IFDD that is < 0.5 % of the total).

A model is measured when every input it reads is a frame clip (a modality of the ``frames``
kind, such as ``face`` or ``clip``: a ``(B, T, 3, H, W)`` batch): it is built for 7 classes and
run once on a reference clip of :data:`REFERENCE_FRAMES` frames of ``REFERENCE_SIDE[config]``²
pixels (``paper`` 224², ``small`` 112², the stored frame size of the packs). Models resize
frames to their own input size inside (:attr:`Complexity.model_side`), so a reference clip and
the network's input can differ. Other models get a row without numbers.

The model is built and run on the ``meta`` device only (shapes, no memory, no arithmetic), so
a paper-sized model costs a fraction of a second and counts the same as a CPU forward would.
There is no CPU fallback: a forward that cannot run on ``meta`` (one that reads a tensor's
values, e.g. ``.item()`` or data-dependent control flow) makes :func:`measure` raise, and such a
model has to be made meta-safe before its FLOPs can be listed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from emobench.modalities import get_modality
from emobench.models.registry import CONFIGS, ModelSpec, create_model, get_model_entry, model_names
from emobench.tasks import Classification

REFERENCE_FRAMES = 16
REFERENCE_SIDE = {"paper": 224, "small": 112}
REFERENCE_CLASSES = 7
FLOP_CONVENTION = (
    "1 fused multiply-add = 1 FLOP (torch.utils.flop_counter ÷ 2): convolutions and matrix "
    "products incl. attention; norms, activations, pooling and resizing not counted"
)


@dataclass(frozen=True)
class Complexity:
    """One model × config; ``None`` where a clip count does not apply."""

    model: str
    config: str | None
    frames: int | None = None  # reference clip: frames × 3 × side²
    side: int | None = None
    model_side: int | None = None  # frame side the network itself runs on
    params: int | None = None
    flops: int | None = None  # one multiply-add = one FLOP

    @property
    def gflops(self) -> float | None:
        return None if self.flops is None else self.flops / 1e9


def is_clip_model(name: str) -> bool:
    """True when the model reads only frame clips (inputs of the ``frames`` kind)."""
    inputs = get_model_entry(name).inputs
    return bool(inputs) and all(get_modality(i).is_clip for i in inputs)


def _model_side(model: torch.nn.Module, side: int) -> int:
    cfg = getattr(model, "cfg", None)
    for field in ("input_size", "face_size"):
        value = getattr(cfg, field, None)
        if value:
            return int(value)
    return side


def _count(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(batch)
    return counter.get_total_flops() // 2


def measure(
    name: str,
    config: str,
    *,
    frames: int = REFERENCE_FRAMES,
    side: int | None = None,
    classes: int = REFERENCE_CLASSES,
) -> Complexity:
    """Parameters and FLOPs (one multiply-add = one FLOP) of one clip model on one clip."""
    if not is_clip_model(name):
        raise ValueError(f"model {name!r} does not read frame clips only")
    side = side or REFERENCE_SIDE[config]
    spec = ModelSpec(
        task=Classification.name,
        num_outputs=classes,
        config=config,
        frames=frames,
        frame_size=side,
    )
    inputs = get_model_entry(name).inputs
    # built and run on the meta device: shapes only, no memory, no arithmetic
    with torch.device("meta"):
        model = create_model(name, spec).eval()
        batch = {i: torch.zeros(1, frames, 3, side, side) for i in inputs}
    flops = _count(model, batch)
    return Complexity(
        model=name,
        config=config,
        frames=frames,
        side=side,
        model_side=_model_side(model, side),
        params=sum(p.numel() for p in model.parameters()),
        flops=int(flops),
    )


def complexity_table(names: list[str] | None = None) -> list[Complexity]:
    """Every clip model × config measured; one row of ``None`` for each other model."""
    rows = []
    for name in names or model_names():
        if is_clip_model(name):
            rows.extend(measure(name, config) for config in CONFIGS)
        else:
            rows.append(Complexity(model=name, config=None))
    return rows
