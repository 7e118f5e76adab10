"""Bootstrap intervals and paired differences from per-sample predictions: every task's
predictions columns read back, intervals that hold the point estimate and are repeatable,
draws stratified by fold, and paired differences that see a real gap and no gap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emobench.errors import EmobenchError
from emobench.metrics import METRICS
from emobench.protocols import all_protocols, load_protocol
from emobench.results.intervals import (
    _draws,
    bootstrap_interval,
    paired_difference,
    unit_predictions,
)
from emobench.tasks import TASKS


def _arrays(protocol, n: int, rng: np.random.Generator, skill: float):
    """Targets, predictions and scores of a model that is right with probability ``skill``."""
    task = protocol.task_spec
    if task.name == "multilabel":
        targets = rng.integers(0, 2, (n, len(protocol.label))).astype(np.float32)
        noise = rng.random(targets.shape)
        scores = np.where(noise < skill, targets * 0.8 + 0.1, rng.random(targets.shape))
        return targets, (scores >= 0.5).astype(np.int64), scores
    if task.predicts_classes:
        k = len(protocol.classes)
        targets = rng.integers(0, k, n)
        pred = np.where(rng.random(n) < skill, targets, rng.integers(0, k, n))
        scores = np.full((n, k), 0.1 / (k - 1))
        scores[np.arange(n), pred] = 0.9
        return targets, pred, scores
    targets = rng.normal(size=n).astype(np.float64)
    return targets, targets + rng.normal(scale=1 - skill, size=n), None


def _predictions(protocol, *, seeds=(0,), folds=3, per_fold=30, skill=0.6, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for s in seeds:
        for f in range(1, folds + 1):
            targets, pred, scores = _arrays(protocol, per_fold, rng, skill)
            columns = protocol.task_spec.prediction_columns(protocol, targets, pred, scores)
            frame = pd.DataFrame(columns)
            frame.insert(0, "fold", f)
            frame.insert(0, "id", [f"f{f}-s{k}" for k in range(per_fold)])
            frame.insert(0, "seed", s)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _one_protocol_per_task():
    chosen = {}
    for protocol in all_protocols():
        chosen.setdefault(protocol.task, protocol)
    return chosen


def test_every_task_reads_back_its_prediction_columns():
    protocols = _one_protocol_per_task()
    assert set(protocols) == set(TASKS.names())  # a new task needs a protocol to be checked
    rng = np.random.default_rng(0)
    for protocol in protocols.values():
        targets, pred, scores = _arrays(protocol, 40, rng, 0.5)
        frame = pd.DataFrame(protocol.task_spec.prediction_columns(protocol, targets, pred, scores))
        got_t, got_p, got_s = protocol.task_spec.arrays_from_predictions(protocol, frame)
        np.testing.assert_array_equal(got_t, targets)
        np.testing.assert_array_equal(got_p, pred)
        if scores is None:
            assert got_s is None
        else:
            np.testing.assert_allclose(got_s, scores, atol=1e-6)
        for m in protocol.metrics:  # the metrics of the read-back arrays are the originals'
            fn = METRICS[m].fn
            assert fn(got_t, got_p, got_s) == pytest.approx(fn(targets, pred, scores), abs=1e-6)


@pytest.mark.parametrize("name", ["p3", "emoreact-face"])
def test_the_interval_holds_the_mean_and_is_repeatable(name):
    protocol = load_protocol(name)
    samples = unit_predictions(protocol, _predictions(protocol, seeds=(0, 1), folds=2))
    assert len(samples.keys) == 60 and len(samples.units) == 4
    point = np.mean(list(samples.unit_scores(protocol.primary).values()))
    a = bootstrap_interval(samples, [protocol.primary], n_resamples=40)
    b = bootstrap_interval(samples, [protocol.primary], n_resamples=40)
    assert a == b
    bounds = a["metrics"][protocol.primary]
    assert bounds["low"] < point < bounds["high"]
    assert a["n_samples"] == 60 and a["n_units"] == 4 and a["level"] == 0.95
    other = bootstrap_interval(samples, [protocol.primary], n_resamples=40, random_state=1)
    assert other["metrics"] != a["metrics"]


def test_draws_keep_every_fold_its_size():
    protocol = load_protocol("p3")
    frame = _predictions(protocol, folds=3, per_fold=30)
    frame = frame[~((frame["fold"] == 3) & (frame["id"].str.endswith(("1", "2"))))]  # uneven
    samples = unit_predictions(protocol, frame)
    sizes = pd.Series(samples.fold_of).value_counts().to_dict()
    for draw in _draws(samples, 20, 0):
        assert pd.Series(samples.fold_of[draw]).value_counts().to_dict() == sizes


def test_seeds_must_test_the_same_samples():
    protocol = load_protocol("p3")
    frame = _predictions(protocol, seeds=(0, 1))
    with pytest.raises(EmobenchError, match="seed 1 tested 89 of the 90"):
        unit_predictions(protocol, frame.drop(index=frame.index[-1]))


def test_a_paired_difference_sees_a_gap_and_no_gap():
    protocol = load_protocol("p3")
    good = unit_predictions(protocol, _predictions(protocol, skill=0.9, seed=0))
    poor = unit_predictions(protocol, _predictions(protocol, skill=0.2, seed=0))
    gap = paired_difference(good, poor, "uar", n_resamples=40)
    assert gap.difference > 0.4 and gap.low > 0 and gap.wins == 3 and gap.losses == 0
    assert gap.mean_a - gap.mean_b == pytest.approx(gap.difference)
    same = paired_difference(good, good, "uar", n_resamples=10)
    assert (same.difference, same.low, same.high, same.ties) == (0, 0, 0, 3)


def test_a_lower_is_better_metric_counts_wins_the_right_way():
    protocol = next(p for p in all_protocols() if p.task == "regression")
    metric = next(m for m in protocol.metrics if not METRICS[m].higher_is_better)
    close = unit_predictions(protocol, _predictions(protocol, skill=0.95))
    far = unit_predictions(protocol, _predictions(protocol, skill=0.0))
    gap = paired_difference(close, far, metric, n_resamples=50)
    assert gap.difference < 0 and gap.wins == 3


def test_a_unit_whose_metric_is_undefined_is_counted_as_such():
    """Before: a (fold, seed) unit whose metric was NaN for both runs (a ranking metric on a
    fold where no class varies) counted as no win, loss or tie, and the counts fell short of
    the units without saying why."""
    protocol = next(p for p in all_protocols() if p.task == "multilabel")
    metric = next(m for m in protocol.metrics if m.startswith("roc_auc"))
    frames = [_predictions(protocol, skill=s, seed=0) for s in (0.9, 0.2)]
    label_columns = [c for c in frames[0].columns if c.startswith("target")]
    for frame in frames:  # fold 1: no class varies, so no ranking metric is defined there
        frame.loc[frame["fold"] == 1, label_columns] = 0
    good, poor = (unit_predictions(protocol, f) for f in frames)
    gap = paired_difference(good, poor, metric, n_resamples=10)
    assert (gap.wins, gap.losses, gap.ties, gap.undefined) == (2, 0, 0, 1)
    assert gap.difference > 0  # the mean over the units where it is defined


def test_unpaired_samples_are_refused():
    protocol = load_protocol("p3")
    a = unit_predictions(protocol, _predictions(protocol))
    frame = _predictions(protocol)
    frame["id"] = frame["id"] + "x"
    with pytest.raises(EmobenchError, match="same samples"):
        paired_difference(a, unit_predictions(protocol, frame), "uar", n_resamples=5)


def test_bad_predictions_are_named_errors():
    protocol = load_protocol("p3")
    frame = _predictions(protocol)
    frame.loc[3, "prediction"] = "Bored"
    with pytest.raises(EmobenchError, match=r"run.csv: column 'prediction' holds \['Bored'\]"):
        unit_predictions(protocol, frame, what="run.csv")
    first = f"p_{protocol.classes[0]}"
    with pytest.raises(EmobenchError, match=rf"lack the column\(s\) \['{first}'\]"):
        unit_predictions(protocol, _predictions(protocol).drop(columns=first))
