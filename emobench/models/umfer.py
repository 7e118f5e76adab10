"""UMFER: unpaired multimodal facial expression recognition (visible + thermal in training,
visible alone at test).

Source: Bin Xia and Shangfei Wang, "Unpaired Multimodal Facial Expression Recognition", ACCV
2020 (LNCS 12626). Only the abstract is known and no code is public. What it states, and what
is built here:

- two deep networks, one per modality (visible, thermal), each learning a representation and an
  expression classifier — :class:`~emobench.models.adversarial.ModalityNetwork` ×2;
- adversarial learning that forces statistical similarity between the visible and thermal
  representations — a representation discriminator ``D_f`` on the hidden features;
- adversarial learning that minimises the mismatch between the distributions of the two
  modalities' predictions — a prediction discriminator ``D_p`` on the softmax outputs;
- a decoder on the visible hidden features that preserves what is inherent to the visible
  view — :class:`~emobench.models.adversarial.ImageDecoder` and a reconstruction loss;
- an adaptive classification loss for the variability of the images' transferability;
- only the visible network at test.

Everything else is **emobench's choice, not the paper's** (unknown): the backbone (a plain-torch
ResNet-18, random init, 112 px in ``paper``), the hidden width, the MLP discriminators, the
decoder, the adversarial loss form (domain confusion), the weighting formula of the adaptive
loss, the loss weights λ and all training settings.

Notation: in one batch, ``V`` are the rows holding a visible image, ``T`` those holding a
thermal image (``visible_present`` / ``thermal_present``; a row may hold both). ``h = E(x)``
hidden features, ``z = C(h)`` logits, ``p = softmax(z)``; ``d_f = σ(D_f(h))`` and
``d_p = σ(D_p(p))`` are the discriminators' belief that their input came from the visible
network. ``mean⟨a, b⟩`` is the mean of the terms whose modality has rows in the batch (a batch
without thermal rows keeps only the visible side, and so on: no NaN, no term on no rows).

**Discriminators' loss** (their own optimizer, learning rate ``disc_lr``; inputs detached, so
no network moves)::

    L_D = mean⟨ −1/|V| Σ_V log d_f(h_v),  −1/|T| Σ_T log(1 − d_f(h_t)) ⟩
        + mean⟨ −1/|V| Σ_V log d_p(p_v),  −1/|T| Σ_T log(1 − d_p(p_t)) ⟩

**Networks' loss** (learning rate ``lr``; the discriminators held fixed, so none moves)::

    L = L_cls_v + L_cls_t + λ_feat · L_feat + λ_pred · L_pred + λ_rec · L_rec
    L_cls_v = 1/|V| Σ_V w_i · CE(z_v,i, y_i)                      (adaptive; w_i = 1 if off)
    L_cls_t = 1/|T| Σ_T CE(z_t,j, y_j)
    L_feat  = mean⟨ 1/|V| Σ_V KL(½ ‖ d_f(h_v)),  1/|T| Σ_T KL(½ ‖ d_f(h_t)) ⟩
    L_pred  = mean⟨ 1/|V| Σ_V KL(½ ‖ d_p(p_v)),  1/|T| Σ_T KL(½ ‖ d_p(p_t)) ⟩
    L_rec   = 1/|V| Σ_V mean_pixels (Dec(h_v) − x_v↓)²           (x_v↓: x_v at the decoder's side)

with ``KL(½ ‖ d) = −½ log d − ½ log(1 − d) − ln 2``: the domain-confusion loss (Tzeng et al.,
ICCV 2015), 0 exactly when the discriminator cannot tell the modalities apart, with a gradient
that does not vanish when the discriminator is sure (flipped labels make two networks trained
at once swap sides instead of meeting).

**Adaptive classification weight** (the paper's exact weighting could not be read: only "an
adaptive classification loss ... the variability of the different images' transferability"
is known)::

    ŵ_i = 1 + (1 − |2 · d_f(h_v,i) − 1|)      w_i = ŵ_i / mean_V(ŵ)      (detached)

A visible image whose hidden features the representation discriminator cannot place
(``d_f ≈ ½``) lies where the two modalities' representations overlap: what the alignment
brings from the thermal network applies to it, so it is the most transferable image and
weighs ``ŵ = 2``; one the discriminator places surely on either side (``d_f → 0`` or ``1``)
weighs ``ŵ = 1``, as in plain visible training. ŵ is a piecewise-linear form of the ``1 +
H(d)`` weighting (H: binary entropy in bits) of transferable attention for domain adaptation
(Wang et al., AAAI 2019): both are 1 at a sure discriminator and 2 at an undecided one. It is
detached (the weight says which images count; it is not a quantity to optimise) and normalised
to mean 1 over the batch's visible rows, so that it changes which images count, not the scale
of the cross-entropy against the other terms. ``adaptive = False`` sets every w_i to 1.

**No pairing.** Every term is a mean over one modality's rows, or a match between the two
modalities' *distributions* over the batch; no term reads a row's visible and thermal images
together. A row holding both is used as one visible image and one thermal image that happen
to share a batch.

**Training** alternates (:class:`~emobench.models.adversarial.AlternatingModel`): one forward
pass of the networks, the discriminators' step on ``L_D``, then the networks' step on ``L``
against the updated discriminators. ``loss()`` returns ``L + L_D`` (each reaching only its
own player's parameters), what one optimizer over every parameter would minimise.

**Test**: the forward pass reads ``visible`` only (thermal, absent from a test batch, is not
run) and returns ``output`` (the visible logits) and ``features`` (the visible hidden
features h_v, what the classifier reads).

**Paired with** ``visible-only`` **by seed**: the visible network is built first, by the same
code (:class:`~emobench.models.adversarial.ModalityModel`), so under one seed both models
start from the same visible weights; they then differ by what UMFER adds (dropout masks also
differ, as UMFER's thermal network draws its own from the same generator).

Every :class:`UmferConfig` field is an override key (``--set lambda_feat=0.3``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from emobench.errors import ProtocolError
from emobench.models.adversarial import (
    MODALITY_CONFIGS,
    ImageDecoder,
    MLPDiscriminator,
    ModalityConfig,
    ModalityModel,
    confusion_loss,
    discriminator_bce,
    frozen_call,
    mean_of_terms,
    mean_or_none,
    network_side,
    on_rows,
    reconstruction_target,
    total,
)
from emobench.models.configs import configure
from emobench.models.registry import ModelSpec, register_model


@dataclass(frozen=True)
class UmferConfig(ModalityConfig):
    """:class:`ModalityConfig` plus UMFER's terms (every value is emobench's choice)."""

    lambda_feat: float = 0.1  # λ_feat: representation alignment (D_f)
    lambda_pred: float = 0.1  # λ_pred: prediction-distribution alignment (D_p)
    lambda_rec: float = 1.0  # λ_rec: reconstruction of the visible image from h_v
    adaptive: bool = True  # transferability-weighted visible cross-entropy
    disc_lr: float = 1e-3  # the discriminators' learning rate
    disc_hidden: int = 128  # the discriminators' hidden width
    decoder_channels: int = 64  # the decoder's channels at 4×4 (halving per doubling)


UMFER_CONFIGS: dict[str, UmferConfig] = {
    "paper": UmferConfig(
        **asdict(MODALITY_CONFIGS["paper"]), disc_lr=1e-4, disc_hidden=256, decoder_channels=256
    ),
    "small": UmferConfig(
        **asdict(MODALITY_CONFIGS["small"]), disc_lr=1e-3, disc_hidden=128, decoder_channels=64
    ),
}


def transferability_weights(disc_logits: torch.Tensor) -> torch.Tensor:
    """The adaptive weights of the visible rows from ``D_f``'s logits on their features:
    ``ŵ = 1 + (1 − |2·σ(logit) − 1|)``, detached, divided by its mean (see the module
    docstring for why). One weight per row, mean 1; highest where ``D_f`` is undecided."""
    d = torch.sigmoid(disc_logits.detach())
    raw = 1.0 + (1.0 - (2.0 * d - 1.0).abs())
    return raw / raw.mean()


class Umfer(ModalityModel):
    """Visible and thermal networks, D_f, D_p, the decoder; see the module docstring."""

    cfg: UmferConfig

    def __init__(self, spec: ModelSpec, cfg: UmferConfig, name: str = "umfer"):
        super().__init__(spec, cfg, name, ("visible", "thermal"))
        for key in ("lambda_feat", "lambda_pred", "lambda_rec"):
            if getattr(cfg, key) < 0:
                raise ProtocolError(f"model {name!r}: {key} must be >= 0, got {getattr(cfg, key)}")
        if cfg.disc_lr <= 0 or cfg.disc_hidden < 1 or cfg.decoder_channels < 1:
            raise ProtocolError(
                f"model {name!r}: disc_lr, disc_hidden and decoder_channels must be positive, "
                f"got {cfg.disc_lr}, {cfg.disc_hidden}, {cfg.decoder_channels}"
            )
        # only what a term uses is built (an ablation λ = 0 drops its module)
        if cfg.lambda_feat > 0 or cfg.adaptive:
            self.discriminators["feat"] = MLPDiscriminator(cfg.hidden, cfg.disc_hidden)
        if cfg.lambda_pred > 0:
            self.discriminators["pred"] = MLPDiscriminator(spec.num_outputs, cfg.disc_hidden)
        self.decoder: nn.Module | None = None
        if cfg.lambda_rec > 0:
            self.decoder = ImageDecoder(
                cfg.hidden, network_side(cfg, spec), cfg.decoder_channels, out_channels=3
            )

    def _sides(
        self, out: dict[str, torch.Tensor]
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor] | None]:
        """Per modality, its rows' hidden features and softmax outputs (``None``: no row)."""
        sides = {}
        for m in ("visible", "thermal"):
            found = self.part(out, m)
            sides[m] = None if found is None else (found[0], F.softmax(found[1], dim=-1))
        return sides

    def discriminator_terms(
        self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor | None]:
        """``feat`` and ``pred``: each discriminator's BCE on detached inputs, visible = 1."""
        sides = self._sides(out)
        terms: dict[str, torch.Tensor | None] = {}
        for key, which in (("feat", 0), ("pred", 1)):
            if key not in self.discriminators:
                continue
            disc = self.discriminators[key]
            terms[key] = mean_of_terms(
                [
                    None
                    if sides[m] is None
                    else discriminator_bce(disc(sides[m][which].detach()), m == "visible")
                    for m in ("visible", "thermal")
                ]
            )
        return terms

    def discriminator_loss(
        self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        return total(self.discriminator_terms(out, batch), {})

    def loss_terms(
        self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor | None]:
        """The unweighted parts of the networks' loss: ``visible_ce`` (adaptive), ``thermal_ce``,
        ``feat``, ``pred``, ``rec`` — ``None`` for a term without rows or module."""
        sides = self._sides(out)
        terms: dict[str, torch.Tensor | None] = dict.fromkeys(
            ("visible_ce", "thermal_ce", "feat", "pred", "rec")
        )
        ce_v = self.cross_entropy(out, batch, "visible")
        ce_t = self.cross_entropy(out, batch, "thermal")
        judged: dict[str, dict[str, torch.Tensor]] = {"feat": {}, "pred": {}}
        for key, which in (("feat", 0), ("pred", 1)):  # 0: hidden features, 1: softmax
            if key not in self.discriminators:
                continue
            disc = self.discriminators[key]
            for m, side in sides.items():
                if side is not None:
                    judged[key][m] = frozen_call(disc, side[which])
        if ce_v is not None:
            weights = (
                transferability_weights(judged["feat"]["visible"])
                if self.cfg.adaptive
                else torch.ones_like(ce_v)
            )
            terms["visible_ce"] = (weights * ce_v).mean()
        terms["thermal_ce"] = mean_or_none(ce_t) if ce_t is not None else None
        for key in ("feat", "pred"):
            if judged[key]:
                terms[key] = mean_of_terms([confusion_loss(v) for v in judged[key].values()])
        if self.decoder is not None and sides["visible"] is not None:
            image = on_rows(batch["visible"], out["visible_rows"])
            rebuilt = self.decoder(sides["visible"][0])
            terms["rec"] = F.mse_loss(rebuilt, reconstruction_target(image, self.decoder.size))
        return terms

    def network_loss(
        self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        c = self.cfg
        weights = {"feat": c.lambda_feat, "pred": c.lambda_pred, "rec": c.lambda_rec}
        return total(self.loss_terms(out, batch), weights)


def _umfer_config(name: str, spec: ModelSpec) -> UmferConfig:
    return configure(name, UMFER_CONFIGS[spec.config], spec.overrides)


@register_model(
    "umfer",
    inputs=("visible", "thermal"),
    tasks=("classification",),
    test_inputs=("visible",),
)
def umfer(spec: ModelSpec) -> Umfer:
    """UMFER: unpaired visible + thermal networks aligned adversarially; visible at test."""
    return Umfer(spec, _umfer_config("umfer", spec))
