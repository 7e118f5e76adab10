"""The contract between the engine and every registered model.

The engine feeds a *batch*: a dict of tensors keyed by input name, each converted by its
modality (:mod:`emobench.modalities`, which lists every input, its stored shape and what the
model sees), plus targets:

==================  ======================  ==========================================
key                 shape                   meaning
==================  ======================  ==========================================
``<input>``         see emobench.modalities  every input the model declares it reads
                                            (at test time: only its test inputs)
``<input>_present`` (B,) bool, optional     which rows hold ``<input>`` when the pack
                                            has rows that lack its group
``target``          as the task reads it    the protocol's label: (B,) long for
                                            classification, (B,) float for regression,
                                            (B, C) float 0/1 for multilabel
``aux_target``      (B,) long, optional     auxiliary label (e.g. FER-7 for intensity)
==================  ======================  ==========================================

A model returns a dict with at least ``output``, the task's head output (``self.task.head``:
(B, C) logits for classification and multilabel, (B,) values for regression).
``loss(out, batch)`` returns the full training objective (task loss plus the model's own
terms). ``train_step(batch, optimizers)`` is one update; the default runs one optimizer on
``loss``, and a model with several networks (an adversarial discriminator, say) overrides
:meth:`EmobenchModel.optimizers` and :meth:`EmobenchModel.train_step` to alternate its own
updates. Beside ``forward``, the engine calls only these two, ``observe_targets`` and
``describe`` (and reads ``train_config`` and ``trainable``).
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Any

import torch
from torch import nn

from emobench.models.configs import TrainSettings
from emobench.models.registry import ModelSpec
from emobench.tasks import get_task

Optimizers = list[tuple[torch.optim.Optimizer, Any]]  # (optimizer, scheduler or None)

_OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


class EmobenchModel(nn.Module):
    """Base class: the task, the training settings, and the default training step."""

    trainable: bool = True

    def __init__(self, spec: ModelSpec, cfg: Any, train: TrainSettings | None = None):
        super().__init__()
        self.task = get_task(spec.task)
        self.num_outputs = spec.num_outputs
        self.train_config = train if train is not None else cfg.train_settings()
        self.cfg = cfg  # the model family's config dataclass (recorded in the results file)
        self.config_name = spec.config

    def observe_targets(self, targets: torch.Tensor) -> None:
        """Called once with the training targets before training (priors, majority class)."""

    def task_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.task.loss(output, target)

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.task_loss(out["output"], batch["target"])

    def optimizers(self, epochs: int) -> Optimizers:
        """One optimizer over every parameter, with a cosine schedule over ``epochs`` when the
        config asks for one. A scheduler is stepped once per epoch by the engine."""
        return [self.optimizer_for(self.parameters(), self.train_config.lr, epochs)]

    def optimizer_for(self, params: Any, lr: float, epochs: int) -> tuple[Any, Any]:
        """``(optimizer, scheduler or None)`` of the config's kind, weight decay and schedule
        over ``params`` at ``lr`` (a model with several networks makes one per network)."""
        tc = self.train_config
        if tc.optimizer not in _OPTIMIZERS:
            raise ValueError(f"unknown optimizer {tc.optimizer!r}; known: {sorted(_OPTIMIZERS)}")
        opt = _OPTIMIZERS[tc.optimizer](params, lr=lr, weight_decay=tc.weight_decay)
        sched = (
            torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
            if tc.scheduler == "cosine"
            else None
        )
        return opt, sched

    def train_step(self, batch: dict[str, torch.Tensor], optimizers: Optimizers) -> float:
        """One update on one batch; returns the training loss."""
        ((opt, _),) = optimizers
        loss = self.loss(self(batch), batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    def describe(self) -> dict:
        """Full config for the results file."""
        return {
            "class": type(self).__name__,
            "task": self.task.name,
            "num_outputs": self.num_outputs,
            "parameters": sum(p.numel() for p in self.parameters()),
            "train": self.train_config.as_dict(),
            "config_name": self.config_name,
            "settings": asdict(self.cfg) if is_dataclass(self.cfg) else None,
        }
