"""Optimizers and schedules beyond the base class's Adam/AdamW + cosine: SGD with momentum and a
step-wise (MultiStepLR) learning-rate schedule, as the TSN/TSM codes train.

:func:`make_optimizer` builds ``(optimizer, scheduler or None)`` for any of the kinds in
:data:`OPTIMIZERS` and :data:`SCHEDULERS`; a model whose config carries the extra fields
(``momentum``, ``milestones``, ``gamma``) calls it from its ``optimizer_for``. The engine steps
a scheduler once per epoch, so ``milestones`` are epoch numbers: the learning rate is
multiplied by ``gamma`` after each listed epoch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

from emobench.errors import ProtocolError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("multistep", "cosine", "none")


def check_schedule(
    model: str, optimizer: str, scheduler: str, milestones: Sequence[int], gamma: float
) -> tuple[int, ...]:
    """The milestones as a sorted tuple of positive epochs, or a :class:`ProtocolError` naming
    the model and the bad setting."""
    if optimizer not in OPTIMIZERS:
        raise ProtocolError(
            f"model {model!r}: optimizer {optimizer!r} is not one of {', '.join(OPTIMIZERS)}"
        )
    if scheduler not in SCHEDULERS:
        raise ProtocolError(
            f"model {model!r}: scheduler {scheduler!r} is not one of {', '.join(SCHEDULERS)}"
        )
    try:
        epochs = tuple(sorted(int(m) for m in milestones))
    except (TypeError, ValueError):
        raise ProtocolError(
            f"model {model!r}: milestones {milestones!r} must be a list of epoch numbers"
        ) from None
    if any(m < 1 for m in epochs) or len(set(epochs)) != len(epochs):
        raise ProtocolError(
            f"model {model!r}: milestones {list(milestones)} must be distinct epochs ≥ 1"
        )
    if not 0 < gamma <= 1:
        raise ProtocolError(f"model {model!r}: gamma {gamma} must lie in (0, 1]")
    return epochs


def make_optimizer(
    params: Iterable[Any],
    *,
    kind: str,
    lr: float,
    weight_decay: float,
    momentum: float,
    scheduler: str,
    epochs: int,
    milestones: Sequence[int] = (),
    gamma: float = 0.1,
) -> tuple[torch.optim.Optimizer, Any]:
    """``(optimizer, scheduler or None)``. ``momentum`` is read by SGD only; ``milestones`` and
    ``gamma`` by ``multistep`` only; ``cosine`` anneals over ``epochs``."""
    if kind == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(
            params, lr=lr, momentum=momentum, weight_decay=weight_decay
        )
    elif kind == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    elif kind == "adamw":
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    else:
        raise ValueError(f"unknown optimizer {kind!r}; known: {', '.join(OPTIMIZERS)}")
    if scheduler == "multistep":
        sched: Any = torch.optim.lr_scheduler.MultiStepLR(
            opt, milestones=list(milestones), gamma=gamma
        )
    elif scheduler == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1))
    elif scheduler == "none":
        sched = None
    else:
        raise ValueError(f"unknown scheduler {scheduler!r}; known: {', '.join(SCHEDULERS)}")
    return opt, sched
