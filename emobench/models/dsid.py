"""DSID: dual-stream independence decoupling for the true emotion behind a masked expression.

Source: Wei, Zhang, Shi, Lu, "Dual Stream Independence Decoupling for True Emotion Recognition
under Masked Expressions", arXiv 2603.16760 (2026). Only the abstract is known, and no code is
public. What it states, and what is built here:

- the *apex-frame paradigm*: one apex image per sample, where the disguise is stable, instead
  of an onset → apex clip whose onset frames leak the true emotion;
- two streams, one for true-emotion features and one for disguise (displayed-expression)
  features;
- a decoupling loss group: CE(true emotion) + CE(displayed expression) + an HSIC loss that makes
  the two features independent.

Everything else is **our choice, not the paper's** (unknown): the backbone (a plain-torch
ResNet-18, random init, 112 px input in ``paper``), whether the streams share it
(``shared_backbone``; ``False`` — two ResNet-18 trunks, the literal "dual stream" — by
default), the feature width (``dim``), the projection heads (``Linear → ReLU``), the HSIC
kernel (Gaussian, bandwidth by the median heuristic), the HSIC weight λ (``hsic_weight`` = 1.0
in ``paper``), and the training settings of ``paper`` (Adam 1e-4, weight decay 5e-4, cosine,
100 epochs, batch 32).

Registered models (every :class:`ApexConfig` / :class:`DsidConfig` field is an override key):

- ``dsid`` (input ``apex``): the two streams → ``output`` (true-emotion logits, the protocol's
  label), ``aux_output`` (displayed-expression logits, ``batch["aux_target"]``,
  ``spec.aux_classes`` classes), ``features`` (the true-emotion stream's, which the main
  head reads, as in ``apex-single``), ``features_disguise``;
  loss = CE(true) + CE(displayed) + λ · HSIC(f_true, f_disguise).
- ``apex-two-head`` (input ``apex``): the same model with λ = 0 (the no-HSIC ablation).
- ``apex-single`` (input ``apex``): one stream for the true emotion only (ignores aux).
- ``clip-baseline`` (input ``clip``): the onset → apex clip, each frame minus the onset
  frame, a ResNet-18 per frame, attention over time (:class:`TemporalAttentionPool`), one
  stream → true-emotion head (the earlier clip paradigm).

``apex-single`` is exactly one ``dsid`` stream (trunk → projection → dropout → head), so the
three apex models differ only in what the comparison is about; ``clip-baseline`` is that
stream over the clip, with the onset subtracted and time pooled by attention. The three apex
models are also *paired*: under one seed the true-emotion stream of ``dsid`` and
``apex-two-head`` starts from the same weights and sees the same dropout masks as
``apex-single`` (:class:`Dsid`), so with separate trunks ``apex-two-head`` reproduces
``apex-single``'s predictions exactly and ``dsid`` differs from them by the HSIC term alone.

``small``: the same structure (two trunks) at ResNet-18 width 8 on 56 px, d = 64, AdamW 3e-3,
20 epochs, batch 16 and λ = 0.03, so that it trains on a miniature on a CPU; λ was chosen on
**validation** UAR (never the test fold) of ``masked-apex-5fold`` — the search and its numbers
are in CHANGELOG.md and the README. ``paper`` keeps λ = 1.0 (the paper's value is unknown).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from emobench.errors import ProtocolError
from emobench.models.backbones import FrameEncoder, ResNet18
from emobench.models.base import EmobenchModel
from emobench.models.configs import TrainSettings, configure
from emobench.models.registry import ModelSpec, register_model


def _pairwise_sq_distances(x: torch.Tensor) -> torch.Tensor:
    sq = (x * x).sum(1)
    return (sq[:, None] + sq[None, :] - 2.0 * x @ x.T).clamp_min(0.0)


def _median_bandwidth(sq_dist: torch.Tensor) -> torch.Tensor:
    """Median of the pairwise distances (off the diagonal); 1 when they are all zero."""
    m = sq_dist.shape[0]
    upper = torch.triu_indices(m, m, offset=1, device=sq_dist.device)
    distances = sq_dist.detach()[upper[0], upper[1]].sqrt()
    sigma = torch.quantile(distances, 0.5)  # halfway between the middle two when even
    return torch.where(sigma > 0, sigma, torch.ones_like(sigma))


def gaussian_gram(x: torch.Tensor, bandwidth: str | float = "median") -> torch.Tensor:
    """``K_ij = exp(-‖x_i − x_j‖² / (2σ²))`` over the rows of ``x`` (flattened per sample).

    ``bandwidth="median"``: σ = the median pairwise distance of this batch (no gradient flows
    through σ); a number: that σ.
    """
    x = x.reshape(x.shape[0], -1)
    sq = _pairwise_sq_distances(x)
    if isinstance(bandwidth, str):
        if bandwidth != "median":
            raise ValueError(f"hsic bandwidth must be 'median' or a positive number: {bandwidth!r}")
        sigma = _median_bandwidth(sq)
    else:
        if not bandwidth > 0:
            raise ValueError(f"hsic bandwidth must be positive, got {bandwidth}")
        sigma = torch.as_tensor(float(bandwidth), dtype=x.dtype, device=x.device)
    return torch.exp(-sq / (2.0 * sigma * sigma))


def hsic(x: torch.Tensor, y: torch.Tensor, bandwidth: str | float = "median") -> torch.Tensor:
    """Biased empirical HSIC of paired samples (rows): ``tr(K H L H) / (m − 1)²``.

    ``K``, ``L``: Gaussian Gram matrices of ``x`` and ``y`` (:func:`gaussian_gram`, each with
    its own median bandwidth by default); ``H = I − 11ᵀ/m`` centres them. Near 0 when the rows
    of ``x`` and ``y`` are independent (up to a positive bias of order 1/m), larger the more
    they depend on each other. Differentiable in ``x`` and ``y``.
    """
    m = x.shape[0]
    if y.shape[0] != m:
        raise ValueError(f"hsic needs paired samples: {m} rows of x, {y.shape[0]} of y")
    if m < 2:
        raise ValueError("hsic needs at least 2 samples")
    k = gaussian_gram(x, bandwidth)
    ell = gaussian_gram(y, bandwidth)
    # tr(K H L H) = tr(H K H L) = Σ_ij (H K H)_ij L_ij (cyclic trace; L is symmetric)
    k_centred = k - k.mean(0, keepdim=True) - k.mean(1, keepdim=True) + k.mean()
    return (k_centred * ell).sum() / (m - 1) ** 2


@dataclass(frozen=True)
class ApexConfig(TrainSettings):
    """Encoder, head and training settings of one stream (``apex-single``, ``clip-baseline``)."""

    width: int  # ResNet-18 base width (64 = the real ResNet-18, 512-d trunk features)
    input_size: int  # images are resized to input_size² inside the encoder (0 = keep)
    dim: int  # d: width of a stream's features (Linear(8·width, d) → ReLU)
    dropout: float  # before each classification head


@dataclass(frozen=True)
class DsidConfig(ApexConfig):
    """:class:`ApexConfig` plus the two-stream settings of ``dsid`` / ``apex-two-head``."""

    shared_backbone: bool = False  # True: one trunk + two projections; False: two trunks
    hsic_weight: float = 1.0  # λ (the paper's value is unknown)
    hsic_bandwidth: str | float = "median"  # "median" or a fixed Gaussian σ


APEX_CONFIGS: dict[str, ApexConfig] = {
    # the paper's backbone, sizes and training settings are unknown: these are our choices
    "paper": ApexConfig(
        width=64,
        input_size=112,
        dim=256,
        dropout=0.5,
        epochs=100,
        batch_size=32,
        lr=1e-4,
        weight_decay=5e-4,
        optimizer="adam",
        scheduler="cosine",
    ),
    # the same structure, scaled to train on a miniature in seconds on a laptop CPU
    "small": ApexConfig(
        width=8,
        input_size=56,
        dim=64,
        dropout=0.3,
        epochs=20,
        batch_size=16,
        lr=3e-3,
        weight_decay=1e-4,
        optimizer="adamw",
        scheduler="cosine",
    ),
}

DSID_CONFIGS: dict[str, DsidConfig] = {
    "paper": DsidConfig(**asdict(APEX_CONFIGS["paper"]), shared_backbone=False, hsic_weight=1.0),
    "small": DsidConfig(**asdict(APEX_CONFIGS["small"]), shared_backbone=False, hsic_weight=0.03),
}


class Stream(nn.Module):
    """Trunk features → ``Linear(·, d)`` → ReLU: one stream's features."""

    def __init__(self, in_features: int, dim: int):
        super().__init__()
        self.proj = nn.Linear(in_features, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.proj(x))


