"""Running a model over a loader: the task's predictions and scores, the auxiliary head's
classes, and (on request) the features its main head reads. Batches go to the model's device;
under ``torchrun`` each rank runs its shard of the rows and the outputs are gathered
(:mod:`emobench.engine.distributed`)."""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import DataLoader

from emobench.modalities import to_model_inputs

if TYPE_CHECKING:
    from emobench.engine.distributed import Execution


@dataclass(frozen=True)
class Predictions:
    values: np.ndarray  # what the metrics compare with targets (the task's predictions)
    scores: np.ndarray | None  # the task's scores (class probabilities), when it has them
    aux: np.ndarray | None  # auxiliary-head class indices, when the model has that head
    features: np.ndarray | None = None  # what the main head reads (``keep_features``)


def predict(
    model: torch.nn.Module,
    loader: DataLoader,
    keep_features: bool = False,
    *,
    run_on: Execution | None = None,
) -> Predictions:
    """``keep_features``: also keep ``out["features"]`` (``None`` when the model has none).
    ``run_on``: the run's execution — autocast when it asks, and under ``torchrun`` the
    loader holds this rank's shard (``run_on.loader``) and every rank gets every row."""
    model.eval()
    device = _device_of(model)
    outputs, aux, features = [], [], []
    with torch.no_grad(), run_on.autocast() if run_on else contextlib.nullcontext():
        for batch in loader:
            inputs = to_model_inputs(batch)
            if device.type != "cpu":
                inputs = {
                    k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()
                }
            out = model(inputs)
            outputs.append(_on_host(out["output"]))
            if "aux_output" in out:
                aux.append(_on_host(out["aux_output"]))
            if keep_features and "features" in out:
                features.append(_on_host(out["features"]))
    output = torch.cat(outputs) if outputs else torch.empty(0)
    aux_output = torch.cat(aux) if aux else None
    feature_rows = torch.cat(features) if features else None
    if run_on is not None and run_on.distributed:  # the shards, in rank (= row) order
        output, aux_output, feature_rows = (
            _joined([p[k] for p in run_on.gather((output, aux_output, feature_rows))])
            for k in range(3)
        )
        output = output if output is not None else torch.empty(0)
    values, scores = model.task.predict(output)
    return Predictions(
        values,
        scores,
        aux_output.argmax(dim=1).numpy() if aux_output is not None else None,
        feature_rows.numpy() if feature_rows is not None else None,
    )


def _device_of(model: torch.nn.Module) -> torch.device:
    """Where the model's tensors are (the CPU for a model without any)."""
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    return first.device if first is not None else torch.device("cpu")


def _on_host(t: torch.Tensor) -> torch.Tensor:
    """``t`` on the CPU, in float32 when autocast made it half precision."""
    if t.device.type != "cpu":
        t = t.cpu()
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def _joined(parts: list[torch.Tensor | None]) -> torch.Tensor | None:
    """The ranks' parts of one output stacked by rows (ranks whose shard had no row, or
    whose model gave no such output, hold ``None`` or an empty tensor)."""
    rows = [p for p in parts if p is not None and p.numel()]
    return torch.cat(rows) if rows else None
