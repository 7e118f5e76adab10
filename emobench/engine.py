"""Training and evaluation: seeded, deterministic CPU runs under a protocol (DESIGN §3.4).

For every fold: build the model, train on the training part, pick the best epoch on the
validation part (carved from the training folds, grouped by subject), evaluate the test fold
once with that checkpoint, and keep every test prediction. ``select_on_test=True`` reproduces
the literature's habit of choosing the epoch on the test fold; such runs are labelled
``test-oracle`` in the results file and everywhere the results are shown.
"""

from __future__ import annotations

import copy
import os
import platform
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from emobench import __version__
from emobench.errors import ProtocolError
from emobench.feature_probe import probe_uar
from emobench.metrics import compute_metrics, confusion
from emobench.models.registry import ModelSpec, create_model, get_model_entry
from emobench.pack import Pack
from emobench.protocols import Fold, Protocol, split_digest

# Which pack array feeds which model input.
INPUT_ARRAYS = {
    "face": "face/frames",
    "apex": "face/apex",
    "clip": "face/clip",
    "eye": "eye/windows",
    "gaze": "eye/gaze",
    "fixmap": "eye/fixation_map",
}

Progress = Callable[[int, int, str], None]  # (done, total, what)

# Inputs the loader hands over as uint8 frames (..., H, W, C); to_model_inputs() converts them.
FRAME_INPUTS = ("face", "clip", "apex")


def to_model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """uint8 (B, [T,] H, W, C) frames → float (B, [T,] C, H, W) in 0..1, per batch.

    Done on whole batches in the training step rather than per sample in the loader: the same
    arithmetic, a quarter of the memory traffic through the loader.
    """
    out = dict(batch)
    for name in FRAME_INPUTS:
        if name in out:
            x = out[name]
            if name == "apex":
                x = x[:, 0]
            out[name] = x.movedim(-1, -3).contiguous().float().div_(255.0)
    return out


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


