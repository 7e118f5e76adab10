"""Shared parts of the visible/thermal models (``umfer``, ``visible-only``,
``thermal-privileged``, ``thermal-only``): one network per modality, the discriminators and
the image decoder of adversarial cross-modal learning, the row bookkeeping of batches whose
rows hold one modality or both, and the two-optimizer training step that alternates a
discriminator update with a network update.

- :class:`ModalityConfig` / :data:`MODALITY_CONFIGS` — the network and training settings every
  model of the track shares, so that two models built with the same config name differ only in
  what one of them adds.
- :class:`ModalityNetwork` — ResNet-18 (3 channels for visible, 1 for thermal) → hidden
  features ``h`` (``Linear → ReLU``) → dropout → classifier.
- :class:`MLPDiscriminator` — a small MLP giving one logit, "this came from the visible
  network".
- :class:`ImageDecoder` — hidden features → an image at the network's input size.
- :func:`present_rows`, :func:`run_on_rows`, :func:`mean_or_none`, :func:`mean_of_terms`,
  :func:`total` — a batch's rows that hold a modality, a network run on those rows only (blank
  stand-ins never reach a convolution or a BatchNorm), and means and weighted sums that skip a
  modality with no rows (no NaN, no term on no rows).
- :func:`frozen_call`, :func:`discriminator_bce`, :func:`confusion_loss` — the two players'
  losses, each reaching only its own player's parameters.
- :class:`AlternatingModel` — the base of a model with discriminators: ``optimizers()`` gives the
  networks and the discriminators an optimizer each, ``train_step()`` steps the discriminators
  on detached inputs, then the networks against the updated, fixed discriminators.
- :class:`ModalityModel` — the base of the four models: one network per modality, built in a
  fixed order (the tested one first, which pairs models by seed), each run on its own rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from emobench.errors import ProtocolError
from emobench.models.backbones import ResNet18, resize_frames
from emobench.models.base import EmobenchModel, Optimizers
from emobench.models.configs import TrainSettings
from emobench.models.registry import ModelSpec

VISIBLE_CHANNELS, THERMAL_CHANNELS = 3, 1


@dataclass(frozen=True)
class ModalityConfig(TrainSettings):
    """One modality's network, and the training settings, shared by the track's models."""

    width: int  # ResNet-18 base width (64 = the real network, 512-d trunk features)
    input_size: int  # images resized to input_size² inside each network (0 = keep)
    hidden: int  # width of the hidden features h (Linear(8·width, hidden) → ReLU)
    dropout: float  # on h, before the classifier


MODALITY_CONFIGS: dict[str, ModalityConfig] = {
    # UMFER's backbone, sizes and training settings are unknown (only the abstract is
    # readable): ResNet-18 at full width on 112 px, and the rest, are emobench's choices
    "paper": ModalityConfig(
        width=64,
        input_size=112,
        hidden=256,
        dropout=0.5,
        epochs=100,
        batch_size=32,
        lr=1e-4,
        weight_decay=5e-4,
        optimizer="adam",
        scheduler="cosine",
    ),
    # the same structure scaled to train on the miniature (~450 images of 64²) on a CPU
    "small": ModalityConfig(
        width=16,
        input_size=64,
        hidden=128,
        dropout=0.3,
        epochs=15,
        batch_size=32,
        lr=1e-3,
        weight_decay=1e-4,
        optimizer="adam",
        scheduler="cosine",
    ),
}


def check_modality_config(name: str, cfg: ModalityConfig) -> None:
    """A :class:`ProtocolError` naming the model for a setting no network can be built with."""
    if cfg.width < 1 or cfg.hidden < 1:
        raise ProtocolError(
            f"model {name!r}: width and hidden must be positive, got {cfg.width}, {cfg.hidden}"
        )
    if cfg.input_size < 0:
        raise ProtocolError(f"model {name!r}: input_size must be >= 0, got {cfg.input_size}")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ProtocolError(f"model {name!r}: dropout must be in [0, 1), got {cfg.dropout}")


def network_side(cfg: ModalityConfig, spec: ModelSpec) -> int:
    """The side of the images a network convolves: ``input_size``, or (0 = keep) the side of
    the pack's visible images."""
    if cfg.input_size:
        return cfg.input_size
    shape = spec.shapes.get("visible")
    return int(shape[1]) if shape else spec.frame_size


