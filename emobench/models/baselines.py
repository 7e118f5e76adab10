"""Baselines that put EMERT's numbers in context: one modality, naive fusion, no model at all.

- ``face-only``: EMERT's ResNet-18 face encoder → temporal mean → head.
- ``eye-only``: EMERT's two LSTMs (eye features, gaze points); last step + time mean of each →
  head.
- ``late-fusion``: both branches trained jointly on the sum of their task losses; the output
  averages their class probabilities (returned as log-probabilities, so argmax and
  cross-entropy both make sense) or, for regression, their predictions.
- ``majority``: nothing to train; the most frequent training class (or the training mean).

The encoder sizes and training settings are EMERT's (:data:`EMERT_CONFIGS`), so a baseline and
EMERT with the same config name differ only in what EMERT adds. Every field of
:class:`BaselineConfig` (resp. :class:`MajorityConfig`) can be overridden through
``ModelSpec.overrides``. The baselines ignore ``aux_classes``/``aux_target``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import nn

from emobench.models.backbones import FrameEncoder, SequenceEncoder
from emobench.models.base import EmobenchModel
from emobench.models.configs import TrainSettings, configure
from emobench.models.emert import EMERT_CONFIGS
from emobench.models.registry import ModelSpec, register_model


@dataclass(frozen=True)
class BaselineConfig(TrainSettings):
    """The encoder and training fields of :class:`~emobench.models.emert.EmertConfig`."""

    dim: int  # LSTM hidden size
    face_width: int  # ResNet-18 base width
    face_size: int  # frames resized to face_size² inside the encoder (0 = keep)
    lstm_layers: int
    dropout: float  # on the pooled features before each head


BASELINE_CONFIGS: dict[str, BaselineConfig] = {
    name: BaselineConfig(**{f.name: getattr(cfg, f.name) for f in fields(BaselineConfig)})
    for name, cfg in EMERT_CONFIGS.items()
}


@dataclass(frozen=True)
class MajorityConfig:
    """``batch_size`` for evaluation; ``logit`` is the majority class's logit (others are 0)."""

    batch_size: int = 16
    logit: float = 10.0


class FaceBranch(nn.Module):
    """Face frames → ResNet-18 per frame → mean over time → dropout → linear head."""

    def __init__(self, cfg: BaselineConfig, num_outputs: int):
        super().__init__()
        self.encoder = FrameEncoder(cfg.face_width, cfg.face_size or None)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(self.encoder.out_features, num_outputs)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.dropout(self.encoder(batch["face"]).mean(1)))


class EyeBranch(nn.Module):
    """Eye features and gaze points → one LSTM each → [last step, mean] of both → head."""

    def __init__(self, cfg: BaselineConfig, eye_features: int, num_outputs: int):
        super().__init__()
        self.eye = SequenceEncoder(eye_features, cfg.dim, cfg.lstm_layers)
        self.gaze = SequenceEncoder(2, cfg.dim, cfg.lstm_layers)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(4 * cfg.dim, num_outputs)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        eye, gaze = self.eye(batch["eye"]), self.gaze(batch["gaze"])
        pooled = torch.cat([eye[:, -1], eye.mean(1), gaze[:, -1], gaze.mean(1)], dim=1)
        return self.head(self.dropout(pooled))


class FaceOnly(EmobenchModel):
    def __init__(self, spec: ModelSpec, cfg: BaselineConfig):
        super().__init__(spec, cfg)
        self.branch = FaceBranch(cfg, spec.num_outputs)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"output": self.task.head(self.branch(batch))}


class EyeOnly(EmobenchModel):
    def __init__(self, spec: ModelSpec, cfg: BaselineConfig):
        super().__init__(spec, cfg)
        self.branch = EyeBranch(cfg, spec.shape("eye-only", "eye")[-1], spec.num_outputs)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"output": self.task.head(self.branch(batch))}


class LateFusion(EmobenchModel):
    def __init__(self, spec: ModelSpec, cfg: BaselineConfig):
        super().__init__(spec, cfg)
        self.face = FaceBranch(cfg, spec.num_outputs)
        self.eye = EyeBranch(cfg, spec.shape("late-fusion", "eye")[-1], spec.num_outputs)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        face = self.task.head(self.face(batch))
        eye = self.task.head(self.eye(batch))
        output = self.task.combine([face, eye])
        return {"output": output, "face_output": face, "eye_output": eye}

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        target = batch["target"]
        return self.task_loss(out["face_output"], target) + self.task_loss(
            out["eye_output"], target
        )


class Majority(EmobenchModel):
    """Predicts a constant learnt by :meth:`observe_targets`; has no parameters."""

    trainable = False

    def __init__(self, spec: ModelSpec, cfg: MajorityConfig):
        train = TrainSettings(
            epochs=0,
            batch_size=cfg.batch_size,
            lr=0.0,
            weight_decay=0.0,
            optimizer="adam",
            scheduler="none",
        )
        super().__init__(spec, cfg, train)
        # the task's best constant: the majority class, the training mean, the label rates
        self.register_buffer("constant", torch.zeros(()))

    def observe_targets(self, targets: torch.Tensor) -> None:
        value = self.task.constant(torch.as_tensor(targets), self.num_outputs)
        self.constant = value.to(self.constant.dtype).clone()

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if not batch:
            raise ValueError("majority: the batch is empty, cannot tell its size")
        size = next(iter(batch.values())).shape[0]
        output = self.task.constant_output(self.constant, size, self.num_outputs, self.cfg.logit)
        return {"output": output}

    def describe(self) -> dict:
        info = super().describe()
        info.update(constant=self.constant.tolist())
        return info


def _baseline_config(name: str, spec: ModelSpec) -> BaselineConfig:
    return configure(name, BASELINE_CONFIGS[spec.config], spec.overrides)


@register_model("face-only", inputs=("face",))
def face_only(spec: ModelSpec) -> FaceOnly:
    """ResNet-18 over the face frames, mean over time, linear head."""
    return FaceOnly(spec, _baseline_config("face-only", spec))


@register_model("eye-only", inputs=("eye", "gaze"))
def eye_only(spec: ModelSpec) -> EyeOnly:
    """LSTMs over eye features and gaze points, pooled and concatenated, linear head."""
    return EyeOnly(spec, _baseline_config("eye-only", spec))


@register_model("late-fusion", inputs=("face", "eye", "gaze"))
def late_fusion(spec: ModelSpec) -> LateFusion:
    """face-only and eye-only trained jointly; their probabilities (or values) averaged."""
    return LateFusion(spec, _baseline_config("late-fusion", spec))


@register_model("majority", inputs=())
def majority(spec: ModelSpec) -> Majority:
    """The most frequent training class (or the training mean); no parameters."""
    return Majority(spec, configure("majority", MajorityConfig(), spec.overrides))
