"""One fold, trained and tested: seeded, deterministic CPU runs (DESIGN §4.5).

Build the model, train it on the training part through its own ``train_step``, pick the best
epoch on the validation part (carved from the training folds, grouped by subject), test the
test fold once with that checkpoint, and keep every test prediction. ``select_on_test=True``
reproduces the literature's habit of choosing the epoch on the test fold; such runs are
labelled ``test-oracle`` wherever they are shown. Validation and test batches carry only the
inputs the model reads at test time. A protocol's test conditions (``[conditions.<name>]``:
the face read from its masked copies, say) test the same checkpoint once more each, on the
same test rows; their metrics are kept per fold beside the main test's.

Random numbers are drawn in a fixed order (seed, model weights, loaders), so a run is
reproducible bit for bit on one machine and two models built alike are paired by seed.
Where the fold runs — one process or several under ``torchrun``, the CPU or a GPU — is
:mod:`emobench.engine.distributed`'s concern: the fold takes its loaders, its optimizers and
its predictions from there, and in one process on the CPU they are the plain ones.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from emobench.engine.checks import rows_holding
from emobench.engine.data import ArrayCache, PackDataset, fit_scalers, model_spec
from emobench.engine.distributed import execution
from emobench.engine.predict import Predictions, predict
from emobench.engine.probe import model_features, probe_features
from emobench.metrics import compute_metrics
from emobench.models.registry import ModelEntry, create_model
from emobench.pack import Pack
from emobench.protocols import Fold, Protocol

Progress = Callable[[int, int, str], None]  # (done, total, what)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


@dataclass
class FoldOutcome:
    fold: int
    n_train: int
    n_validation: int
    n_test: int
    best_epoch: int
    epochs_run: int
    selection_score: float
    test: dict[str, float]
    aux_test: dict[str, float] | None
    extra: dict[str, Any]  # the task's extra outputs (confusion matrix, per-class scores)
    predictions: pd.DataFrame
    model_description: dict[str, Any]  # describe() of the untrained model
    seconds: float
    probe: dict[str, float] | None = None  # linear probes of the features (--probe)
    conditions: dict[str, dict[str, float]] | None = None  # test metrics per test condition

    def record(self) -> dict[str, Any]:
        """This fold as the results file holds it."""
        return {
            "fold": self.fold,
            "n_train": self.n_train,
            "n_validation": self.n_validation,
            "n_test": self.n_test,
            "best_epoch": self.best_epoch,
            "epochs_run": self.epochs_run,
            "selection_score": self.selection_score,
            "test": self.test,
            "aux_test": self.aux_test,
            **self.extra,
            "seconds": round(self.seconds, 3),
            **({"probe": self.probe} if self.probe is not None else {}),
            **({"conditions": self.conditions} if self.conditions else {}),
        }


def _score(protocol: Protocol, targets: np.ndarray, pred: Predictions) -> float:
    name = protocol.primary
    return compute_metrics([name], targets, pred.values, pred.scores)[name]


def run_fold(
    protocol: Protocol,
    entry: ModelEntry,
    pack: Pack,
    fold: Fold,
    targets_by_pos: dict[int, Any],
    aux_by_pos: dict[int, Any] | None,
    *,
    config: str,
    seed: int,
    select_on_test: bool,
    overrides: dict[str, Any] | None = None,
    epochs: int | None = None,
    progress: Progress | None = None,
    probe: bool = False,
    device: str = "cpu",
    amp: bool = False,
) -> FoldOutcome:
    """``device`` (``cpu``, ``cuda``, ``auto``) and ``amp``: where the fold trains; under
    ``torchrun`` the ranks share the training and the predictions
    (:mod:`emobench.engine.distributed`) and return the same outcome."""
    start = time.perf_counter()
    run_on = execution(device, amp)
    seed_everything(seed * 1000 + fold.index)
    # Training rows that hold none of the model's inputs for training (an unpaired pack's
    # thermal-role rows, for a visible-only model) are left out, never fed as blanks.
    sources = protocol.sources()
    train_positions = rows_holding(pack, fold.train, entry.inputs, sources)
    scalers = fit_scalers(pack, entry.inputs, train_positions, sources)
    cache = ArrayCache()  # one memory budget for every dataset of the fold

    def dataset(
        positions: np.ndarray,
        inputs: tuple[str, ...],
        training: bool = False,
        condition: str | None = None,
    ) -> PackDataset:
        t = np.array([targets_by_pos[int(p)] for p in positions])
        a = np.array([aux_by_pos[int(p)] for p in positions]) if aux_by_pos else None
        return PackDataset(
            pack,
            positions,
            inputs,
            t,
            a,
            scalers,
            cache=cache,
            training=training,
            sources=protocol.sources(condition),
        )

    spec = model_spec(protocol, pack, config, overrides, entry.inputs)
    model = create_model(entry.name, spec)
    description = model.describe()
    train_set = dataset(train_positions, entry.inputs, training=True)
    select_positions = fold.test if select_on_test else fold.validation
    select_set = dataset(select_positions, entry.reads_at_test)
    test_set = dataset(fold.test, entry.reads_at_test)
    if probe:  # fail before training, not after, when the model has no features to probe
        model_features(entry.name, model, dataset(train_positions[:1], entry.reads_at_test))
    model.observe_targets(torch.as_tensor(train_set.targets))
    model = run_on.place(model)
    tc = model.train_config
    n_epochs = epochs if epochs is not None else tc.epochs
    generator = torch.Generator().manual_seed(seed * 1000 + fold.index)
    train_feed = run_on.train_feed(train_set, tc.batch_size, generator)
    # Predicted in training-sized batches: a fixed batch of 64 clips held 64 x 16 frames in
    # one forward pass, the largest allocation of a video model's run.
    select_loader = run_on.loader(select_set, tc.batch_size)
    test_loader = run_on.loader(test_set, tc.batch_size)
    best_epoch, best_score, best_state = 0, float("nan"), None
    higher = protocol.higher_is_better
    if model.trainable and n_epochs > 0:
        optimizers = run_on.averaging(model.optimizers(n_epochs), train_feed)
        for epoch in range(1, n_epochs + 1):
            model.train()
            for batch in train_feed:
                with run_on.autocast():
                    model.train_step(batch, optimizers)
                train_feed.done()
            run_on.sync_buffers(model)
            for _, scheduler in optimizers:
                if scheduler is not None:
                    scheduler.step()
            score = _score(
                protocol, select_set.targets, predict(model, select_loader, run_on=run_on)
            )
            if best_state is None or (score > best_score if higher else score < best_score):
                best_epoch, best_score = epoch, score
                best_state = copy.deepcopy(model.state_dict())
            if progress:
                progress(epoch, n_epochs, f"fold {fold.index}, epoch {epoch}")
        model.load_state_dict(best_state)
    else:
        best_score = _score(
            protocol, select_set.targets, predict(model, select_loader, run_on=run_on)
        )
        n_epochs = 0
    predictions = predict(model, test_loader, keep_features=probe, run_on=run_on)
    probes = None
    if probe:  # fit on the training rows that hold what the model reads at test time
        probe_set = dataset(
            rows_holding(pack, train_positions, entry.reads_at_test, sources),
            entry.reads_at_test,
            True,
        )
        train_x = model_features(entry.name, model, probe_set)
        probes = probe_features(train_x, probe_set, predictions.features, test_set)
    task = protocol.task_spec
    pred, scores = predictions.values, predictions.scores
    test_metrics = compute_metrics(list(protocol.metrics), test_set.targets, pred, scores)
    conditions = {}
    for condition in protocol.conditions:  # the same checkpoint, the test rows read otherwise
        condition_set = dataset(fold.test, entry.reads_at_test, condition=condition)
        got = predict(model, run_on.loader(condition_set, tc.batch_size), run_on=run_on)
        conditions[condition] = compute_metrics(
            list(protocol.metrics), condition_set.targets, got.values, got.scores
        )
    aux_metrics = None
    if predictions.aux is not None and test_set.aux is not None:
        aux_metrics = compute_metrics(list(protocol.aux_metrics), test_set.aux, predictions.aux)
    frame = pd.DataFrame(
        {
            "id": pack.samples["id"].to_numpy()[fold.test],
            "subject": pack.samples["subject"].to_numpy()[fold.test],
            "fold": fold.index,
            **task.prediction_columns(protocol, test_set.targets, pred, scores),
        }
    )
    if aux_metrics is not None:
        frame[f"{protocol.aux_label}_target"] = [protocol.aux_classes[int(a)] for a in test_set.aux]
        frame[f"{protocol.aux_label}_prediction"] = [
            protocol.aux_classes[int(a)] for a in predictions.aux
        ]
    return FoldOutcome(
        fold=fold.index,
        n_train=len(train_positions),
        n_validation=len(fold.validation),
        n_test=len(fold.test),
        best_epoch=best_epoch,
        epochs_run=n_epochs,
        selection_score=float(best_score),
        test=test_metrics,
        aux_test=aux_metrics,
        extra=task.extra_outputs(protocol, test_set.targets, pred, scores),
        predictions=frame,
        model_description=description,
        seconds=time.perf_counter() - start,
        probe=probes,
        conditions=conditions or None,
    )


def whole_run(progress: Progress | None, k: int, n_folds: int) -> Progress | None:
    """``progress`` as the whole run's: fold ``k`` (0-based) of ``n_folds`` reports its epochs
    as a share of every fold's, so a bar fills once per run instead of once per fold."""
    if progress is None:
        return None

    def report(epoch: int, n_epochs: int, item: str) -> None:
        progress(k * n_epochs + epoch, n_folds * n_epochs, f"{item} ({k + 1}/{n_folds} folds)")

    return report
