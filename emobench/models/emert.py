"""EMERT: the EMER Transformer (kejun1/EMER ``model/EMERT/model_D.py``), rebuilt in plain torch.

Structure, following the released code (reference notes B.10/B.11):

1. encoders: ResNet-18 over each face frame → ``Linear(512, d)`` tokens; a 3-layer LSTM over
   the eye-feature sequence and another over the gaze-point sequence, hidden ``d``;
   dropout on the three ``d``-sequences;
2. decoupling: one *specific* (private) projection per modality and ONE *invariant* projection
   shared by all modalities, each ``d → d/2 → d/4`` with LeakyReLU(0.1); a modality
   discriminator ``Linear(d/4, M)`` on time-averaged features sees the specific features
   directly and the invariant ones through a gradient reversal layer;
3. fusion: a cross-attention transformer whose queries are the invariant tokens of all
   modalities and whose keys/values are the specific tokens (learned positional embeddings,
   pre-LayerNorm, residuals), mean-pooled → ``Linear(d/4, C)``.

Objective ``α·L_inv + β·L_spec + L_task`` with ``L_spec = Σ_m CE(D(s_m), m)`` and
``L_inv = Σ_m CE(D(GRL(c_m)), m)``; α = β = 0.01, or 0.3 / 0.1 when an auxiliary classification
head is trained beside the regression target (the FER-intensity protocol).

``emert-fixmap`` adds a small CNN over the fixation-density map as a fourth modality (its grid
cells become tokens with their own specific projection; the discriminator then has 4 classes).

Deliberate differences from the released code: random initialisation (no ImageNet weights,
nothing downloads); positional embeddings are kept per modality (same parameter count) so a
clip with fewer frames or steps than the model was built for still lines up, and are initialised
with std 0.02 instead of 1.

Every field of :class:`EmertConfig` can be overridden through ``ModelSpec.overrides``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from emobench.errors import ProtocolError
from emobench.models.backbones import FrameEncoder, GradientReversal, SequenceEncoder
from emobench.models.base import EmobenchModel
from emobench.models.configs import TrainSettings, configure
from emobench.models.registry import ModelSpec, register_model


@dataclass(frozen=True)
class EmertConfig(TrainSettings):
    """Sizes, loss weights and training settings of EMERT (every field is an override key).

    The encoder fields (``dim`` … ``dropout``) and the training fields are shared with the
    baselines (``emobench.models.baselines``).
    """

    # encoders
    dim: int  # d: width of the three encoded sequences (LSTM hidden, face token)
    face_width: int  # ResNet-18 base width (64 = the real ResNet-18, 512-d features)
    face_size: int  # frames are resized to face_size² inside the encoder (0 = keep)
    lstm_layers: int  # depth of the eye and gaze LSTMs
    dropout: float  # on the encoded d-sequences
    # fusion transformer (token width d/4)
    depth: int
    heads: int
    head_dim: int
    mlp_dim: int
    fusion_dropout: float
    emb_dropout: float
    # adversarial decoupling; with aux_classes > 0 the factory starts from alpha=0.3, beta=0.1
    grl_lambda: float
    alpha: float  # weight of L_inv
    beta: float  # weight of L_spec
    # fixation-map branch (emert-fixmap only)
    fixmap_channels: int
    fixmap_grid: int  # the map becomes fixmap_grid² tokens
    # training: the fields of TrainSettings


EMERT_CONFIGS: dict[str, EmertConfig] = {
    # the released code's sizes and training settings
    "paper": EmertConfig(
        dim=128,
        face_width=64,
        face_size=112,
        lstm_layers=3,
        dropout=0.5,
        depth=2,
        heads=8,
        head_dim=64,
        mlp_dim=32,
        fusion_dropout=0.5,
        emb_dropout=0.1,
        grl_lambda=1.0,
        alpha=0.01,
        beta=0.01,
        fixmap_channels=32,
        fixmap_grid=4,
        epochs=200,
        batch_size=16,
        lr=1e-4,
        weight_decay=5e-4,
        optimizer="adam",
        scheduler="cosine",
    ),
    # the same structure, scaled to train on the miniature in seconds on a laptop CPU
    "small": EmertConfig(
        dim=64,
        face_width=8,
        face_size=56,
        lstm_layers=3,
        dropout=0.5,
        depth=2,
        heads=2,
        head_dim=16,
        mlp_dim=16,
        fusion_dropout=0.5,
        emb_dropout=0.1,
        grl_lambda=1.0,
        alpha=0.01,
        beta=0.01,
        fixmap_channels=8,
        fixmap_grid=4,
        epochs=14,
        batch_size=16,
        lr=4e-3,
        weight_decay=1e-4,
        optimizer="adamw",
        scheduler="cosine",
    ),
}


def projection(dim: int) -> nn.Sequential:
    """``d → d/2 → d/4`` with LeakyReLU(0.1), the shape of every decoupling projection."""
    return nn.Sequential(nn.Linear(dim, dim // 2), nn.LeakyReLU(0.1), nn.Linear(dim // 2, dim // 4))


class FixationMapEncoder(nn.Module):
    """``(B, 1, h, w)`` density map → ``(B, grid², d)`` tokens via three strided convolutions."""

    def __init__(self, channels: int, dim: int, grid: int):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(1, channels, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(grid),
        )
        self.proj = nn.Linear(channels, dim)
        self.tokens = grid * grid

    def forward(self, fixmap: torch.Tensor) -> torch.Tensor:
        # a density sums to 1: rescale so a uniform map is 1 everywhere, whatever its size
        x = fixmap * (fixmap.shape[-1] * fixmap.shape[-2])
        x = self.convs(x).flatten(2).transpose(1, 2)
        return self.proj(x)


class CrossAttentionBlock(nn.Module):
    """Pre-LN cross-attention (separate norms for q, k, v) + pre-LN GELU MLP, both residual."""

    def __init__(self, dim: int, heads: int, head_dim: int, mlp_dim: int, dropout: float):
        super().__init__()
        inner = heads * head_dim
        self.heads = heads
        self.norm_q, self.norm_k, self.norm_v = (nn.LayerNorm(dim) for _ in range(3))
        self.to_q, self.to_k, self.to_v = (nn.Linear(dim, inner, bias=False) for _ in range(3))
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(
            nn.Linear(dim, mlp_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_dim, dim),
            nn.Dropout(dropout),
        )

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.reshape(b, n, self.heads, -1).transpose(1, 2)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        q = self._split(self.to_q(self.norm_q(x)))
        k = self._split(self.to_k(self.norm_k(memory)))
        v = self._split(self.to_v(self.norm_v(memory)))
        attended = F.scaled_dot_product_attention(q, k, v)
        x = x + self.to_out(attended.transpose(1, 2).flatten(2))
        return x + self.ff(self.norm_ff(x))


class CrossTransformer(nn.Module):
    """Queries attend to a fixed memory through ``depth`` blocks; both get learned positions.

    Inputs are lists with one ``(B, n_m, dim)`` tensor per modality; each modality has its own
    positional table of length ``lengths[m]`` (a shorter sequence uses its first rows).
    """

    def __init__(self, lengths: list[int], cfg: EmertConfig, dim: int):
        super().__init__()
        self.lengths = lengths
        self.pos_q = nn.ParameterList(nn.Parameter(torch.randn(1, n, dim) * 0.02) for n in lengths)
        self.pos_kv = nn.ParameterList(nn.Parameter(torch.randn(1, n, dim) * 0.02) for n in lengths)
        self.emb_dropout = nn.Dropout(cfg.emb_dropout)
        self.blocks = nn.ModuleList(
            CrossAttentionBlock(dim, cfg.heads, cfg.head_dim, cfg.mlp_dim, cfg.fusion_dropout)
            for _ in range(cfg.depth)
        )

    def _embed(self, seqs: list[torch.Tensor], table: nn.ParameterList) -> torch.Tensor:
        parts = []
        for x, pos, limit in zip(seqs, table, self.lengths, strict=True):
            if x.shape[1] > limit:
                raise ValueError(
                    f"sequence of {x.shape[1]} tokens; the model was built for {limit}"
                )
            parts.append(x + pos[:, : x.shape[1]])
        return self.emb_dropout(torch.cat(parts, dim=1))

    def forward(self, queries: list[torch.Tensor], memory: list[torch.Tensor]) -> torch.Tensor:
        x = self._embed(queries, self.pos_q)
        kv = self._embed(memory, self.pos_kv)
        for block in self.blocks:
            x = block(x, kv)
        return x


class Emert(EmobenchModel):
    """EMERT over face frames, eye features, gaze points (and optionally the fixation map)."""

    def __init__(self, spec: ModelSpec, cfg: EmertConfig, use_fixmap: bool = False):
        super().__init__(spec, cfg)
        if cfg.dim % 4:
            raise ProtocolError(f"emert: dim must be divisible by 4, got {cfg.dim}")
        self.aux_classes = spec.aux_classes
        self.modalities = ("face", "eye", "gaze") + (("fixmap",) if use_fixmap else ())
        d, k = cfg.dim, cfg.dim // 4

        self.face = FrameEncoder(cfg.face_width, cfg.face_size or None)
        self.face_proj = nn.Linear(self.face.out_features, d)
        eye_steps, eye_features = spec.shape("emert", "eye")
        self.eye = SequenceEncoder(eye_features, d, cfg.lstm_layers)
        self.gaze = SequenceEncoder(2, d, cfg.lstm_layers)
        lengths = [spec.frames, eye_steps, eye_steps]
        self.fixmap = None
        if use_fixmap:
            self.fixmap = FixationMapEncoder(cfg.fixmap_channels, d, cfg.fixmap_grid)
            lengths.append(self.fixmap.tokens)
        self.dropout = nn.Dropout(cfg.dropout)

        self.specific = nn.ModuleDict({m: projection(d) for m in self.modalities})
        self.invariant = projection(d)
        self.discriminator = nn.Linear(k, len(self.modalities))
        self.grl = GradientReversal(cfg.grl_lambda)

        self.fusion = CrossTransformer(lengths, cfg, k)
        self.head = nn.Linear(k, spec.num_outputs)
        self.aux_head = nn.Linear(k, spec.aux_classes) if spec.aux_classes > 0 else None

    def encode(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        seqs = {
            "face": self.face_proj(self.face(batch["face"])),
            "eye": self.eye(batch["eye"]),
            "gaze": self.gaze(batch["gaze"]),
        }
        if self.fixmap is not None:
            seqs["fixmap"] = self.fixmap(batch["fixmap"])
        return seqs

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        seqs = self.encode(batch)
        specific, invariant = [], []
        for m in self.modalities:
            x = self.dropout(seqs[m])
            specific.append(self.specific[m](x))
            invariant.append(self.invariant(x))
        # (M, B, M): the discriminator's modality logits for each modality's features
        specific_logits = torch.stack([self.discriminator(s.mean(1)) for s in specific])
        invariant_logits = torch.stack([self.discriminator(self.grl(c).mean(1)) for c in invariant])
        features = self.fusion(invariant, specific).mean(1)
        out = {
            "output": self.task.head(self.head(features)),
            "specific_logits": specific_logits,
            "invariant_logits": invariant_logits,
            "features": features,
        }
        if self.aux_head is not None:
            out["aux_output"] = self.aux_head(features)
        return out

    def loss_terms(
        self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """The unweighted parts of the objective: task, aux (if any), invariant, specific."""
        m, b = out["specific_logits"].shape[:2]
        modality = torch.arange(m, device=out["specific_logits"].device).repeat_interleave(b)
        # cross_entropy averages over M·B rows; × M gives Σ_m (batch-mean CE of modality m)
        terms = {
            "task": self.task_loss(out["output"], batch["target"]),
            "invariant": F.cross_entropy(out["invariant_logits"].flatten(0, 1), modality) * m,
            "specific": F.cross_entropy(out["specific_logits"].flatten(0, 1), modality) * m,
        }
        if self.aux_head is not None:
            if "aux_target" not in batch:
                raise ProtocolError(
                    f"emert was built with aux_classes={self.aux_classes} but the batch has "
                    "no 'aux_target'"
                )
            terms["aux"] = F.cross_entropy(out["aux_output"], batch["aux_target"])
        return terms

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        terms = self.loss_terms(out, batch)
        total = (
            terms["task"] + self.cfg.alpha * terms["invariant"] + self.cfg.beta * terms["specific"]
        )
        if "aux" in terms:
            total = total + terms["aux"]
        return total

    def describe(self) -> dict:
        info = super().describe()
        info.update(
            modalities=list(self.modalities),
            aux_classes=self.aux_classes,
        )
        return info


def _build(name: str, spec: ModelSpec, use_fixmap: bool) -> Emert:
    base = EMERT_CONFIGS[spec.config]
    if spec.aux_classes > 0:  # the intensity + class multitask weights of in_train_aeql.py
        base = replace(base, alpha=0.3, beta=0.1)
    return Emert(spec, configure(name, base, spec.overrides), use_fixmap)


@register_model("emert", inputs=("face", "eye", "gaze"))
def emert(spec: ModelSpec) -> Emert:
    """EMERT (face + eye features + gaze points), as in the released EMER code."""
    return _build("emert", spec, use_fixmap=False)


@register_model("emert-fixmap", inputs=("face", "eye", "gaze", "fixmap"))
def emert_fixmap(spec: ModelSpec) -> Emert:
    """EMERT with a fixation-map CNN branch as a fourth modality."""
    return _build("emert-fixmap", spec, use_fixmap=True)
