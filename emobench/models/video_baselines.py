"""Baselines of the in-the-wild dynamic FER track: a static image CNN and a 3-D CNN.

- ``static-resnet18``: a 2-D ResNet-18 on every frame of ``batch["face"]``, average over time,
  dropout, linear head (the "static" baseline of the DFER literature, e.g. DFEW's ResNet-18).
- ``r2plus1d``: R(2+1)D-18 (:mod:`emobench.models.video_backbones`) over the clip, dropout,
  linear head (the 3-D baseline of DFEW and FERV39k).

Both are randomly initialised (nothing downloads). Frames are resized to ``input_size``² inside
the model: 112² in ``paper``, the usual DFER input for these two networks. The ``paper``
training settings are IFDD's (AdamW, weight decay 1e-3, batch 16, 100 epochs, cosine from 5e-5),
our choice, so that a comparison with ``ifdd`` differs only in the model. ``small`` keeps the
structure at a narrower width on 56² frames, at about the cost of ``ifdd``'s ``small`` config
(see ``emobench models --flops``). Every :class:`VideoBaselineConfig` field is an override key.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from emobench.models.backbones import FrameEncoder, resize_frames
from emobench.models.base import EmobenchModel
from emobench.models.configs import TrainSettings, configure
from emobench.models.registry import ModelSpec, register_model
from emobench.models.video_backbones import R2Plus1d18


@dataclass(frozen=True)
class VideoBaselineConfig(TrainSettings):
    width: int  # base width of the CNN (64 = the real ResNet-18 / R(2+1)D-18)
    input_size: int  # frames resized to input_size² inside the model (0 = keep)
    dropout: float  # before the linear head


_PAPER_TRAINING = {
    "epochs": 100,
    "batch_size": 16,
    "lr": 5e-5,
    "weight_decay": 1e-3,
    "optimizer": "adamw",
    "scheduler": "cosine",
}
_SMALL_TRAINING = {
    "epochs": 15,
    "batch_size": 16,
    "lr": 1e-3,
    "weight_decay": 1e-3,
    "optimizer": "adamw",
    "scheduler": "cosine",
}

STATIC_RESNET18_CONFIGS: dict[str, VideoBaselineConfig] = {
    "paper": VideoBaselineConfig(width=64, input_size=112, dropout=0.5, **_PAPER_TRAINING),
    "small": VideoBaselineConfig(width=20, input_size=56, dropout=0.3, **_SMALL_TRAINING),
}

R2PLUS1D_CONFIGS: dict[str, VideoBaselineConfig] = {
    "paper": VideoBaselineConfig(width=64, input_size=112, dropout=0.5, **_PAPER_TRAINING),
    "small": VideoBaselineConfig(width=8, input_size=56, dropout=0.3, **_SMALL_TRAINING),
}


class _VideoBaseline(EmobenchModel):
    """A clip encoder ``(B, T, 3, H, W)`` → ``(B, D)``, then dropout and a linear head."""

    cfg: VideoBaselineConfig

    def __init__(
        self, spec: ModelSpec, cfg: VideoBaselineConfig, encoder: nn.Module, out_features: int
    ):
        super().__init__(spec, cfg)
        self.encoder = encoder
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(out_features, spec.num_outputs)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        features = self.encoder(batch["face"])
        return {
            "output": self.task.head(self.head(self.dropout(features))),
            "features": features,
        }


class TemporalMean(nn.Module):
    """Per-frame ResNet-18 features averaged over time: ``(B, T, 3, H, W)`` → ``(B, 8·w)``."""

    def __init__(self, width: int, input_size: int | None):
        super().__init__()
        self.frames = FrameEncoder(width, input_size)
        self.out_features = self.frames.out_features

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.frames(clip).mean(dim=1)


class ClipToVolume(nn.Module):
    """Frames resized to ``input_size`` and laid out ``(B, 3, T, H, W)`` for R(2+1)D-18."""

    def __init__(self, width: int, input_size: int | None):
        super().__init__()
        self.input_size = input_size
        self.trunk = R2Plus1d18(width)
        self.out_features = self.trunk.out_features

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        b, t = clip.shape[:2]
        frames = resize_frames(clip.flatten(0, 1), self.input_size)
        return self.trunk(frames.unflatten(0, (b, t)).transpose(1, 2))


class StaticResNet18(_VideoBaseline):
    """ResNet-18 per frame → mean over time → dropout → linear head."""

    def __init__(self, spec: ModelSpec, cfg: VideoBaselineConfig):
        encoder = TemporalMean(cfg.width, cfg.input_size or None)
        super().__init__(spec, cfg, encoder, encoder.out_features)


class R2Plus1d(_VideoBaseline):
    """R(2+1)D-18 over the clip → dropout → linear head."""

    def __init__(self, spec: ModelSpec, cfg: VideoBaselineConfig):
        encoder = ClipToVolume(cfg.width, cfg.input_size or None)
        super().__init__(spec, cfg, encoder, encoder.out_features)


@register_model("static-resnet18", inputs=("face",))
def static_resnet18(spec: ModelSpec) -> StaticResNet18:
    """ResNet-18 on each frame, temporal average pooling, linear head."""
    cfg = configure("static-resnet18", STATIC_RESNET18_CONFIGS[spec.config], spec.overrides)
    return StaticResNet18(spec, cfg)


@register_model("r2plus1d", inputs=("face",))
def r2plus1d(spec: ModelSpec) -> R2Plus1d:
    """R(2+1)D-18 3-D CNN over the clip, linear head."""
    return R2Plus1d(spec, configure("r2plus1d", R2PLUS1D_CONFIGS[spec.config], spec.overrides))
