"""IFDD: interval frames decomposition for in-the-wild dynamic facial expression recognition.

Source: arXiv 2412.13168, code ``CyberPegasus/IFDD``; the structure below follows the
code-verified notes (shared reference, "seeds-masks-dfer-thermal" §2.5–2.8), rebuilt in plain
torch with random initialisation (the IFDD experiments load no pretrained weights either).

1. **embedding** ``Conv3d(3 → C0, k=(3, 7, 7), stride=(2, 4, 4), pad=(1, 3, 3))`` and a cut-down
   MViTv2-S backbone ("MFViT_XS", :mod:`emobench.models.mvit`): 10 blocks, heads
   [1, 2, 2, 4, 4, 4, 4, 4, 8, 8], channels 96 → 192 → 384 → 768, stage outputs 96@8×56²,
   192@8×28², 384@8×14², 768@8×7² for a 16 × 224² clip;
2. **pyramid aggregation** of the last two stages (:class:`PyramidFusion`): stage 2 through a
   dilated 3×3 convolution with stride 2, concatenated with stage 3, ``1×1`` conv → C;
3. **ISSM** (:class:`IntervalSampler`): per-frame descriptors (avg-pooled to ``issm_grid``²,
   ``1×1`` conv C → 7 + GELU, flattened), inter-frame similarity ``S = X Xᵀ / C`` (T'×T'),
   ``softmax(S)`` → approximation offsets and ``softmax(−S)`` → detail offsets, each through a
   ``Linear(T'² → T'/2, no bias)``, ``2 · tanh`` (so offsets lie in [−2, 2]); approximation
   frames are read at the even indices + offset, detail frames at the odd indices + offset, by
   linear interpolation along time (``grid_sample``, border padding) → ``x_a``, ``x_d``;
4. **LADM** (:class:`LiftingDecomposition`): LayerNorm both bands; *update* first,
   ``x_a ← x_a + Proj_a(CrossAttn(Q=x_a; K,V=x_d) + V_d)``; then *predict*,
   ``x_d ← x_d − Proj_d(CrossAttn(Q=x_d; K,V=x_a) + V_a)``; then on ``x_d`` only: LN, MHSA,
   projection, residual with DropPath; LN, MLP (4×, GELU) without residual; a learned
   ``Linear(T'/2 · h · w → 1)`` over the tokens gives the C-d clip vector;
5. **head** Dropout + ``Linear(C, classes)`` on the ``x_d`` clip vector only;
6. **loss** ``CE + lifting_weight · SmoothL1(pool_a, 0)`` (β = 1), with
   ``pool_a = mean_{C,T}(AvgPool_T(features → T'/2) − x_a)`` (B × h × w): the updated
   approximation band keeps the temporal mean of the pyramid features.

Our reading where the notes leave room: ``softmax(S)`` drives the approximation offsets and
``softmax(−S)`` the detail offsets (one ``Linear`` each); ``x_a`` in the lifting loss is the
band after the update step; the LADM DropPath rate equals the backbone's ``drop_path``; the
final LayerNorm of MViT is kept on stage 3 (stage 2 enters the pyramid un-normalised).

Clips longer than ``clip_frames`` (16) are average-pooled in time right after the embedding by
``frames / clip_frames``, as the reference does for MAFW's 32-frame clips (AvgPool(2)), so the
backbone always sees 8 feature frames. Not reproduced: mixup/CutMix with label smoothing (the
engine has no batch-mixing augmentation) and the 10-epoch learning-rate warm-up.

Configs (every :class:`IfddConfig` field is an override key):

- ``paper``: the reference sizes on 16 × 224² clips (frames are resized to ``input_size``
  inside the model; packs store 112² frames). 37.53 M parameters with 7 classes and
  47.86 GFLOPs per clip (one fused multiply-add = one FLOP, ``emobench models --flops``); the
  reference measured 37.58 M and 48.0 G (fvcore) on the original code. AdamW, weight decay
  1e-3, batch 16, 100 epochs, cosine from 5e-5 (the trainer's ``lr / 32 · batch``).
- ``small``: the reference's *compact recipe* (§2.8: "any video backbone giving a T' = 8
  feature map ... or the MViT-XS"): the lite encoder :class:`FrameResNetStages` — a ResNet-18
  of base width 20 on every 56² frame (resized inside from the stored 112²; the same trunk as
  ``static-resnet18``'s small config), its last two stages (80@4², 160@2²) average-pooled by 2
  in time to T' = 8 — then the same pyramid fusion, ISSM (7-channel descriptors on a 2×2
  grid) and LADM (4 heads on 4 × 2 × 2 detail tokens), d = 160; AdamW 1e-3, weight decay
  1e-3, cosine, 15 epochs, batch 16 (``static-resnet18``'s small settings, so the two differ
  only in what IFDD adds). The from-scratch MViT at small size (``backbone="mvit"``,
  channels 32 → 256, depths (1, 1, 2, 1): 2.78 M parameters, 0.217 GFLOPs) stayed at chance
  on the DFEW miniature at learning rates 1e-3, 3e-4 and 1e-4 (≈180 training clips, no
  warm-up or mixup); it remains available through ``--set backbone=mvit``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from emobench.errors import ProtocolError
from emobench.models.backbones import ResNet18, resize_frames
from emobench.models.base import EmobenchModel
from emobench.models.configs import TrainSettings, configure
from emobench.models.mvit import (
    DropPath,
    MultiscaleVideoTransformer,
    conv_out,
    init_transformer_weights,
)
from emobench.models.registry import ModelSpec, register_model


@dataclass(frozen=True)
class IfddConfig(TrainSettings):
    """Sizes, loss weight and training settings of IFDD (every field is an override key)."""

    input_size: int  # frames are resized to input_size² inside the model (0 = keep)
    embed_dim: int  # C0: channels of the embedding and the first stage (doubled per stage)
    depths: tuple[int, ...]  # blocks per backbone stage
    heads: tuple[int, ...]  # attention heads per backbone stage
    kv_stride: int  # spatial key/value pooling stride of stage 1 (halved per stage, min 1)
    mlp_ratio: float
    drop_path: float  # stochastic depth: backbone maximum, and the LADM self-attention
    issm_channels: int  # ISSM frame descriptor: 1×1 conv C → issm_channels
    issm_grid: int  # ISSM frame descriptor: features avg-pooled to issm_grid² first
    ladm_heads: int
    head_dropout: float
    lifting_weight: float
    clip_frames: int  # longer clips (a multiple) are average-pooled in time after the embedding
    # "mvit": the reference's MFViT_XS; "resnet": the compact recipe's lite encoder (a
    # ResNet-18 of base width ``resnet_width`` on every frame, last two stages, time pooled
    # by 2 so that 16 frames give T' = 8 feature frames)
    backbone: str = "mvit"
    resnet_width: int = 16


IFDD_CONFIGS: dict[str, IfddConfig] = {
    # configs/IFDD_DFEW.json + the trainer (reference §2.5–2.6)
    "paper": IfddConfig(
        input_size=224,
        embed_dim=96,
        depths=(1, 2, 5, 2),
        heads=(1, 2, 4, 8),
        kv_stride=8,
        mlp_ratio=4.0,
        drop_path=0.2,
        issm_channels=7,
        issm_grid=7,
        ladm_heads=8,
        head_dropout=0.5,
        lifting_weight=0.1,
        clip_frames=16,
        epochs=100,
        batch_size=16,
        lr=5e-5,
        weight_decay=1e-3,
        optimizer="adamw",
        scheduler="cosine",
    ),
    # the compact recipe (reference §2.8): the lite encoder — static-resnet18's small trunk,
    # so that the two differ only in what IFDD adds — then the same pyramid, ISSM and LADM;
    # static-resnet18's small training settings
    "small": IfddConfig(
        input_size=56,
        embed_dim=32,  # (mvit backbone only)
        depths=(1, 1, 2, 1),  # (mvit backbone only)
        heads=(1, 1, 2, 4),  # (mvit backbone only)
        kv_stride=8,  # (mvit backbone only)
        mlp_ratio=4.0,
        drop_path=0.1,
        issm_channels=7,
        issm_grid=2,
        ladm_heads=4,
        head_dropout=0.3,
        lifting_weight=0.1,
        clip_frames=16,
        epochs=15,
        batch_size=16,
        lr=1e-3,
        weight_decay=1e-3,
        optimizer="adamw",
        scheduler="cosine",
        backbone="resnet",
        resnet_width=20,
    ),
}


class FrameResNetStages(nn.Module):
    """The compact recipe's lite video encoder ("any video backbone giving a T' = 8 feature
    map", reference §2.8): a :class:`~emobench.models.backbones.ResNet18` on every frame, the
    maps of its last two stages stacked in time and average-pooled by ``temporal_pool`` (2: the
    temporal stride of MViT's embedding), ``(B, 3, T, H, W)`` → ``[(B, 4w, T', h3, w3),
    (B, 8w, T', h4, w4)]``. ``stage_shapes`` lists ``(channels, (T', h, w))`` per stage."""

    def __init__(self, width: int, input_size: int, frames: int, temporal_pool: int = 2):
        super().__init__()
        self.cnn = ResNet18(width, None, channels_last=True)
        self.temporal_pool = temporal_pool
        side = conv_out(conv_out(input_size, 7, 2, 3), 3, 2, 1)  # stem: conv1, max-pool
        side = conv_out(side, 3, 2, 1)  # layer2
        low = conv_out(side, 3, 2, 1)  # layer3
        high = conv_out(low, 3, 2, 1)  # layer4
        t = frames // temporal_pool
        self.stage_shapes = [(4 * width, (t, low, low)), (8 * width, (t, high, high))]

    def forward(self, frames: torch.Tensor) -> list[torch.Tensor]:
        b, _, t = frames.shape[:3]
        maps = self.cnn.feature_maps(frames.transpose(1, 2).flatten(0, 1))
        out = []
        for m in maps:
            m = m.unflatten(0, (b, t)).transpose(1, 2)  # (B, C, T, h, w)
            out.append(F.avg_pool3d(m, (self.temporal_pool, 1, 1)))
        return out


class PyramidFusion(nn.Module):
    """Stage 2 → dilated 3×3 conv, stride 2; concatenated with stage 3; ``1×1`` conv → C."""

    def __init__(self, low_channels: int, high_channels: int):
        super().__init__()
        self.down = nn.Conv3d(
            low_channels,
            low_channels,
            (1, 3, 3),
            stride=(1, 2, 2),
            padding=(0, 2, 2),
            dilation=(1, 2, 2),
        )
        self.fuse = nn.Conv3d(low_channels + high_channels, high_channels, 1)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([self.down(low), high], dim=1))


def sample_frames(features: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Linear interpolation along time at fractional frame ``positions``.

    ``features``: ``(B, C, T, h, w)``; ``positions``: ``(B, n)`` in frame units, clamped to
    ``[0, T − 1]`` (border padding). Returns ``(B, C, n, h, w)``.
    """
    b, c, t, h, w = features.shape
    source = features.permute(0, 1, 3, 4, 2).reshape(b, c * h * w, 1, t)
    x = positions * (2.0 / (t - 1)) - 1.0
    grid = torch.stack([x, torch.zeros_like(x)], dim=-1).unsqueeze(1)  # (B, 1, n, 2)
    out = F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.reshape(b, c, h, w, -1).permute(0, 1, 4, 2, 3)


