"""Baselines that put UMFER's numbers in context: one modality alone, and thermal as paired
privileged information.

- ``visible-only`` (input ``visible``): UMFER's visible network and classifier alone,
  cross-entropy only. Built first by the same code as in ``umfer``
  (:class:`~emobench.models.adversarial.ModalityModel`), so under one seed the two start from
  the same visible weights and differ by what UMFER adds.
- ``thermal-only`` (input ``thermal``, train and test): UMFER's thermal network and classifier
  alone, cross-entropy only — the ``vt-thermal`` diagnostic (does thermal carry the signal?).
- ``thermal-privileged`` (inputs ``visible`` + ``thermal``, test ``visible``): paired training
  with thermal as privileged information, in the spirit of Pan & Wang, "Facial Expression
  Recognition Enhanced by Thermal Images through Adversarial Learning", ACM MM 2018: two
  networks, an adversarial loss that makes the two representations statistically similar, and
  a similarity constraint that ties the two classifiers together. Only the abstract is known;
  the exact losses are emobench's choice::

      L   = L_cls_v + L_cls_t + λ_sim · L_sim + λ_feat · L_feat
      L_cls_v = 1/|V| Σ_V CE(z_v,i, y_i)       L_cls_t = 1/|T| Σ_T CE(z_t,j, y_j)
      L_sim   = 1/|P| Σ_P ½ [KL(p_v,i ‖ p_t,i) + KL(p_t,i ‖ p_v,i)]      (P = V ∩ T: pairs)
      L_feat  = mean⟨ 1/|V| Σ_V KL(½ ‖ d_f(h_v)),  1/|T| Σ_T KL(½ ‖ d_f(h_t)) ⟩
      L_D     = mean⟨ −1/|V| Σ_V log d_f(h_v),  −1/|T| Σ_T log(1 − d_f(h_t)) ⟩

  (notation of :mod:`emobench.models.umfer`). The similarity constraint is the symmetric KL
  divergence between the two networks' class distributions on each row that holds both images
  of one capture — it *uses* the pairing, which is what distinguishes this baseline from
  UMFER — and is 0 exactly when they agree; both networks are pulled towards each other (the
  two classifiers are "tied together", neither is a fixed teacher). The adversarial
  representation term is kept (``lambda_feat`` = 0.1; 0 drops the discriminator and the
  alternating updates) with UMFER's representation discriminator and confusion loss, so the
  two models' shared parts are the same. A batch without pairs skips ``L_sim``.

Configs are UMFER's shared network and training settings
(:data:`~emobench.models.adversarial.MODALITY_CONFIGS`); every field is an override key.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from emobench.errors import ProtocolError
from emobench.models.adversarial import (
    MODALITY_CONFIGS,
    MLPDiscriminator,
    ModalityConfig,
    ModalityModel,
    confusion_loss,
    discriminator_bce,
    frozen_call,
    mean_of_terms,
    total,
)
from emobench.models.configs import configure
from emobench.models.registry import ModelSpec, register_model


@dataclass(frozen=True)
class PrivilegedConfig(ModalityConfig):
    """:class:`ModalityConfig` plus the paired terms (emobench's choices)."""

    lambda_sim: float = 1.0  # λ_sim: symmetric KL between the two networks' outputs on pairs
    lambda_feat: float = 0.1  # λ_feat: adversarial representation alignment (0 = none)
    disc_lr: float = 1e-3  # the discriminator's learning rate
    disc_hidden: int = 128  # the discriminator's hidden width


PRIVILEGED_CONFIGS: dict[str, PrivilegedConfig] = {
    "paper": PrivilegedConfig(**asdict(MODALITY_CONFIGS["paper"]), disc_lr=1e-4, disc_hidden=256),
    "small": PrivilegedConfig(**asdict(MODALITY_CONFIGS["small"]), disc_lr=1e-3, disc_hidden=128),
}


def symmetric_kl(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """Per row, ``½ [KL(p_a ‖ p_b) + KL(p_b ‖ p_a)]`` of the softmaxes of two ``(N, C)``
    logits: ≥ 0, and 0 exactly when the two distributions agree."""
    log_a = F.log_softmax(logits_a, dim=-1)
    log_b = F.log_softmax(logits_b, dim=-1)
    return 0.5 * ((log_a.exp() - log_b.exp()) * (log_a - log_b)).sum(-1)


class SingleModality(ModalityModel):
    """One modality's network and classifier; cross-entropy on the rows that hold it."""

    def __init__(self, spec: ModelSpec, cfg: ModalityConfig, name: str, modality: str):
        super().__init__(spec, cfg, name, (modality,))


class ThermalPrivileged(ModalityModel):
    """Visible and thermal networks, a similarity constraint on pairs, and (``lambda_feat`` >
    0) a representation discriminator; see the module docstring."""

    cfg: PrivilegedConfig

    def __init__(self, spec: ModelSpec, cfg: PrivilegedConfig, name: str = "thermal-privileged"):
        super().__init__(spec, cfg, name, ("visible", "thermal"))
        if cfg.lambda_sim < 0 or cfg.lambda_feat < 0:
            raise ProtocolError(
                f"model {name!r}: lambda_sim and lambda_feat must be >= 0, "
                f"got {cfg.lambda_sim}, {cfg.lambda_feat}"
            )
        if cfg.disc_lr <= 0 or cfg.disc_hidden < 1:
            raise ProtocolError(
                f"model {name!r}: disc_lr and disc_hidden must be positive, "
                f"got {cfg.disc_lr}, {cfg.disc_hidden}"
            )
        if cfg.lambda_feat > 0:
            self.discriminators["feat"] = MLPDiscriminator(cfg.hidden, cfg.disc_hidden)

    def loss_terms(
        self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor | None]:
        """The unweighted parts of the networks' loss: ``visible_ce``, ``thermal_ce``, ``sim``
        (on the rows holding both), ``feat`` — ``None`` for a term without rows or module."""
        ce = {m: self.cross_entropy(out, batch, m) for m in ("visible", "thermal")}
        terms: dict[str, torch.Tensor | None] = {
            f"{m}_ce": None if v is None else v.mean() for m, v in ce.items()
        }
        terms["sim"] = None
        if "thermal_rows" in out and "visible_rows" in out:
            pairs = out["visible_rows"] & out["thermal_rows"]
            if bool(pairs.any()):
                terms["sim"] = symmetric_kl(
                    out["output"][pairs], out["thermal_output"][pairs]
                ).mean()
        terms["feat"] = None
        if "feat" in self.discriminators:
            disc = self.discriminators["feat"]
            judged = [
                confusion_loss(frozen_call(disc, found[0]))
                for found in (self.part(out, m) for m in ("visible", "thermal"))
                if found is not None
            ]
            terms["feat"] = mean_of_terms(judged)
        return terms

    def network_loss(
        self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        weights = {"sim": self.cfg.lambda_sim, "feat": self.cfg.lambda_feat}
        return total(self.loss_terms(out, batch), weights)

    def discriminator_loss(
        self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        if "feat" not in self.discriminators:
            return torch.zeros(())
        disc = self.discriminators["feat"]
        sides = {m: self.part(out, m) for m in ("visible", "thermal")}
        term = mean_of_terms(
            [
                discriminator_bce(disc(found[0].detach()), m == "visible")
                for m, found in sides.items()
                if found is not None
            ]
        )
        return total({"feat": term}, {})


def _modality_config(name: str, spec: ModelSpec) -> ModalityConfig:
    return configure(name, MODALITY_CONFIGS[spec.config], spec.overrides)


@register_model("visible-only", inputs=("visible",), tasks=("classification",))
def visible_only(spec: ModelSpec) -> SingleModality:
    """UMFER's visible network and classifier alone, cross-entropy only."""
    return SingleModality(spec, _modality_config("visible-only", spec), "visible-only", "visible")


@register_model("thermal-only", inputs=("thermal",), tasks=("classification",))
def thermal_only(spec: ModelSpec) -> SingleModality:
    """UMFER's thermal network and classifier alone, trained and tested on thermal."""
    return SingleModality(spec, _modality_config("thermal-only", spec), "thermal-only", "thermal")


@register_model(
    "thermal-privileged",
    inputs=("visible", "thermal"),
    tasks=("classification",),
    test_inputs=("visible",),
)
def thermal_privileged(spec: ModelSpec) -> ThermalPrivileged:
    """Paired visible + thermal training, outputs tied by symmetric KL; visible at test."""
    cfg = configure("thermal-privileged", PRIVILEGED_CONFIGS[spec.config], spec.overrides)
    return ThermalPrivileged(spec, cfg)