def apex_trunk(cfg: ApexConfig) -> ResNet18:
    """One stream's ResNet-18 trunk over apex images."""
    return ResNet18(cfg.width, cfg.input_size or None, channels_last=True)


def true_stream(cfg: ApexConfig, outputs: int) -> tuple[ResNet18, Stream, nn.Linear]:
    """A true-emotion stream's trunk, projection and head, drawn from torch's global generator
    in that order. Both ``apex-single`` and ``dsid`` build theirs here, which is half of what
    pairs them by seed (:class:`Dsid`)."""
    trunk = apex_trunk(cfg)
    return trunk, Stream(trunk.out_features, cfg.dim), nn.Linear(cfg.dim, outputs)


class _ApexModel(EmobenchModel):
    def __init__(self, spec: ModelSpec, cfg: ApexConfig):
        super().__init__(spec, cfg)
        if cfg.width < 1 or cfg.dim < 1:
            raise ProtocolError(f"width and dim must be positive, got {cfg.width}, {cfg.dim}")
        self.dropout = nn.Dropout(cfg.dropout)


class ApexSingle(_ApexModel):
    """One stream: apex image → ResNet-18 → features → head."""

    def __init__(self, spec: ModelSpec, cfg: ApexConfig):
        super().__init__(spec, cfg)
        self.trunk, self.stream, self.head = true_stream(cfg, spec.num_outputs)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        features = self.stream(self.trunk(batch["apex"]))
        return {
            "output": self.task.head(self.head(self.dropout(features))),
            "features": features,
        }