class IntervalSampler(nn.Module):
    """ISSM: similarity-driven temporal offsets; approximation (even) and detail (odd) frames."""

    def __init__(self, channels: int, frames: int, reduced: int = 7, grid: int = 7):
        super().__init__()
        self.grid = grid
        self.scale = 1.0 / channels
        self.reduce = nn.Conv3d(channels, reduced, 1)
        self.offset_a = nn.Linear(frames * frames, frames // 2, bias=False)
        self.offset_d = nn.Linear(frames * frames, frames // 2, bias=False)

    def offsets(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, 2, T'/2)`` offsets in [−2, 2]: row 0 approximation, row 1 detail."""
        t = features.shape[2]
        x = F.adaptive_avg_pool3d(features, (t, self.grid, self.grid))
        x = F.gelu(self.reduce(x)).transpose(1, 2).flatten(2)  # (B, T', reduced · grid²)
        similarity = (x @ x.transpose(1, 2)) * self.scale
        off_a = 2.0 * torch.tanh(self.offset_a(similarity.softmax(-1).flatten(1)))
        off_d = 2.0 * torch.tanh(self.offset_d((-similarity).softmax(-1).flatten(1)))
        return torch.stack([off_a, off_d], dim=1)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        offsets = self.offsets(features)
        even = torch.arange(0, features.shape[2], 2, device=features.device, dtype=offsets.dtype)
        x_a = sample_frames(features, even + offsets[:, 0])
        x_d = sample_frames(features, even + 1 + offsets[:, 1])
        return x_a, x_d, offsets


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    b, n, c = x.shape
    return x.reshape(b, n, heads, c // heads).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    b, heads, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, heads * d)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    attn = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
    return attn.softmax(dim=-1) @ v


class CrossAttention(nn.Module):
    """``Proj(Attn(Q = x; K, V = context) + V_context)``: one lifting step's operator."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"{dim} channels do not split into {heads} heads")
        self.heads = heads
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        q = _heads(self.q(x), self.heads)
        k, v = _heads(self.k(context), self.heads), _heads(self.v(context), self.heads)
        return self.proj(_merge(_attend(q, k, v) + v))


class SelfAttention(nn.Module):
    """Multi-head self-attention with an output projection."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"{dim} channels do not split into {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (_heads(part, self.heads) for part in self.qkv(x).chunk(3, dim=-1))
        return self.proj(_merge(_attend(q, k, v)))


class LiftingDecomposition(nn.Module):
    """LADM: update ``x_a`` from ``x_d``, predict ``x_d`` from ``x_a``, refine ``x_d`` → vector."""

    def __init__(
        self, dim: int, heads: int, tokens: int, mlp_ratio: float = 4.0, drop_path: float = 0.0
    ):
        super().__init__()
        self.norm_a, self.norm_d = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.updater = CrossAttention(dim, heads)
        self.predictor = CrossAttention(dim, heads)
        self.norm_attn = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.drop_path = DropPath(drop_path)
        self.norm_mlp = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.token_pool = nn.Linear(tokens, 1)

    def lift(self, x_a: torch.Tensor, x_d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens ``(B, N, C)`` → updated approximation, predicted detail."""
        a, d = self.norm_a(x_a), self.norm_d(x_d)
        a = a + self.updater(a, d)
        d = d - self.predictor(d, a)
        return a, d

    def refine(self, d: torch.Tensor) -> torch.Tensor:
        """Detail tokens ``(B, N, C)`` → clip vector ``(B, C)``."""
        d = d + self.drop_path(self.attn(self.norm_attn(d)))
        d = self.mlp(self.norm_mlp(d))  # no residual (as the reference)
        return self.token_pool(d.transpose(1, 2)).squeeze(-1)


def lifting_loss(features: torch.Tensor, x_a: torch.Tensor) -> torch.Tensor:
    """``SmoothL1(mean_{C,T}(AvgPool_T(features) − x_a), 0)``.

    ``features``: ``(B, C, T', h, w)``; ``x_a``: ``(B, C, T'/2, h, w)``.
    """
    pooled = F.avg_pool3d(features, (2, 1, 1))
    pool_a = (pooled - x_a).mean(dim=(1, 2))
    return F.smooth_l1_loss(pool_a, torch.zeros_like(pool_a))


class Ifdd(EmobenchModel):
    """IFDD on ``batch["face"]`` clips ``(B, T, 3, H, W)``; see the module docstring."""

    cfg: IfddConfig

    def __init__(self, spec: ModelSpec, cfg: IfddConfig):
        super().__init__(spec, cfg)
        if len(cfg.depths) < 2:
            raise ProtocolError(f"ifdd fuses the last two backbone stages; depths={cfg.depths}")
        self.frames = spec.frames
        pool = 1
        if cfg.clip_frames > 0 and spec.frames > cfg.clip_frames:
            if spec.frames % cfg.clip_frames:
                raise ProtocolError(
                    f"ifdd pools clips longer than clip_frames={cfg.clip_frames} in time by a "
                    f"whole factor; {spec.frames} frames is not a multiple"
                )
            pool = spec.frames // cfg.clip_frames
        self.input_size = cfg.input_size or spec.frame_size
        if cfg.backbone == "mvit":
            self.backbone = MultiscaleVideoTransformer(
                spec.frames,
                self.input_size,
                cfg.embed_dim,
                cfg.depths,
                cfg.heads,
                cfg.kv_stride,
                cfg.mlp_ratio,
                cfg.drop_path,
                temporal_pool=pool,
            )
        elif cfg.backbone == "resnet":
            self.backbone = FrameResNetStages(
                cfg.resnet_width, self.input_size, spec.frames, temporal_pool=2 * pool
            )
        else:
            raise ProtocolError(f"ifdd backbone must be 'mvit' or 'resnet', got {cfg.backbone!r}")
        (low, _), (dim, (t, h, w)) = self.backbone.stage_shapes[-2:]
        if t < 2 or t % 2:
            raise ProtocolError(
                f"ifdd splits the {t} feature frames of a {spec.frames}-frame clip into even and "
                "odd halves: use an even number of feature frames (e.g. 16 frames)"
            )
        self.pyramid = PyramidFusion(low, dim)
        self.issm = IntervalSampler(dim, t, cfg.issm_channels, min(cfg.issm_grid, h, w))
        self.ladm = LiftingDecomposition(
            dim, cfg.ladm_heads, t // 2 * h * w, cfg.mlp_ratio, cfg.drop_path
        )
        self.dropout = nn.Dropout(cfg.head_dropout)
        self.head = nn.Linear(dim, spec.num_outputs)
        for part in (self.pyramid, self.issm, self.ladm, self.head):
            part.apply(init_transformer_weights)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        clip = batch["face"]
        b, t = clip.shape[:2]
        if t != self.frames:
            raise ProtocolError(f"ifdd was built for {self.frames}-frame clips, got {t}")
        frames = resize_frames(clip.flatten(0, 1), self.input_size)
        frames = frames.unflatten(0, (b, t)).transpose(1, 2)  # (B, 3, T, H, W)
        low, high = self.backbone(frames)[-2:]
        features = self.pyramid(low, high)  # (B, C, T', h, w)
        x_a, x_d, offsets = self.issm(features)
        shape = x_a.shape
        a, d = self.ladm.lift(x_a.flatten(2).transpose(1, 2), x_d.flatten(2).transpose(1, 2))
        clip_vector = self.ladm.refine(d)
        x_a_lifted = a.transpose(1, 2).reshape(shape)
        return {
            "output": self.head(self.dropout(clip_vector)),
            "lifting": lifting_loss(features, x_a_lifted),
            "offsets": offsets,
            "features": features,
            "x_a": x_a_lifted,
            "x_d": d.transpose(1, 2).reshape(shape),
            "clip_vector": clip_vector,
        }

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        loss = self.task_loss(out["output"], batch["target"])
        if self.cfg.lifting_weight:
            loss = loss + self.cfg.lifting_weight * out["lifting"]
        return loss


@register_model("ifdd", inputs=("face",), tasks=("classification",))
def ifdd(spec: ModelSpec) -> Ifdd:
    """IFDD: MViTv2 backbone, interval-frame split (ISSM), lifting decomposition (LADM)."""
    cfg = configure("ifdd", IFDD_CONFIGS[spec.config], spec.overrides)
    cfg = replace(cfg, depths=tuple(cfg.depths), heads=tuple(cfg.heads))
    return Ifdd(spec, cfg)
