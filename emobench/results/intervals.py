"""Bootstrap intervals from the per-sample test predictions of a run, and the paired
difference between two runs tested on the same samples.

A run's figure is the mean of a metric over its (fold, seed) units. Its uncertainty comes
from the test samples: each bootstrap draw resamples the tested samples with replacement,
stratified by fold (so every fold keeps its size; scikit-learn's ``resample``), takes the
*same* drawn samples for every seed (a sample's predictions under the seeds stay paired),
recomputes the metric of every unit on its drawn rows with the metric's own scikit-learn call,
and averages. The interval is the percentile interval of those means. A paired difference
draws once for both runs and averages the per-unit differences, so what the two models share
(the same hard samples) cancels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from emobench.errors import EmobenchError
from emobench.metrics import METRICS

LEVEL = 0.95
RESAMPLES = 1000
METHOD = (
    "percentile bootstrap of the mean over (fold, seed) units: test samples resampled with "
    "replacement within each fold (sklearn.utils.resample, stratified by fold), the same "
    "draw for every seed"
)


@dataclass(frozen=True)
class UnitPredictions:
    """The test predictions of one run arranged for resampling: the tested samples in one
    order (``keys``: (fold, id)), the fold of each, and per (fold, seed) unit the positions of
    its samples in that order and its targets, predictions and scores."""

    keys: list[tuple[str, str]]
    fold_of: np.ndarray  # fold label of each sample, for stratified draws
    units: dict[tuple[str, int], tuple[np.ndarray, tuple]]  # unit → (positions, arrays)

    def unit_scores(self, metric: str, draw: np.ndarray | None = None) -> dict:
        """The metric of every unit on the samples of ``draw`` (positions into ``keys``,
        with repeats), or on all its samples."""
        fn = METRICS[metric].fn
        scores = {}
        for unit, (positions, (targets, pred, proba)) in self.units.items():
            if draw is None:
                rows = np.arange(len(positions))
            else:
                rows = _rows_of(positions, draw, len(self.keys))
            scores[unit] = fn(targets[rows], pred[rows], None if proba is None else proba[rows])
        return scores


def _rows_of(positions: np.ndarray, draw: np.ndarray, n: int) -> np.ndarray:
    """Rows of a unit's arrays (ordered as ``positions``) for the drawn sample positions that
    fall in this unit, repeats kept."""
    row_at = np.full(n, -1, dtype=np.int64)
    row_at[positions] = np.arange(len(positions))
    rows = row_at[draw]
    return rows[rows >= 0]


def unit_predictions(protocol: Any, frame: pd.DataFrame, what: str = "run") -> UnitPredictions:
    """``frame``: a predictions file (columns ``id``, ``fold``, optionally ``seed``, and the
    task's prediction columns). Every seed must have tested the same samples."""
    frame = frame.copy()
    if "seed" not in frame:
        frame["seed"] = 0
    if "fold" not in frame:  # a run without folds (spotting) tests every sample once
        frame["fold"] = "all"
    frame["fold"] = frame["fold"].astype(str)
    frame["id"] = frame["id"].astype(str)
    keys = sorted(set(zip(frame["fold"], frame["id"], strict=True)))
    position = {key: k for k, key in enumerate(keys)}
    units = {}
    for (fold, seed), rows in frame.groupby(["fold", "seed"], sort=True):
        unit_keys = list(zip(rows["fold"], rows["id"], strict=True))
        if len(set(unit_keys)) != len(unit_keys):
            raise EmobenchError(f"{what}: fold {fold}, seed {seed} lists a sample twice")
        positions = np.array([position[k] for k in unit_keys], dtype=np.int64)
        try:
            arrays = protocol.task_spec.arrays_from_predictions(protocol, rows)
        except EmobenchError as err:
            raise EmobenchError(f"{what}: {err}") from None
        units[(str(fold), int(seed))] = (positions, arrays)
    for seed in sorted(set(frame["seed"].astype(int))):
        tested = sum(len(p) for (_, s), (p, _) in units.items() if s == seed)
        if tested != len(keys):
            raise EmobenchError(
                f"{what}: seed {seed} tested {tested} of the {len(keys)} samples the other "
                "seeds tested, so its predictions cannot be paired"
            )
    fold_of = np.array([fold for fold, _ in keys])
    return UnitPredictions(keys, fold_of, units)


def _draws(samples: UnitPredictions, n_resamples: int, random_state: int):
    from sklearn.utils import resample

    rng = np.random.RandomState(random_state)
    everything = np.arange(len(samples.keys))
    stratify = samples.fold_of if len(set(samples.fold_of)) > 1 else None
    for _ in range(n_resamples):
        yield resample(everything, replace=True, stratify=stratify, random_state=rng)


def _percentiles(values: list[float], level: float) -> tuple[float, float, int]:
    """(low, high, draws used): a draw whose every unit's metric is undefined (NaN: a
    multilabel fold drawn with no positive of any label) is left out, and counted."""
    finite = np.asarray([v for v in values if np.isfinite(v)])
    if not len(finite):
        return float("nan"), float("nan"), 0
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high), len(finite)


