"""Running a model over a loader: the task's predictions and scores, the auxiliary head's
classes, and (on request) the features its main head reads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from emobench.modalities import to_model_inputs


@dataclass(frozen=True)
class Predictions:
    values: np.ndarray  # what the metrics compare with targets (the task's predictions)
    scores: np.ndarray | None  # the task's scores (class probabilities), when it has them
    aux: np.ndarray | None  # auxiliary-head class indices, when the model has that head
    features: np.ndarray | None = None  # what the main head reads (``keep_features``)


def predict(model: torch.nn.Module, loader: DataLoader, keep_features: bool = False) -> Predictions:
    """``keep_features``: also keep ``out["features"]`` (``None`` when the model has none)."""
    model.eval()
    outputs, aux, features = [], [], []
    with torch.no_grad():
        for batch in loader:
            out = model(to_model_inputs(batch))
            outputs.append(out["output"])
            if "aux_output" in out:
                aux.append(out["aux_output"])
            if keep_features and "features" in out:
                features.append(out["features"])
    output = torch.cat(outputs) if outputs else torch.empty(0)
    values, scores = model.task.predict(output)
    return Predictions(
        values,
        scores,
        torch.cat(aux).argmax(dim=1).numpy() if aux else None,
        torch.cat(features).numpy() if features else None,
    )
