"""The engine's side of ``evaluate --probe``: extract a trained model's features (what its
main head reads) and fit the linear probes of :mod:`emobench.feature_probe` on them."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from emobench.engine.data import PackDataset
from emobench.engine.predict import predict
from emobench.errors import ProtocolError
from emobench.feature_probe import probe_uar


def model_features(model_name: str, model: torch.nn.Module, dataset: PackDataset) -> np.ndarray:
    """What the model's main head reads (``out["features"]``), one row per sample.

    Runs under a forked generator: a DataLoader draws its base seed from torch's global one
    even without shuffling, and a probe must not move the run's random numbers."""
    with torch.random.fork_rng(devices=[]):
        found = predict(model, DataLoader(dataset, batch_size=64), keep_features=True)
    if found.features is None:
        raise ProtocolError(
            f"--probe: model {model_name!r} returns no 'features' (what its head reads)"
        )
    return found.features


def probe_features(
    train_x: np.ndarray, train_set: PackDataset, test_x: np.ndarray, test_set: PackDataset
) -> dict[str, float]:
    """Linear probes of a trained model's features: fit on the training part, UAR on the test
    part, for the protocol's label (``label_uar``) and, when it has one, its auxiliary label
    (``aux_uar``)."""
    probes = {"label_uar": probe_uar(train_x, train_set.targets, test_x, test_set.targets)}
    if train_set.aux is not None and test_set.aux is not None:
        probes["aux_uar"] = probe_uar(train_x, train_set.aux, test_x, test_set.aux)
    return probes
