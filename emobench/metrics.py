"""Metrics: a thin, declarative layer over scikit-learn.

Each metric declares whether higher is better (as torchmetrics does), the task it applies to,
and the scikit-learn call that computes it. CCC has no scikit-learn function; it is Lin's
concordance correlation coefficient written from numpy moments (population variances).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm


@dataclass(frozen=True)
class Metric:
    name: str
    title: str
    task: str  # "classification" | "regression" | "spotting"
    higher_is_better: bool
    fn: Callable[[np.ndarray, np.ndarray], float]


def _war(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    # Weighted average recall over classes equals accuracy on the whole set.
    return float(skm.accuracy_score(y_true, y_pred))


def _uar(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    # Macro recall over the classes present in y_true (sklearn's behaviour with labels unset
    # would also count classes that appear only in y_pred; UAR does not).
    labels = np.unique(y_true)
    return float(skm.recall_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))


def _weighted_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(skm.f1_score(y_true, y_pred, average="weighted", zero_division=0))


def _macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    labels = np.unique(y_true)
    return float(skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))


def _mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(skm.mean_absolute_error(y_true, y_pred))


def _rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(skm.root_mean_squared_error(y_true, y_pred))


def _within(frames: int) -> Callable[[np.ndarray, np.ndarray], float]:
    def share(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        # share of clips whose detected apex is within ±frames of the annotation
        return float(np.mean(np.abs(np.asarray(y_pred) - np.asarray(y_true)) <= frames))

    return share


def concordance_correlation(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Lin's CCC = 2·cov(x, y) / (var(x) + var(y) + (mean(x) − mean(y))²), population moments."""
    x = np.asarray(y_true, dtype=np.float64)
    y = np.asarray(y_pred, dtype=np.float64)
    mx, my = x.mean(), y.mean()
    cov = ((x - mx) * (y - my)).mean()
    denom = x.var() + y.var() + (mx - my) ** 2
    return float(2.0 * cov / denom) if denom > 0 else 0.0


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("war", "WAR (accuracy)", "classification", True, _war),
        Metric("uar", "UAR (macro recall)", "classification", True, _uar),
        Metric("wf1", "weighted F1", "classification", True, _weighted_f1),
        Metric("mf1", "macro F1", "classification", True, _macro_f1),
        Metric("mae", "MAE", "regression", False, _mae),
        Metric("rmse", "RMSE", "regression", False, _rmse),
        Metric("ccc", "CCC", "regression", True, concordance_correlation),
        Metric("apex_mae", "apex MAE (frames)", "spotting", False, _mae),
        Metric("apex_within1", "apex within ±1", "spotting", True, _within(1)),
        Metric("apex_within2", "apex within ±2", "spotting", True, _within(2)),
        Metric("apex_within3", "apex within ±3", "spotting", True, _within(3)),
    )
}


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
    return METRICS[name]


def compute_metrics(names: list[str], y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """All requested metrics on one whole fold (never averaged over batches)."""
    return {name: get_metric(name).fn(np.asarray(y_true), np.asarray(y_pred)) for name in names}


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> list[list[int]]:
    return skm.confusion_matrix(y_true, y_pred, labels=list(range(n_classes))).tolist()
