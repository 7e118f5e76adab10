"""TSN (Wang et al., "Temporal Segment Networks", ECCV 2016) with optional TSM shift (Lin et
al., ICCV 2019): the networks of the EmoReact body-expression paper's code
(nkegke/deep-affective-bodily-expression-recognition, ``EmoReact/models.py``).

``tsn`` reads ``face``. A clip's ``T`` stored frames are cut into ``segments`` (K) segments
of equal duration — segment ``k`` holds frames ``k·T//K`` up to ``(k+1)·T//K`` (at least one
frame; with ``T < K`` a frame serves several segments) — and one frame is taken from each
(:func:`segment_indices`):

- training: a frame drawn uniformly inside each segment, independently per clip, from torch's
  global random generator (which the engine seeds with the run's seed), so a run is
  repeatable;
- evaluation: the centre frame of each segment, ``(start + end) // 2``.

When ``K`` divides ``T`` (EmoReact's 10 frames, 5 segments) both rules are exactly the paper
code's (``_sample_indices`` / ``_get_val_indices`` of its ``dataset.py``, also MMAction2's
``SampleFrames``). Each chosen frame runs through a 2-D ResNet (``backbone``: ``resnet18`` or
``resnet50``, at ``width``, frames resized to ``input_size``² inside), then dropout and one
linear layer give per-frame scores; the segmental consensus is their average (TSN's ``avg``
consensus, before any softmax/sigmoid). ``shift=True`` adds TSM's residual temporal shift
(1/``shift_div`` of the channels each way) in every residual block
(:mod:`emobench.models.temporal_shift`); the K frames of a clip are then one short video.

``tsn-fusion`` reads ``face`` and ``body`` (the same K frame positions for both when they hold
the same number of frames): one TSN per stream (``shared=True``: one network for both crops,
as the paper's code actually runs it). ``fusion="score"``: the output is the mean of the two
streams' consensus scores, and the training loss is the sum of the two streams' task losses
(the paper code's ``trainer.py``: each crop's output is supervised, their average is scored).
``fusion="cat"``: the two consensus features (per-frame features averaged) are concatenated
and one dropout + linear head reads them. The paper's ``--modalities_fusion`` defaults to
``cat``, but its model never reads that option: the run it reports is score fusion.

Configs. ``paper``: ResNet-50, 224² input, 5 segments, dropout 0.5, SGD lr 0.01 momentum 0.9
weight decay 5e-4, batch 8, MultiStepLR milestones [20, 40] ×0.1, 12 epochs (the code's
``config.json`` and ``train_EmoReact.py`` defaults). Its milestones lie beyond its 12 epochs,
so the learning rate stays at 0.01 for the whole run; they are kept as recorded. The paper's
backbones start from AffectNet weights that are not public; here they are randomly
initialised, and the paper code's partial BatchNorm (every BN but the first frozen, a
fine-tuning device) is not used, since freezing untrained BatchNorm would leave the network
unnormalised. Gradient clipping is off as in the paper code (``clip_grad`` > 0 turns it on).
``small``: ResNet-18 at width 16 on 112² frames, 5 segments, AdamW lr 1e-3 with a cosine
schedule over 15 epochs (randomly initialised networks on a few dozen clips train poorly with
the paper's SGD at 0.01; how the choice was made is in CHANGELOG.md).

Every field of :class:`TSNConfig` (and :class:`TSNFusionConfig`) is an override key, e.g.
``--set shift=true``, ``--set fusion=cat``, ``--set milestones=[6,9]``,
``--set backbone=resnet50``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from emobench.errors import ProtocolError
from emobench.models.backbones import ResNet18
from emobench.models.base import EmobenchModel, Optimizers
from emobench.models.bottleneck_resnet import ResNet50
from emobench.models.configs import TrainSettings, configure
from emobench.models.registry import ModelSpec, register_model
from emobench.models.sgd_schedule import check_schedule, make_optimizer
from emobench.models.temporal_shift import add_temporal_shift

BACKBONES = {"resnet18": ResNet18, "resnet50": ResNet50}
FUSIONS = ("score", "cat")
TASKS = ("classification", "multilabel", "regression")


@dataclass(frozen=True)
class TSNConfig(TrainSettings):
    backbone: str  # "resnet18" | "resnet50"
    width: int  # base width of the ResNet (64 = the real network)
    input_size: int  # frames resized to input_size² inside the model (0 = keep)
    segments: int  # K: frames per clip the network sees, one per segment
    dropout: float  # before the per-frame linear head
    shift: bool  # TSM's residual temporal shift in every block
    shift_div: int  # 1/shift_div of the channels shifted each way
    momentum: float  # SGD momentum
    milestones: tuple[int, ...]  # multistep: epochs after which lr is multiplied by gamma
    gamma: float  # multistep decay factor
    clip_grad: float  # max gradient L2 norm per update (0 = no clipping)


@dataclass(frozen=True)
class TSNFusionConfig(TSNConfig):
    fusion: str  # "score" (late: mean of stream scores) | "cat" (consensus features joined)
    shared: bool  # one network (and head) for both streams, as the paper's code runs it


_PAPER_TRAINING = {
    "epochs": 12,
    "batch_size": 8,
    "lr": 0.01,
    "weight_decay": 5e-4,
    "optimizer": "sgd",
    "scheduler": "multistep",
    "momentum": 0.9,
    "milestones": (20, 40),
    "gamma": 0.1,
    "clip_grad": 0.0,
}
_SMALL_TRAINING = {
    "epochs": 15,
    "batch_size": 8,
    "lr": 1e-3,
    "weight_decay": 5e-4,
    "optimizer": "adamw",
    "scheduler": "cosine",
    "momentum": 0.9,
    "milestones": (10,),
    "gamma": 0.1,
    "clip_grad": 0.0,
}
_PAPER_NETWORK = {
    "backbone": "resnet50",
    "width": 64,
    "input_size": 224,
    "segments": 5,
    "dropout": 0.5,
    "shift": False,
    "shift_div": 8,
}
_SMALL_NETWORK = {
    "backbone": "resnet18",
    "width": 16,
    "input_size": 112,
    "segments": 5,
    "dropout": 0.5,
    "shift": False,
    "shift_div": 8,
}

TSN_CONFIGS: dict[str, TSNConfig] = {
    "paper": TSNConfig(**_PAPER_NETWORK, **_PAPER_TRAINING),
    "small": TSNConfig(**_SMALL_NETWORK, **_SMALL_TRAINING),
}
TSN_FUSION_CONFIGS: dict[str, TSNFusionConfig] = {
    name: TSNFusionConfig(**{**vars(cfg), "fusion": "score", "shared": False})
    for name, cfg in TSN_CONFIGS.items()
}


def segment_bounds(frames: int, segments: int) -> list[tuple[int, int]]:
    """``[start, end)`` of each of ``segments`` equal-duration segments of ``frames`` frames
    (each at least one frame long)."""
    if frames < 1 or segments < 1:
        raise ValueError(f"segments of {frames} frames into {segments} parts")
    bounds = []
    for k in range(segments):
        start = k * frames // segments
        bounds.append((start, max((k + 1) * frames // segments, start + 1)))
    return bounds


def segment_indices(
    batch: int,
    frames: int,
    segments: int,
    training: bool,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``(batch, segments)`` frame indices: a uniform draw inside each segment per clip when
    ``training`` (from ``generator``, default torch's global generator), else each segment's
    centre frame. A CPU long tensor."""
    bounds = segment_bounds(frames, segments)
    starts = torch.tensor([s for s, _ in bounds])
    if not training:
        centres = torch.tensor([(s + e) // 2 for s, e in bounds])
        return centres.expand(batch, segments).clone()
    lengths = torch.tensor([e - s for s, e in bounds])
    draw = torch.rand(batch, segments, generator=generator)
    offsets = (draw * lengths).long().clamp_(max=lengths - 1)
    return starts + offsets


def pick_frames(clip: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """``(B, T, C, H, W)`` clip, ``(B, K)`` indices → ``(B, K, C, H, W)`` chosen frames."""
    rows = torch.arange(clip.shape[0], device=clip.device)[:, None]
    return clip[rows, indices.to(clip.device)]


def check_config(model: str, cfg: TSNConfig) -> TSNConfig:
    """``cfg`` with its milestones as a tuple, or a :class:`ProtocolError` naming the model and
    the first bad field."""

    def bad(problem: str) -> ProtocolError:
        return ProtocolError(f"model {model!r}: {problem}")

    if cfg.backbone not in BACKBONES:
        raise bad(f"backbone {cfg.backbone!r} is not one of {', '.join(BACKBONES)}")
    for name in ("width", "segments", "epochs", "batch_size"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise bad(f"{name} must be a positive whole number, got {value!r}")
    if isinstance(cfg.input_size, bool) or not isinstance(cfg.input_size, int):
        raise bad(f"input_size must be a whole number of pixels (0 = keep), got {cfg.input_size!r}")
    if cfg.input_size < 0:
        raise bad(f"input_size must be ≥ 0 (0 = keep), got {cfg.input_size}")
    if not isinstance(cfg.shift, bool):
        raise bad(f"shift must be true or false, got {cfg.shift!r}")
    if isinstance(cfg.shift_div, bool) or not isinstance(cfg.shift_div, int) or cfg.shift_div < 2:
        raise bad(f"shift_div must be a whole number ≥ 2, got {cfg.shift_div!r}")
    if not 0 <= cfg.dropout < 1:
        raise bad(f"dropout must lie in [0, 1), got {cfg.dropout}")
    if cfg.momentum < 0 or cfg.clip_grad < 0 or cfg.lr <= 0 or cfg.weight_decay < 0:
        raise bad("lr must be positive and momentum, weight_decay, clip_grad ≥ 0")
    milestones = check_schedule(model, cfg.optimizer, cfg.scheduler, cfg.milestones, cfg.gamma)
    if isinstance(cfg, TSNFusionConfig):
        if cfg.fusion not in FUSIONS:
            raise bad(f"fusion {cfg.fusion!r} is not one of {', '.join(FUSIONS)}")
        if not isinstance(cfg.shared, bool):
            raise bad(f"shared must be true or false, got {cfg.shared!r}")
    return replace(cfg, milestones=milestones)


class TSNStream(nn.Module):
    """The per-frame network of one stream: ``(B, K, 3, H, W)`` → ``(B, K, D)`` features, with
    the TSM shift across the K frames of each clip when ``cfg.shift``."""

    def __init__(self, cfg: TSNConfig):
        super().__init__()
        self.cnn = BACKBONES[cfg.backbone](cfg.width, cfg.input_size or None, channels_last=True)
        if cfg.shift:
            add_temporal_shift(self.cnn, cfg.segments, cfg.shift_div)
        self.out_features = self.cnn.out_features

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, k = frames.shape[:2]
        return self.cnn(frames.flatten(0, 1)).reshape(b, k, -1)


class _SegmentModel(EmobenchModel):
    """What TSN and its fusion share: frame sampling, SGD/multistep optimizers, clipping."""

    cfg: TSNConfig

    def sample(self, clips: list[torch.Tensor]) -> list[torch.Tensor]:
        """The K chosen frames of each clip batch; batches with the same frame count get the
        same positions (one draw per batch in training)."""
        drawn: dict[tuple[int, int], torch.Tensor] = {}
        picked = []
        for clip in clips:
            key = (clip.shape[0], clip.shape[1])
            if key not in drawn:
                drawn[key] = segment_indices(*key, self.cfg.segments, self.training)
            picked.append(pick_frames(clip, drawn[key]))
        self.last_indices = next(iter(drawn.values()))  # what the last forward chose
        return picked

    def optimizer_for(self, params, lr: float, epochs: int):
        """``(optimizer, scheduler or None)`` of the config's kind (SGD with ``momentum``,
        Adam, AdamW) and schedule (``multistep`` at ``milestones`` × ``gamma``, cosine, none)."""
        c = self.cfg
        return make_optimizer(
            params,
            kind=c.optimizer,
            lr=lr,
            weight_decay=c.weight_decay,
            momentum=c.momentum,
            scheduler=c.scheduler,
            epochs=epochs,
            milestones=c.milestones,
            gamma=c.gamma,
        )

    def train_step(self, batch: dict[str, torch.Tensor], optimizers: Optimizers) -> float:
        """One update; the gradient's L2 norm clipped to ``clip_grad`` when that is set."""
        ((opt, _),) = optimizers
        loss = self.loss(self(batch), batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.clip_grad > 0:
            nn.utils.clip_grad_norm_(self.parameters(), self.cfg.clip_grad)
        opt.step()
        return float(loss.detach())

    def consensus(self, head: nn.Module, features: torch.Tensor) -> torch.Tensor:
        """Per-frame ``head(dropout(features))`` averaged over the K frames: ``(B, outputs)``."""
        return head(self.dropout(features)).mean(dim=1)


class TSN(_SegmentModel):
    """K sampled frames → per-frame ResNet → dropout → linear → average over frames."""

    def __init__(self, spec: ModelSpec, cfg: TSNConfig):
        super().__init__(spec, cfg)
        self.stream = TSNStream(cfg)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(self.stream.out_features, spec.num_outputs)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        (frames,) = self.sample([batch["face"]])
        features = self.stream(frames)
        return {
            "output": self.task.head(self.consensus(self.head, features)),
            "features": features.mean(dim=1),
        }


class TSNFusion(_SegmentModel):
    """A face TSN and a body TSN joined by score averaging or feature concatenation."""

    cfg: TSNFusionConfig
    STREAMS = ("face", "body")

    def __init__(self, spec: ModelSpec, cfg: TSNFusionConfig):
        super().__init__(spec, cfg)
        names = ("shared",) if cfg.shared else self.STREAMS
        self.streams = nn.ModuleDict({n: TSNStream(cfg) for n in names})
        self.dropout = nn.Dropout(cfg.dropout)
        width = self.streams[names[0]].out_features
        if cfg.fusion == "score":
            self.heads = nn.ModuleDict({n: nn.Linear(width, spec.num_outputs) for n in names})
        else:
            self.head = nn.Linear(2 * width, spec.num_outputs)

    def stream(self, name: str) -> str:
        return "shared" if self.cfg.shared else name

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        frames = self.sample([batch[s] for s in self.STREAMS])
        features = {
            s: self.streams[self.stream(s)](f) for s, f in zip(self.STREAMS, frames, strict=True)
        }
        pooled = torch.cat([features[s].mean(dim=1) for s in self.STREAMS], dim=1)
        if self.cfg.fusion == "cat":
            logits = self.head(self.dropout(pooled))
            return {"output": self.task.head(logits), "features": pooled}
        scores = {s: self.consensus(self.heads[self.stream(s)], features[s]) for s in self.STREAMS}
        fused = sum(scores.values()) / len(scores)
        out = {"output": self.task.head(fused), "features": pooled}
        for s, value in scores.items():
            out[f"{s}_output"] = self.task.head(value)
        return out

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``cat``: the task loss of the joint head. ``score``: the sum of each stream's task
        loss (each crop's scores supervised on their own, as the paper's code trains)."""
        if self.cfg.fusion == "cat":
            return self.task_loss(out["output"], batch["target"])
        return sum(self.task_loss(out[f"{s}_output"], batch["target"]) for s in self.STREAMS)


@register_model("tsn", inputs=("face",), tasks=TASKS)
def tsn(spec: ModelSpec) -> TSN:
    """TSN: K segment frames, per-frame 2-D ResNet, average consensus (TSM shift optional)."""
    cfg = configure("tsn", TSN_CONFIGS[spec.config], spec.overrides)
    return TSN(spec, check_config("tsn", cfg))


@register_model("tsn-fusion", inputs=("face", "body"), tasks=TASKS)
def tsn_fusion(spec: ModelSpec) -> TSNFusion:
    """Two-stream TSN over face and body crops, score or feature-concatenation fusion."""
    cfg = configure("tsn-fusion", TSN_FUSION_CONFIGS[spec.config], spec.overrides)
    return TSNFusion(spec, check_config("tsn-fusion", cfg))