class ModalityNetwork(nn.Module):
    """One modality's network: ResNet-18 → ``h = ReLU(Linear(8·width, hidden))`` → dropout →
    ``Linear(hidden, classes)``. Parameters are drawn in that order from torch's global
    generator, so two models that build this first under one seed start from the same
    weights."""

    def __init__(self, cfg: ModalityConfig, in_channels: int, classes: int):
        super().__init__()
        self.trunk = ResNet18(
            cfg.width, cfg.input_size or None, channels_last=True, in_channels=in_channels
        )
        self.project = nn.Linear(self.trunk.out_features, cfg.hidden)
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(cfg.hidden, classes)
        self.out_features = cfg.hidden

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, C, H, W)`` → hidden features ``(N, hidden)`` and logits ``(N, classes)``."""
        hidden = F.relu(self.project(self.trunk(x)))
        return hidden, self.classifier(self.dropout(hidden))


class MLPDiscriminator(nn.Module):
    """``(N, F)`` → ``(N,)`` logits of "from the visible network": two hidden layers with
    LeakyReLU(0.2), no normalisation (a batch may hold one row of a modality, or none)."""

    def __init__(self, in_features: int, hidden: int):
        super().__init__()
        if in_features < 1 or hidden < 1:
            raise ValueError(f"discriminator sizes must be positive, got {in_features}, {hidden}")
        self.net = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


class ImageDecoder(nn.Module):
    """Hidden features ``(N, F)`` → an image ``(N, out_channels, size, size)`` in 0..1.

    ``Linear`` to ``channels × 4 × 4``, then doublings (nearest upsampling, 3×3 convolution,
    ReLU), the channels halving each time (down to 8), until the side reaches ``size`` or just
    passes it; a last 3×3 convolution and a sigmoid; bilinear resizing to exactly ``size``
    when the doublings do not land on it (e.g. 112 = 7 · 16: 4 → 128, resized to 112)."""

    def __init__(self, in_features: int, size: int, channels: int, out_channels: int = 3):
        super().__init__()
        if size < 4 or channels < 1:
            raise ValueError(f"decoder needs size >= 4 and channels >= 1, got {size}, {channels}")
        self.size = size
        self.channels = channels
        self.fc = nn.Linear(in_features, channels * 16)
        layers: list[nn.Module] = []
        side, c = 4, channels
        while side < size:
            nxt = max(c // 2, 8)
            layers += [nn.Upsample(scale_factor=2), nn.Conv2d(c, nxt, 3, padding=1), nn.ReLU()]
            side, c = side * 2, nxt
        layers.append(nn.Conv2d(c, out_channels, 3, padding=1))
        self.up = nn.Sequential(*layers)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc(hidden)).view(-1, self.channels, 4, 4)
        x = torch.sigmoid(self.up(x))
        if x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True)
        return x


def reconstruction_target(image: torch.Tensor, size: int) -> torch.Tensor:
    """The visible image as the decoder should give it back: resized to ``size``² as the
    network resizes its input."""
    return resize_frames(image, size)


# ---------------------------------------------------------------- rows


def present_rows(batch: dict[str, torch.Tensor], name: str) -> torch.Tensor | None:
    """``(B,)`` bool: the rows that hold input ``name`` — ``batch[name + "_present"]`` when the
    batch has it, every row when it has only the input, ``None`` when the input is absent (a
    test batch carries no thermal)."""
    if name not in batch:
        return None
    present = batch.get(f"{name}_present")
    if present is None:
        return torch.ones(batch[name].shape[0], dtype=torch.bool, device=batch[name].device)
    return present.to(device=batch[name].device, dtype=torch.bool)


def run_on_rows(
    network: ModalityNetwork, batch: dict[str, torch.Tensor], name: str
) -> dict[str, torch.Tensor] | None:
    """``network`` on the rows of ``batch[name]`` that hold it, or ``None`` when no row does.

    Returns ``rows`` (B,) bool and ``hidden`` (B, hidden) / ``logits`` (B, classes) with zeros
    on the rows that lack the input. The blank stand-ins of missing rows never enter the
    network (they would shift its BatchNorm statistics), and a network never runs on zero rows
    (an empty batch would put NaN in them).
    """
    rows = present_rows(batch, name)
    if rows is None or not bool(rows.any()):
        return None
    x = batch[name]
    if bool(rows.all()):
        hidden, logits = network(x)
        return {"rows": rows, "hidden": hidden, "logits": logits}
    hidden, logits = network(x[rows])
    return {
        "rows": rows,
        "hidden": scatter_rows(hidden, rows),
        "logits": scatter_rows(logits, rows),
    }


def scatter_rows(values: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """The ``rows.sum()`` rows of ``values`` placed at ``rows`` of a zero tensor of
    ``len(rows)`` rows (differentiable in ``values``)."""
    full = values.new_zeros((rows.shape[0], *values.shape[1:]))
    full[rows] = values
    return full


def on_rows(values: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``values[rows]``, without a copy when every row is kept."""
    return values if bool(rows.all()) else values[rows]


