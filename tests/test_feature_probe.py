import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.preprocessing import StandardScaler

from emobench.feature_probe import PROBE_C, probe_uar


def test_probe_is_sklearn_balanced_accuracy_of_a_logistic_regression():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 200)
    features = rng.normal(size=(200, 8)) + 0.8 * np.eye(4, 8)[labels]
    train, test = slice(0, 150), slice(150, 200)
    scaler = StandardScaler().fit(features[train])
    clf = LogisticRegression(C=PROBE_C, max_iter=5000).fit(
        scaler.transform(features[train]), labels[train]
    )
    expected = balanced_accuracy_score(labels[test], clf.predict(scaler.transform(features[test])))
    got = probe_uar(features[train], labels[train], features[test], labels[test])
    assert got == expected


def test_probe_reads_what_is_there_and_not_what_is_not():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(6), 60)
    rng.shuffle(labels)
    coded = rng.normal(size=(360, 2, 16)) + 6.0 * np.eye(6, 32)[labels].reshape(360, 2, 16)
    unrelated = rng.normal(size=(360, 32))
    train, test = slice(0, 240), slice(240, 360)
    assert probe_uar(coded[train], labels[train], coded[test], labels[test]) > 0.95
    chance = probe_uar(unrelated[train], labels[train], unrelated[test], labels[test])
    assert abs(chance - 1 / 6) < 0.1


def test_probe_of_a_single_class_is_nan():
    features = np.ones((10, 3))
    assert np.isnan(probe_uar(features, np.zeros(10), features, np.zeros(10)))
