"""Linear probes: what a trained model's features tell about a label.

A decoupling model such as DSID claims that its true-emotion features carry no trace of the
displayed expression. A linear probe measures the claim instead of assuming it: a logistic
regression is fit on the features of the fold's *training* part (standardised with the training
part's mean and deviation) and scored on the test part by UAR (balanced accuracy, through
:func:`emobench.metrics.compute_metrics`). A probe at chance (1 / classes) reads nothing of the
label; one far above it reads the label linearly from the features. The probe of the
protocol's own label tells how linearly readable the features make what the model was trained
for, and sets the scale for the auxiliary one.

The probe is fit after training, on frozen features, and draws no random numbers (L-BFGS,
deterministic), so asking for it leaves the run's numbers unchanged.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from emobench.metrics import compute_metrics

PROBE_C = 0.1  # inverse strength of the L2 penalty (on standardised features)
PROBE_MAX_ITER = 5000


def probe_uar(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
) -> float:
    """Test UAR of a logistic regression fit on ``train_features`` → ``train_labels``.

    Features are flattened per sample. ``nan`` when the training part holds fewer than two
    classes (nothing to separate)."""
    train_x = np.asarray(train_features, dtype=np.float64).reshape(len(train_features), -1)
    test_x = np.asarray(test_features, dtype=np.float64).reshape(len(test_features), -1)
    if np.unique(train_labels).size < 2:
        return float("nan")
    scaler = StandardScaler().fit(train_x)
    probe = LogisticRegression(C=PROBE_C, max_iter=PROBE_MAX_ITER)
    probe.fit(scaler.transform(train_x), train_labels)
    predicted = probe.predict(scaler.transform(test_x))
    return compute_metrics(["uar"], np.asarray(test_labels), predicted)["uar"]