def mean_or_none(values: torch.Tensor) -> torch.Tensor | None:
    """The mean of ``values``, or ``None`` when there are none (instead of NaN)."""
    return values.mean() if values.numel() else None


def mean_of_terms(terms: list[torch.Tensor | None]) -> torch.Tensor | None:
    """The mean of the terms that exist (a modality without rows gives ``None``)."""
    kept = [t for t in terms if t is not None]
    return torch.stack(kept).mean() if kept else None


def total(terms: dict[str, torch.Tensor | None], weights: dict[str, float]) -> torch.Tensor:
    """``Σ weight · term`` over the terms that exist and whose weight is above 0 (a term
    without a weight counts once); a zero scalar when none does."""
    kept = [
        weights.get(k, 1.0) * t
        for k, t in terms.items()
        if t is not None and weights.get(k, 1.0) > 0
    ]
    return torch.stack(kept).sum() if kept else torch.zeros(())


# ---------------------------------------------------------------- the two players' losses


def frozen_call(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module(x)`` with its parameters detached: the gradient reaches ``x`` (the networks)
    and never the module (a discriminator judged by the networks' loss)."""
    params = {k: v.detach() for k, v in module.named_parameters()}
    return functional_call(module, params, (x,))


def discriminator_bce(logits: torch.Tensor, visible: bool) -> torch.Tensor | None:
    """The discriminator's loss on one modality's rows: BCE with target 1 for visible, 0 for
    thermal, averaged over the rows (``None`` without rows)."""
    if not logits.numel():
        return None
    target = torch.full_like(logits, 1.0 if visible else 0.0)
    return F.binary_cross_entropy_with_logits(logits, target)


_LOG2 = math.log(2.0)


def confusion_loss(logits: torch.Tensor) -> torch.Tensor | None:
    """The networks' adversarial loss on one modality's rows: ``KL(Bern(½) ‖ Bern(D(h)))``
    averaged over the rows, i.e. ``BCE(D(h), ½) − ln 2`` (Tzeng et al. 2015's domain
    confusion). It is 0 exactly when the discriminator cannot tell (D = ½) and its gradient
    does not vanish when the discriminator is sure, so both modalities' networks move towards
    the other, instead of swapping sides as flipped labels can when both are trained."""
    if not logits.numel():
        return None
    half = torch.full_like(logits, 0.5)
    return F.binary_cross_entropy_with_logits(logits, half) - _LOG2


# ---------------------------------------------------------------- models


class AlternatingModel(EmobenchModel):
    """A model with networks and discriminators, trained by alternating updates.

    Subclasses put their discriminators in ``self.discriminators`` (an ``nn.ModuleDict``; it
    may stay empty) and define :meth:`network_loss` (the networks' objective, against the
    discriminators held fixed, :func:`frozen_call`) and :meth:`discriminator_loss` (the
    discriminators' objective on detached inputs). ``loss`` is their sum: each term reaches
    only its own player's parameters, so one optimizer over everything makes a simultaneous
    update of both players. ``train_step`` alternates instead, as GAN training does: the
    discriminators' step, then the networks' step against the updated discriminators, each
    with its own optimizer (``optimizers()``: networks first, then discriminators, whose
    learning rate is ``cfg.disc_lr``). Without discriminators it is the default single-step.
    """

    discriminators: nn.ModuleDict

    def network_loss(
        self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        raise NotImplementedError

    def discriminator_loss(
        self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        return torch.zeros(())

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        net = self.network_loss(out, batch)
        if not len(self.discriminators):
            return net
        return net + self.discriminator_loss(out, batch)

    def network_parameters(self) -> list[nn.Parameter]:
        mine = {id(p) for p in self.discriminators.parameters()}
        return [p for p in self.parameters() if id(p) not in mine]

    def optimizers(self, epochs: int) -> Optimizers:
        """The networks' optimizer (``lr``) and, with discriminators, theirs (``disc_lr``);
        the same optimizer kind, weight decay and schedule for both."""
        if not len(self.discriminators):
            return super().optimizers(epochs)
        return [
            self.optimizer_for(self.network_parameters(), self.train_config.lr, epochs),
            self.optimizer_for(list(self.discriminators.parameters()), self.cfg.disc_lr, epochs),
        ]

    def discriminator_step(
        self,
        out: dict[str, torch.Tensor],
        batch: dict[str, torch.Tensor],
        optimizer: torch.optim.Optimizer,
    ) -> float:
        """One update of the discriminators (their inputs are detached: no network moves)."""
        return _update(self.discriminator_loss(out, batch), optimizer)

    def network_step(
        self,
        out: dict[str, torch.Tensor],
        batch: dict[str, torch.Tensor],
        optimizer: torch.optim.Optimizer,
    ) -> float:
        """One update of the networks (the discriminators are held fixed: none moves)."""
        return _update(self.network_loss(out, batch), optimizer)

    def train_step(self, batch: dict[str, torch.Tensor], optimizers: Optimizers) -> float:
        """The discriminators' step, then the networks' step, on one forward pass of the
        networks; returns the networks' loss. A batch that gives a player no term (no row of
        any modality it reads) leaves that player as it was."""
        out = self(batch)
        if not len(self.discriminators):
            ((net_opt, _),) = optimizers
            return self.network_step(out, batch, net_opt)
        (net_opt, _), (disc_opt, _) = optimizers
        self.discriminator_step(out, batch, disc_opt)
        return self.network_step(out, batch, net_opt)


CHANNELS = {"visible": VISIBLE_CHANNELS, "thermal": THERMAL_CHANNELS}


class ModalityModel(AlternatingModel):
    """One :class:`ModalityNetwork` per modality in ``modalities``, built in that order; the
    first is the *main* network, the one tested: its logits are ``output`` and its hidden
    features ``features`` (what a probe reads). The others' are ``<input>_output`` and
    ``<input>_features``; ``<input>_rows`` (B,) says which rows each network saw. Every
    output has the batch's B rows, with zeros where a row lacks the input; a network whose
    input is absent from the batch (thermal at test) or held by no row is not run.

    Every input is read on its own rows only, and no term of this class ties a row's images
    together; a subclass that pairs them (rows holding both) says so.
    """

    def __init__(
        self, spec: ModelSpec, cfg: ModalityConfig, name: str, modalities: tuple[str, ...]
    ):
        super().__init__(spec, cfg)
        check_modality_config(name, cfg)
        unknown = [m for m in modalities if m not in CHANNELS]
        if unknown or not modalities:
            raise ValueError(f"model {name!r}: modalities must be among {sorted(CHANNELS)}")
        self.name = name
        self.main = modalities[0]
        self.hidden = cfg.hidden
        self.networks = nn.ModuleDict()
        for m in modalities:  # the main network's parameters are drawn first
            self.networks[m] = ModalityNetwork(cfg, CHANNELS[m], spec.num_outputs)
        self.discriminators = nn.ModuleDict()

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for m, network in self.networks.items():
            found = run_on_rows(network, batch, m)
            main = m == self.main
            if found is None:
                if main:  # a training batch without a row of the main input
                    like = _any_tensor(batch)
                    size = like.shape[0]
                    out["output"] = like.new_zeros((size, self.num_outputs), dtype=torch.float)
                    out["features"] = like.new_zeros((size, self.hidden), dtype=torch.float)
                    out[f"{m}_rows"] = like.new_zeros(size, dtype=torch.bool)
                continue
            out["output" if main else f"{m}_output"] = self.task.head(found["logits"])
            out["features" if main else f"{m}_features"] = found["hidden"]
            out[f"{m}_rows"] = found["rows"]
        return out

    def part(
        self, out: dict[str, torch.Tensor], name: str
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The hidden features and logits of the rows that hold ``name`` (``None``: no row)."""
        rows = out.get(f"{name}_rows")
        if rows is None or not bool(rows.any()):
            return None
        main = name == self.main
        hidden = out["features" if main else f"{name}_features"]
        logits = out["output" if main else f"{name}_output"]
        return on_rows(hidden, rows), on_rows(logits, rows)

    def cross_entropy(
        self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], name: str
    ) -> torch.Tensor | None:
        """Per-row cross-entropy of network ``name`` on its rows (``None``: no row)."""
        found = self.part(out, name)
        if found is None:
            return None
        return F.cross_entropy(
            found[1], on_rows(batch["target"], out[f"{name}_rows"]), reduction="none"
        )

    def network_loss(
        self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """Cross-entropy of every network on the rows that hold its input."""
        terms = {m: self.cross_entropy(out, batch, m) for m in self.networks}
        return total({m: None if ce is None else ce.mean() for m, ce in terms.items()}, {})


def _any_tensor(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    for value in batch.values():
        if isinstance(value, torch.Tensor) and value.ndim:
            return value
    raise ValueError("the batch holds no tensor: cannot tell its size")


def _update(loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    """One optimizer step on ``loss`` (none when no term had rows: a constant zero)."""
    optimizer.zero_grad(set_to_none=True)
    if loss.requires_grad:
        loss.backward()
        optimizer.step()
    return float(loss.detach())
