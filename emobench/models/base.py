"""The contract between the engine and every registered model.

The engine feeds a *batch*: a dict of float32 tensors keyed by input name, plus targets:

=============  ======================  ===============================================
key            shape                   meaning
=============  ======================  ===============================================
``face``       (B, T, 3, H, W) in 0..1 T face frames sampled uniformly over the clip (RGB)
``eye``        (B, S, F)               eye-behaviour window features, z-scored with
                                       statistics of the *training* part only
``gaze``       (B, S, 2)               mean gaze point per window, screen-normalised,
                                       centred (0 = screen centre, ±0.5 = edges)
``fixmap``     (B, 1, h, w)            fixation density map (sums to 1)
``target``     (B,) long | (B,) float  the protocol's label
``aux_target`` (B,) long, optional     auxiliary label (e.g. FER-7 for intensity)
=============  ======================  ===============================================

A model returns a dict with at least ``output``: (B, C) logits for classification or (B,)
values for regression. ``loss(out, batch)`` returns the full training objective (task loss
plus the model's own auxiliary terms).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class TrainConfig:
    """How the engine trains a model (the paper settings live in each model's ``paper`` config)."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    optimizer: str = "adam"  # "adam" | "adamw"
    scheduler: str = "cosine"  # "cosine" | "none"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """Base of every model config dataclass: TrainConfig's fields, declared once, as the
    config's own (keyword-only, so a config's other fields keep their order and defaults)."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    optimizer: str  # "adam" | "adamw"
    scheduler: str  # "cosine" | "none"

    def train_config(self) -> TrainConfig:
        return TrainConfig(**{f.name: getattr(self, f.name) for f in fields(TrainConfig)})


class EmobenchModel(nn.Module):
    """Base class: a task head helper, the task loss, and the training settings."""

    trainable: bool = True

    def __init__(
        self,
        task: str,
        num_outputs: int,
        train_config: TrainConfig,
        *,
        cfg: Any = None,
        config_name: str = "",
    ):
        super().__init__()
        self.task = task
        self.num_outputs = num_outputs
        self.train_config = train_config
        self.cfg = cfg  # the model family's config dataclass (recorded in the results file)
        self.config_name = config_name

    def observe_targets(self, targets: torch.Tensor) -> None:
        """Called once with the training targets before training (priors, majority class)."""

    def task_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.task == "classification":
            return F.cross_entropy(output, target)
        return F.smooth_l1_loss(output.reshape(-1), target.float())

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.task_loss(out["output"], batch["target"])

    def describe(self) -> dict:
        """Full config for the results file."""
        return {
            "class": type(self).__name__,
            "task": self.task,
            "num_outputs": self.num_outputs,
            "parameters": sum(p.numel() for p in self.parameters()),
            "train": self.train_config.as_dict(),
            "config_name": self.config_name,
            "settings": asdict(self.cfg) if is_dataclass(self.cfg) else None,
        }
