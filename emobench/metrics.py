"""Metrics: a thin, declarative layer over scikit-learn.

Each metric declares whether higher is better (as torchmetrics does), the task it applies to,
whether it reads scores (probabilities) rather than hard predictions, and the scikit-learn
call that computes it. Every metric is called as ``fn(y_true, y_pred, y_score)``; a
score-based metric such as ROC AUC reads ``y_score``, the others ``y_pred``. CCC has no
scikit-learn function; it is Lin's concordance correlation coefficient written from numpy
moments (population variances).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm

from emobench.registry import Registry

MetricFn = Callable[[np.ndarray, np.ndarray, np.ndarray | None], float]


@dataclass(frozen=True)
class Metric:
    name: str
    title: str
    task: str  # the name of the task (emobench.tasks) whose outputs it scores
    higher_is_better: bool
    fn: MetricFn
    needs_scores: bool = False  # reads y_score (probabilities), not y_pred


METRICS: Registry[Metric] = Registry("metric")


def register_metric(metric: Metric) -> Metric:
    return METRICS.register(metric.name, metric)


def _war(y_true, y_pred, y_score=None) -> float:
    # Weighted average recall over classes equals accuracy on the whole set.
    return float(skm.accuracy_score(y_true, y_pred))


def _uar(y_true, y_pred, y_score=None) -> float:
    # Macro recall over the classes present in y_true (sklearn's behaviour with labels unset
    # would also count classes that appear only in y_pred; UAR does not).
    labels = np.unique(y_true)
    return float(skm.recall_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))


def _weighted_f1(y_true, y_pred, y_score=None) -> float:
    return float(skm.f1_score(y_true, y_pred, average="weighted", zero_division=0))


def _macro_f1(y_true, y_pred, y_score=None) -> float:
    labels = np.unique(y_true)
    return float(skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))


def _mae(y_true, y_pred, y_score=None) -> float:
    return float(skm.mean_absolute_error(y_true, y_pred))


def _rmse(y_true, y_pred, y_score=None) -> float:
    return float(skm.root_mean_squared_error(y_true, y_pred))


def _within(frames: int) -> MetricFn:
    def share(y_true, y_pred, y_score=None) -> float:
        # share of clips whose detected apex is within ±frames of the annotation
        return float(np.mean(np.abs(np.asarray(y_pred) - np.asarray(y_true)) <= frames))

    return share


def scored_classes(y_true: np.ndarray) -> np.ndarray:
    """Columns of a multi-label target matrix that hold both values, the only ones a ranking
    metric can score; a class absent (or always present) in a fold is left out and reported
    by the task, not a crash."""
    y = np.asarray(y_true)
    return np.flatnonzero(y.min(axis=0) != y.max(axis=0))


def _ranking(fn: Callable[..., float], average: str) -> MetricFn:
    def score(y_true, y_pred, y_score) -> float:
        cols = scored_classes(y_true)
        if len(cols) == 0:
            return float("nan")
        return float(fn(np.asarray(y_true)[:, cols], np.asarray(y_score)[:, cols], average=average))

    return score


def _multilabel_f1(average: str) -> MetricFn:
    def score(y_true, y_pred, y_score=None) -> float:
        return float(skm.f1_score(y_true, y_pred, average=average, zero_division=0))

    return score


def concordance_correlation(y_true, y_pred, y_score=None) -> float:
    """Lin's CCC = 2·cov(x, y) / (var(x) + var(y) + (mean(x) − mean(y))²), population moments."""
    x = np.asarray(y_true, dtype=np.float64)
    y = np.asarray(y_pred, dtype=np.float64)
    mx, my = x.mean(), y.mean()
    cov = ((x - mx) * (y - my)).mean()
    denom = x.var() + y.var() + (mx - my) ** 2
    return float(2.0 * cov / denom) if denom > 0 else 0.0


for _metric in (
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
    Metric(
        "roc_auc_micro",
        "ROC AUC (micro)",
        "multilabel",
        True,
        _ranking(skm.roc_auc_score, "micro"),
        True,
    ),
    Metric(
        "roc_auc_macro",
        "ROC AUC (macro)",
        "multilabel",
        True,
        _ranking(skm.roc_auc_score, "macro"),
        True,
    ),
    Metric(
        "map",
        "mean average precision",
        "multilabel",
        True,
        _ranking(skm.average_precision_score, "macro"),
        True,
    ),
    Metric("f1_micro", "F1 at 0.5 (micro)", "multilabel", True, _multilabel_f1("micro")),
    Metric("f1_macro", "F1 at 0.5 (macro)", "multilabel", True, _multilabel_f1("macro")),
):
    register_metric(_metric)


def get_metric(name: str) -> Metric:
    return METRICS.get(name)


def compute_metrics(
    names: list[str], y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None = None
) -> dict[str, float]:
    """All requested metrics on one whole fold (never averaged over batches)."""
    out = {}
    for name in names:
        metric = get_metric(name)
        if metric.needs_scores and y_score is None:
            raise ValueError(f"metric {name!r} reads scores, and none were given")
        out[name] = metric.fn(np.asarray(y_true), np.asarray(y_pred), y_score)
    return out


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> list[list[int]]:
    return skm.confusion_matrix(y_true, y_pred, labels=list(range(n_classes))).tolist()