def _quick_sklearn():
    """scikit-learn without its per-call argument validation: each draw calls the metric once
    per unit, and the checks cost more than the metric on a fold of a miniature."""
    import sklearn

    return sklearn.config_context(assume_finite=True, skip_parameter_validation=True)


def bootstrap_interval(
    samples: UnitPredictions,
    metrics: list[str],
    *,
    n_resamples: int = RESAMPLES,
    level: float = LEVEL,
    random_state: int = 0,
) -> dict[str, Any]:
    """The ``level`` interval of each metric's mean over units (the record's ``interval``)."""
    means: dict[str, list[float]] = {m: [] for m in metrics}
    with _quick_sklearn():
        for draw in _draws(samples, n_resamples, random_state):
            for m in metrics:
                means[m].append(float(np.nanmean(list(samples.unit_scores(m, draw).values()))))
    intervals = {}
    for m in metrics:
        low, high, used = _percentiles(means[m], level)
        intervals[m] = {"low": low, "high": high, "draws_used": used}
    return {
        "level": level,
        "n_resamples": n_resamples,
        "random_state": random_state,
        "method": METHOD,
        "n_samples": len(samples.keys),
        "n_units": len(samples.units),
        "metrics": intervals,
    }


@dataclass(frozen=True)
class PairedDifference:
    metric: str
    mean_a: float
    mean_b: float
    difference: float  # mean over units of (a − b), on every tested sample
    low: float
    high: float
    level: float
    n_resamples: int
    wins: int  # units where a is better, in the metric's direction
    losses: int
    ties: int
    undefined: int  # units where the metric has no value for a run (NaN): neither better nor not
    n_samples: int


def paired_difference(
    a: UnitPredictions,
    b: UnitPredictions,
    metric: str,
    *,
    n_resamples: int = RESAMPLES,
    level: float = LEVEL,
    random_state: int = 0,
) -> PairedDifference:
    """Run a minus run b, paired by unit and by sample: both must hold the same samples in the
    same folds, and the same seeds."""
    if a.keys != b.keys:
        raise EmobenchError("the two runs did not test the same samples in the same folds")
    if set(a.units) != set(b.units):
        raise EmobenchError("the two runs do not hold the same (fold, seed) units")
    higher = METRICS[metric].higher_is_better
    full_a, full_b = a.unit_scores(metric), b.unit_scores(metric)
    deltas = {u: full_a[u] - full_b[u] for u in full_a}
    better = [d if higher else -d for d in deltas.values()]
    differences = []
    with _quick_sklearn():
        for draw in _draws(a, n_resamples, random_state):
            da, db = a.unit_scores(metric, draw), b.unit_scores(metric, draw)
            differences.append(float(np.nanmean([da[u] - db[u] for u in da])))
    low, high, _ = _percentiles(differences, level)
    return PairedDifference(
        metric=metric,
        mean_a=float(np.nanmean(list(full_a.values()))),
        mean_b=float(np.nanmean(list(full_b.values()))),
        difference=float(np.nanmean(list(deltas.values()))),
        low=low,
        high=high,
        level=level,
        n_resamples=n_resamples,
        wins=sum(d > 0 for d in better),
        losses=sum(d < 0 for d in better),
        ties=sum(d == 0 for d in better),
        undefined=sum(bool(np.isnan(d)) for d in better),
        n_samples=len(a.keys),
    )