@dataclass(frozen=True)
class FeatureScaler:
    """z-scoring of eye window features with statistics of the training part only."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, windows: np.ndarray) -> FeatureScaler:
        flat = windows.reshape(-1, windows.shape[-1]).astype(np.float64)
        std = flat.std(axis=0)
        return cls(
            flat.mean(axis=0).astype(np.float32), np.where(std > 1e-8, std, 1.0).astype(np.float32)
        )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std


class PackDataset(Dataset):
    """Samples of a pack as the batches described in ``emobench.models.base``.

    Raw arrays are kept in memory after their first read, up to ``cache_bytes`` (training reads
    every sample once per epoch; re-reading HDF5 each time costs about a fifth of a small
    model's epoch). Each DataLoader worker holds its own cache.
    """

    def __init__(
        self,
        pack: Pack,
        positions: np.ndarray,
        inputs: tuple[str, ...],
        targets: np.ndarray,
        aux_targets: np.ndarray | None = None,
        scaler: FeatureScaler | None = None,
        cache_bytes: int = 1 << 30,
    ):
        self.pack = pack
        self.positions = np.asarray(positions)
        self.inputs = inputs
        self.targets = targets
        self.aux = aux_targets
        self.scaler = scaler
        self.cache_bytes = cache_bytes
        self._cache: dict[tuple[str, int], np.ndarray] = {}
        self._cached = 0

    def _array(self, name: str, pos: int) -> np.ndarray:
        key = (name, pos)
        if key in self._cache:
            return self._cache[key]
        array = self.pack.get(INPUT_ARRAYS[name], pos)
        if self._cached + array.nbytes <= self.cache_bytes:
            self._cache[key] = array
            self._cached += array.nbytes
        return array

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        pos = int(self.positions[i])
        item: dict[str, torch.Tensor] = {}
        for name in self.inputs:
            array = self._array(name, pos)
            if name in FRAME_INPUTS:
                item[name] = torch.from_numpy(array)  # uint8; see to_model_inputs()
            elif name == "eye":
                x = self.scaler(array) if self.scaler is not None else array
                item[name] = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
            elif name == "fixmap":
                item[name] = torch.from_numpy(array.astype(np.float32))[None]
            else:
                item[name] = torch.from_numpy(array.astype(np.float32))
        item["target"] = torch.as_tensor(self.targets[i])
        if self.aux is not None:
            item["aux_target"] = torch.as_tensor(self.aux[i])
        return item


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
    confusion: list[list[int]] | None
    predictions: pd.DataFrame
    model_description: dict[str, Any]  # describe() of the untrained model
    seconds: float
    probe: dict[str, float] | None = None  # linear probes of the features (--probe)


def _check_fit(protocol: Protocol, model: str, pack: Pack) -> tuple[str, ...]:
    entry = get_model_entry(model)
    if pack.attrs["dataset"] != protocol.dataset:
        raise ProtocolError(
            f"protocol {protocol.id} is for dataset {protocol.dataset!r}; "
            f"{pack.path} holds {pack.attrs['dataset']!r}"
        )
    missing = [i for i in entry.inputs if i not in protocol.inputs]
    if missing:
        raise ProtocolError(
            f"model {model!r} consumes {list(entry.inputs)}; protocol {protocol.id} provides "
            f"{list(protocol.inputs)} (missing {missing})"
        )
    if protocol.task not in entry.tasks:
        raise ProtocolError(
            f"model {model!r} supports {list(entry.tasks)}, protocol {protocol.id} is "
            f"{protocol.task}"
        )
    if entry.needs_aux and not (protocol.aux_label and protocol.task == "classification"):
        raise ProtocolError(
            f"model {model!r} trains a second head and needs a protocol with an aux_label; "
            f"{protocol.id} has none"
        )
    absent = [INPUT_ARRAYS[i] for i in entry.inputs if INPUT_ARRAYS[i] not in pack.keys]
    if absent:
        raise ProtocolError(f"{pack.path} lacks the array(s) {absent} that {model!r} needs")
    for name in ("face", "clip"):
        if name not in entry.inputs:
            continue
        frames = pack.file()[INPUT_ARRAYS[name]].shape[1]
        wanted = int(protocol.sampling.get("frames", frames))
        stride = int(protocol.sampling.get("stride", 0))
        packed_stride = int(pack.steps.get("stride", 0))
        if frames != wanted or stride != packed_stride:
            raise ProtocolError(
                f"protocol {protocol.id} samples {_sampling(wanted, stride)}, {pack.path} holds "
                f"{_sampling(frames, packed_stride)}: re-run `emobench prepare --frames {wanted}"
                + (f" --stride {stride}`" if stride else "`")
            )
    return entry.inputs


def _sampling(frames: int, stride: int) -> str:
    return f"{frames} frames at stride {stride}" if stride else f"{frames} frames uniformly"


def model_spec(
    protocol: Protocol, pack: Pack, config: str, overrides: dict[str, Any] | None
) -> ModelSpec:
    """The shapes a model is built for: from the protocol and the pack's arrays."""
    f = pack.file()
    windows = f["eye/windows"].shape if "eye/windows" in pack.keys else (0, 0, 0)
    return ModelSpec(
        task=protocol.task,
        num_outputs=protocol.num_outputs,
        config=config,
        frames=int(protocol.sampling.get("frames", 8)),
        frame_size=next(
            (int(f[k].shape[2]) for k in ("face/frames", "face/clip", "face/apex") if k in f), 0
        ),
        eye_steps=int(windows[1]),
        eye_features=int(windows[2]),
        aux_classes=len(protocol.aux_classes) if protocol.aux_label else 0,
        overrides=dict(overrides or {}),
    )


@dataclass(frozen=True)
class Predictions:
    values: np.ndarray  # class indices or regression values
    proba: np.ndarray | None  # class probabilities (classification)
    aux: np.ndarray | None  # auxiliary-head class indices, when the model has that head
    features: np.ndarray | None = None  # what the main head reads (``keep_features``)


def _predict(
    model: torch.nn.Module, loader: DataLoader, task: str, keep_features: bool = False
) -> Predictions:
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
    out = torch.cat(outputs) if outputs else torch.empty(0)
    aux_pred = torch.cat(aux).argmax(dim=1).numpy() if aux else None
    kept = torch.cat(features).numpy() if features else None
    if task == "classification":
        proba = torch.softmax(out, dim=1).numpy()
        return Predictions(out.argmax(dim=1).numpy(), proba, aux_pred, kept)
    return Predictions(out.reshape(-1).numpy(), None, aux_pred, kept)


def _optimizer(model: torch.nn.Module) -> tuple[torch.optim.Optimizer, Any]:
    tc = model.train_config
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[tc.optimizer]
    opt = cls(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    sched = (
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=tc.epochs)
        if tc.scheduler == "cosine"
        else None
    )
    return opt, sched


def run_fold(
    protocol: Protocol,
    model_name: str,
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
) -> FoldOutcome:
    start = time.perf_counter()
    seed_everything(seed * 1000 + fold.index)
    inputs = get_model_entry(model_name).inputs
    windows = pack.file()["eye/windows"][()] if "eye/windows" in pack.keys else None
    scaler = FeatureScaler.fit(windows[fold.train]) if windows is not None else None

    def dataset(positions: np.ndarray) -> PackDataset:
        t = np.array([targets_by_pos[int(p)] for p in positions])
        a = np.array([aux_by_pos[int(p)] for p in positions]) if aux_by_pos else None
        return PackDataset(pack, positions, inputs, t, a, scaler)

    spec = model_spec(protocol, pack, config, overrides)
    model = create_model(model_name, spec)
    description = model.describe()
    train_set = dataset(fold.train)
    select_positions = fold.test if select_on_test else fold.validation
    select_set, test_set = dataset(select_positions), dataset(fold.test)
    if probe:  # fail before training, not after, when the model has no features to probe
        _features(model_name, model, dataset(fold.train[:1]), protocol.task)
    model.observe_targets(torch.as_tensor(train_set.targets))
    tc = model.train_config
    n_epochs = epochs if epochs is not None else tc.epochs
    generator = torch.Generator().manual_seed(seed * 1000 + fold.index)
    train_loader = DataLoader(
        train_set, batch_size=tc.batch_size, shuffle=True, generator=generator
    )
    select_loader = DataLoader(select_set, batch_size=64)
    test_loader = DataLoader(test_set, batch_size=64)
    best_epoch, best_score, best_state = 0, float("nan"), None
    higher = protocol.higher_is_better
    if model.trainable and n_epochs > 0:
        opt, sched = _optimizer(model)
        if sched is not None:
            sched.T_max = n_epochs
        for epoch in range(1, n_epochs + 1):
            model.train()
            for raw in train_loader:
                batch = to_model_inputs(raw)
                loss = model.loss(model(batch), batch)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            if sched is not None:
                sched.step()
            pred = _predict(model, select_loader, protocol.task).values
            score = compute_metrics([protocol.primary], select_set.targets, pred)[protocol.primary]
            if best_state is None or (score > best_score if higher else score < best_score):
                best_epoch, best_score = epoch, score
                best_state = copy.deepcopy(model.state_dict())
            if progress:
                progress(epoch, n_epochs, f"fold {fold.index}, epoch {epoch}")
        model.load_state_dict(best_state)
    else:
        pred = _predict(model, select_loader, protocol.task).values
        best_score = compute_metrics([protocol.primary], select_set.targets, pred)[protocol.primary]
        n_epochs = 0
    predictions = _predict(model, test_loader, protocol.task, keep_features=probe)
    probes = None
    if probe:
        train_x = _features(model_name, model, train_set, protocol.task)
        probes = _probe_features(train_x, train_set, predictions.features, test_set)
    pred, proba = predictions.values, predictions.proba
    test_metrics = compute_metrics(list(protocol.metrics), test_set.targets, pred)
    aux_metrics = None
    if predictions.aux is not None and test_set.aux is not None:
        aux_metrics = compute_metrics(list(protocol.aux_metrics), test_set.aux, predictions.aux)
    ids = pack.samples["id"].to_numpy()[fold.test]
    frame = pd.DataFrame(
        {
            "id": ids,
            "subject": pack.samples["subject"].to_numpy()[fold.test],
            "fold": fold.index,
            "target": test_set.targets,
            "prediction": pred,
        }
    )
    if protocol.task == "classification":
        frame["target"] = [protocol.classes[int(t)] for t in test_set.targets]
        frame["prediction"] = [protocol.classes[int(p)] for p in pred]
        for k, name in enumerate(protocol.classes):
            frame[f"p_{name}"] = np.round(proba[:, k], 6)
    if aux_metrics is not None:
        frame[f"{protocol.aux_label}_target"] = [protocol.aux_classes[int(a)] for a in test_set.aux]
        frame[f"{protocol.aux_label}_prediction"] = [
            protocol.aux_classes[int(a)] for a in predictions.aux
        ]
    return FoldOutcome(
        fold=fold.index,
        n_train=len(fold.train),
        n_validation=len(fold.validation),
        n_test=len(fold.test),
        best_epoch=best_epoch,
        epochs_run=n_epochs,
        selection_score=float(best_score),
        test=test_metrics,
        aux_test=aux_metrics,
        confusion=(
            confusion(test_set.targets, pred, protocol.num_outputs)
            if protocol.task == "classification"
            else None
        ),
        predictions=frame,
        model_description=description,
        seconds=time.perf_counter() - start,
        probe=probes,
    )


def _features(
    model_name: str, model: torch.nn.Module, dataset: PackDataset, task: str
) -> np.ndarray:
    """What the model's main head reads (``out["features"]``), one row per sample.

    Runs under a forked generator: a DataLoader draws its base seed from torch's global one
    even without shuffling, and a probe must not move the run's random numbers."""
    with torch.random.fork_rng(devices=[]):
        found = _predict(model, DataLoader(dataset, batch_size=64), task, keep_features=True)
    if found.features is None:
        raise ProtocolError(
            f"--probe: model {model_name!r} returns no 'features' (what its head reads)"
        )
    return found.features


def _probe_features(
    train_x: np.ndarray, train_set: PackDataset, test_x: np.ndarray, test_set: PackDataset
) -> dict[str, float]:
    """Linear probes of a trained model's features (:mod:`emobench.feature_probe`): fit on
    the training part, UAR on the test part, for the protocol's label (``label_uar``) and, when
    it has one, its auxiliary label (``aux_uar``)."""
    probes = {"label_uar": probe_uar(train_x, train_set.targets, test_x, test_set.targets)}
    if train_set.aux is not None and test_set.aux is not None:
        probes["aux_uar"] = probe_uar(train_x, train_set.aux, test_x, test_set.aux)
    return probes


def _whole_run(progress: Progress | None, k: int, n_folds: int) -> Progress | None:
    """``progress`` as the whole run's: fold ``k`` (0-based) of ``n_folds`` reports its epochs
    as a share of every fold's, so a bar fills once per run instead of once per fold."""
    if progress is None:
        return None

    def report(epoch: int, n_epochs: int, item: str) -> None:
        progress(k * n_epochs + epoch, n_folds * n_epochs, f"{item} ({k + 1}/{n_folds} folds)")

    return report


def evaluate(
    protocol: Protocol,
    model_name: str,
    pack: Pack,
    *,
    config: str = "small",
    seed: int = 0,
    select_on_test: bool = False,
    folds: list[int] | None = None,
    epochs: int | None = None,
    overrides: dict[str, Any] | None = None,
    progress: Progress | None = None,
    probe: bool = False,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Run every fold; return the results record (DESIGN §3.4) and all test predictions.

    ``probe``: also fit linear probes of each fold's trained features
    (:mod:`emobench.feature_probe`; classification only); recorded per fold and summarised
    under ``record["probe"]``."""
    start = time.perf_counter()
    _check_fit(protocol, model_name, pack)
    if probe and protocol.task != "classification":
        raise ProtocolError(f"--probe scores classes; protocol {protocol.id} is {protocol.task}")
    positions, targets = protocol.targets(pack.samples)
    aux = protocol.aux_targets(pack.samples)
    targets_by_pos = dict(zip(positions.tolist(), targets.tolist(), strict=True))
    aux_by_pos = (
        dict(zip(positions.tolist(), aux[positions].tolist(), strict=True))
        if aux is not None
        else None
    )
    all_folds = protocol.folds(pack.samples, positions)
    manifest = protocol.split_manifest(pack.samples, all_folds)
    chosen = [f for f in all_folds if folds is None or f.index in folds]
    if not chosen:
        raise ProtocolError(
            f"no fold among {folds}; protocol {protocol.id} has {[f.index for f in all_folds]}"
        )
    outcomes = []
    for k, fold in enumerate(chosen):
        outcomes.append(
            run_fold(
                protocol,
                model_name,
                pack,
                fold,
                targets_by_pos,
                aux_by_pos,
                config=config,
                seed=seed,
                select_on_test=select_on_test,
                overrides=overrides,
                epochs=epochs,
                progress=_whole_run(progress, k, len(chosen)),
                probe=probe,
            )
        )
    summary = _summarise([o.test for o in outcomes])
    aux_summary = _summarise([o.aux_test for o in outcomes if o.aux_test is not None])
    predictions = pd.concat([o.predictions for o in outcomes], ignore_index=True)
    model = {
        **outcomes[0].model_description,
        "name": model_name,
        "config": config,
        "overrides": dict(overrides or {}),
    }
    fold_records = [
        {
            "fold": o.fold,
            "n_train": o.n_train,
            "n_validation": o.n_validation,
            "n_test": o.n_test,
            "best_epoch": o.best_epoch,
            "epochs_run": o.epochs_run,
            "selection_score": o.selection_score,
            "test": o.test,
            "aux_test": o.aux_test,
            "confusion": o.confusion,
            "seconds": round(o.seconds, 3),
            **({"probe": o.probe} if o.probe is not None else {}),
        }
        for o in outcomes
    ]
    record = _record(
        protocol,
        pack,
        model=model,
        seed=seed,
        selection="test-oracle" if select_on_test else "validation",
        epochs=epochs,
        folds=fold_records,
        summary=summary,
        aux_summary=aux_summary,
        manifest=manifest,
        start=start,
    )
    if probe:
        record["probe"] = _summarise([o.probe for o in outcomes if o.probe is not None])
        record["probe"]["reads"] = {"label_uar": protocol.label}
        record["probe"]["chance"] = {"label_uar": 1 / len(protocol.classes)}
        if aux is not None:
            record["probe"]["reads"]["aux_uar"] = protocol.aux_label
            record["probe"]["chance"]["aux_uar"] = 1 / len(protocol.aux_classes)
    return record, predictions


def evaluate_spotting(protocol: Protocol, pack: Pack) -> tuple[dict[str, Any], pd.DataFrame]:
    """Apex spotting: the apex frame the pack's strategy chose against the annotated one.

    Nothing is trained, so there are no folds: every clip with an annotation is scored once.
    """
    start = time.perf_counter()
    samples = pack.samples
    if "apex_frame" not in samples.columns:
        raise ProtocolError(
            f"{pack.path} holds no chosen apex frames (prepare a coded-clip dataset)"
        )
    positions, annotated = protocol.targets(samples)
    chosen = samples["apex_frame"].to_numpy(dtype=np.float64)[positions]
    strategies = sorted(set(samples["apex_strategy"].astype(str)))
    metrics = compute_metrics(list(protocol.metrics), annotated, chosen)
    predictions = pd.DataFrame(
        {
            "id": samples["id"].to_numpy()[positions],
            "subject": samples["subject"].to_numpy()[positions],
            "target": annotated.astype(np.int64),
            "prediction": chosen.astype(np.int64),
            "error": (chosen - annotated).astype(np.int64),
        }
    )
    record = _record(
        protocol,
        pack,
        model={"name": f"apex-{'+'.join(strategies)}", "config": "none", "strategies": strategies},
        seed=0,
        selection="none (nothing trained)",
        epochs=None,
        folds=[{"fold": "all", "n_test": len(positions), "test": metrics}],
        summary={m: {"mean": v, "std": 0.0} for m, v in metrics.items()},
        aux_summary=None,
        manifest={"all": sorted(predictions["id"].astype(str))},
        start=start,
    )
    return record, predictions


def _record(
    protocol: Protocol,
    pack: Pack,
    *,
    model: dict[str, Any],
    seed: int,
    selection: str,
    epochs: int | None,
    folds: list[dict[str, Any]],
    summary: dict[str, Any],
    aux_summary: dict[str, Any] | None,
    manifest: dict[str, Any],
    start: float,
) -> dict[str, Any]:
    """One results file (DESIGN §3.4)."""
    return {
        "schema": "emobench.results/1",
        "protocol": {
            "name": protocol.name,
            "version": protocol.version,
            "id": protocol.id,
            "task": protocol.task,
            "label": protocol.label,
            "classes": list(protocol.classes),
        },
        "split_digest": split_digest(manifest),
        "pack": {
            "path": str(pack.path),
            "digest": pack.digest,
            "dataset": pack.attrs["dataset"],
            "variant": pack.attrs["variant"],
            "miniature": bool(pack.steps.get("miniature", False)),
            "n_samples": len(pack),
        },
        "model": model,
        "seed": seed,
        "selection": selection,
        "epochs_override": epochs,
        "primary": protocol.primary,
        "higher_is_better": protocol.higher_is_better,
        "folds": folds,
        "summary": summary,
        "aux_summary": aux_summary,
        "provenance": provenance(),
        "wall_time_s": round(time.perf_counter() - start, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _summarise(per_fold: list[dict[str, float]]) -> dict[str, dict[str, float]] | None:
    """Mean and population std over folds of every metric."""
    if not per_fold:
        return None
    return {
        m: {
            "mean": float(np.mean([f[m] for f in per_fold])),
            "std": float(np.std([f[m] for f in per_fold])),
        }
        for m in per_fold[0]
    }


def provenance() -> dict[str, Any]:
    import h5py
    import sklearn

    return {
        "emobench": __version__,
        "git_commit": _git_commit(),
        "libraries": {
            "torch": torch.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "scikit-learn": sklearn.__version__,
            "h5py": h5py.__version__,
            "python": platform.python_version(),
        },
        "hardware": {
            "machine": platform.machine(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "device": "cpu",
        },
    }


def _git_commit() -> str:
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