class TemporalAttentionPool(nn.Module):
    """``(B, T, F)`` → ``(B, F)``: a softmax over time of a score read from each step's features
    plus a learnt embedding of its position, then the weighted sum of the features.

    Which steps matter is learnt (where in the clip the telling frames sit, and what they look
    like), instead of fixed by a mean (which dilutes a short event) or a max (which mixes the
    strongest response of every channel, from whichever frames)."""

    def __init__(self, features: int, max_steps: int = 64):
        super().__init__()
        self.max_steps = max_steps
        self.position = nn.Parameter(torch.zeros(max_steps, features))
        self.score = nn.Sequential(nn.Linear(features, features // 2 or 1), nn.Tanh())
        self.score_out = nn.Linear(features // 2 or 1, 1)

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """The attention over time, ``(B, T)``, each row summing to 1."""
        t = x.shape[1]
        if t > self.max_steps:
            raise ValueError(f"temporal attention holds {self.max_steps} steps, got {t}")
        return torch.softmax(self.score_out(self.score(x + self.position[:t])).squeeze(-1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.weights(x).unsqueeze(-1) * x).sum(1)


class ClipBaseline(_ApexModel):
    """Onset → apex clip → each frame minus the onset frame → ResNet-18 per frame → temporal
    attention → one stream → head.

    The clip's first frame is the onset, still neutral: subtracting it leaves what the face
    did since (the usual onset-relative input of micro-expression work, as in onset → apex
    optical flow) and removes who the person is. Where in the clip the true emotion shows
    is not fixed, so attention over time (:class:`TemporalAttentionPool`) learns which frames
    to weight, instead of a mean (which dilutes a short event) or a max."""

    def __init__(self, spec: ModelSpec, cfg: ApexConfig):
        super().__init__(spec, cfg)
        self.encoder = FrameEncoder(cfg.width, cfg.input_size or None)
        self.pool = TemporalAttentionPool(self.encoder.out_features)
        self.stream = Stream(self.encoder.out_features, cfg.dim)
        self.head = nn.Linear(cfg.dim, spec.num_outputs)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        clip = batch["clip"]
        if clip.shape[1] < 2:
            raise ProtocolError("clip-baseline needs at least 2 frames (the onset and one more)")
        motion = clip[:, 1:] - clip[:, :1]
        features = self.stream(self.pool(self.encoder(motion)))
        return {
            "output": self.task.head(self.head(self.dropout(features))),
            "features": features,
        }


# Side streams of random numbers, one per purpose (offsets from the run's seed)
_DISGUISE_WEIGHTS, _DISGUISE_DROPOUT = 1, 2


def side_seed(offset: int) -> int:
    """A seed derived from the run's (``torch.initial_seed()``, read without drawing from the
    global generator) for a side stream of random numbers; ``offset`` tells streams apart."""
    return (torch.initial_seed() + offset) % 2**63


class SideDropout(nn.Module):
    """Dropout whose masks come from a generator of its own, not torch's global one.

    Its generator is seeded from the run's seed (:func:`side_seed` with ``offset``, one per side
    stream) when the module is built, so a run is still reproducible from its seed; and drawing
    these masks leaves the global generator, which every other dropout mask of the model comes
    from, where a model without this module would have left it."""

    def __init__(self, p: float, offset: int):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {p}")
        self.p = p
        self.generator = torch.Generator().manual_seed(side_seed(offset))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape, generator=self.generator).to(x.device) >= self.p
        return x * keep / (1.0 - self.p)


class Dsid(_ApexModel):
    """Two streams over one apex image: true emotion and disguise, decoupled by HSIC.

    **Paired by construction.** The true-emotion stream (trunk, projection, dropout, head) is
    built and run exactly like :class:`ApexSingle`: its parameters are drawn first, in the same
    order, and its dropout masks come from torch's global generator in the same sequence, while
    the disguise stream draws its parameters and its dropout masks from generators of its own
    (seeded from the run's seed; :class:`SideDropout`). With separate trunks (the default) and
    λ = 0 nothing else reaches the true stream, so under one seed ``apex-two-head`` predicts the
    true emotion exactly as ``apex-single`` does, and ``dsid`` differs from both *only* by the
    HSIC term: a comparison of the three measures the decoupling, not which random
    initialisation each model happened to draw (common random numbers). With
    ``shared_backbone`` the displayed expression's loss also trains the shared trunk, so the
    ablation differs from the single stream by that too.
    """

    cfg: DsidConfig

    def __init__(self, spec: ModelSpec, cfg: DsidConfig, name: str = "dsid"):
        super().__init__(spec, cfg)
        if spec.aux_classes < 1:
            raise ProtocolError(
                f"model {name!r} also learns the displayed expression: the protocol must give "
                "an auxiliary label (aux_classes > 0, batch['aux_target'])"
            )
        bandwidth = cfg.hsic_bandwidth
        if not (bandwidth == "median" or (not isinstance(bandwidth, str) and bandwidth > 0)):
            raise ProtocolError(
                f"model {name!r}: hsic_bandwidth must be 'median' or a positive number, "
                f"got {bandwidth!r}"
            )
        if cfg.hsic_weight < 0:
            raise ProtocolError(f"model {name!r}: hsic_weight must be >= 0, got {cfg.hsic_weight}")
        self.name = name
        self.aux_classes = spec.aux_classes
        # The true-emotion stream is drawn exactly as ApexSingle draws its one stream; the
        # disguise stream from a generator of its own, so that torch's global generator ends
        # where ApexSingle leaves it (the same dropout masks follow; see the class docstring).
        self.trunk_true, self.stream_true, self.head = true_stream(cfg, spec.num_outputs)
        trunk_features = self.trunk_true.out_features
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(side_seed(_DISGUISE_WEIGHTS))
            self.trunk_disguise = None if cfg.shared_backbone else apex_trunk(cfg)
            self.stream_disguise = Stream(trunk_features, cfg.dim)
            self.aux_head = nn.Linear(cfg.dim, spec.aux_classes)
        self.dropout_disguise = SideDropout(cfg.dropout, _DISGUISE_DROPOUT)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        image = batch["apex"]
        trunk_true = self.trunk_true(image)
        trunk_disguise = trunk_true if self.trunk_disguise is None else self.trunk_disguise(image)
        features_true = self.stream_true(trunk_true)
        features_disguise = self.stream_disguise(trunk_disguise)
        return {
            "output": self.head(self.dropout(features_true)),
            "aux_output": self.aux_head(self.dropout_disguise(features_disguise)),
            "features": features_true,  # what the main head reads (as in apex-single)
            "features_disguise": features_disguise,
        }

    def loss_terms(
        self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """The unweighted parts of the objective: ``true``, ``displayed``, ``hsic``.

        ``hsic`` is 0 for a batch of one sample (no dependence can be measured).
        """
        if "aux_target" not in batch:
            raise ProtocolError(
                f"model {self.name!r} needs the displayed-expression label, but the batch has "
                "no 'aux_target'"
            )
        f_true, f_disguise = out["features"], out["features_disguise"]
        if f_true.shape[0] >= 2:
            dependence = hsic(f_true, f_disguise, self.cfg.hsic_bandwidth)
        else:
            dependence = f_true.sum() * 0.0
        return {
            "true": F.cross_entropy(out["output"], batch["target"]),
            "displayed": F.cross_entropy(out["aux_output"], batch["aux_target"]),
            "hsic": dependence,
        }

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        terms = self.loss_terms(out, batch)
        total = terms["true"] + terms["displayed"]
        if self.cfg.hsic_weight > 0:
            total = total + self.cfg.hsic_weight * terms["hsic"]
        return total

    def describe(self) -> dict:
        info = super().describe()
        info.update(aux_classes=self.aux_classes)
        return info


def _dsid_config(name: str, spec: ModelSpec, **defaults) -> DsidConfig:
    base = replace(DSID_CONFIGS[spec.config], **defaults)
    return configure(name, base, spec.overrides)


def _apex_config(name: str, spec: ModelSpec) -> ApexConfig:
    return configure(name, APEX_CONFIGS[spec.config], spec.overrides)


@register_model("dsid", inputs=("apex",), tasks=("classification",), needs_aux=True)
def dsid(spec: ModelSpec) -> Dsid:
    """DSID: true-emotion and disguise streams on the apex frame, decoupled by HSIC."""
    return Dsid(spec, _dsid_config("dsid", spec), "dsid")


@register_model("apex-two-head", inputs=("apex",), tasks=("classification",), needs_aux=True)
def apex_two_head(spec: ModelSpec) -> Dsid:
    """DSID without the HSIC term (λ = 0): two streams, two heads, no decoupling."""
    return Dsid(spec, _dsid_config("apex-two-head", spec, hsic_weight=0.0), "apex-two-head")


@register_model("apex-single", inputs=("apex",))
def apex_single(spec: ModelSpec) -> ApexSingle:
    """One ResNet-18 stream on the apex frame, true-emotion head only."""
    return ApexSingle(spec, _apex_config("apex-single", spec))


@register_model("clip-baseline", inputs=("clip",))
def clip_baseline(spec: ModelSpec) -> ClipBaseline:
    """ResNet-18 over the onset → apex clip's change since the onset, attention over time."""
    return ClipBaseline(spec, _apex_config("clip-baseline", spec))
