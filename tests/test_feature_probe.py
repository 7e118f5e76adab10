import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from emobench.feature_probe import probe_uar

CENTRES = np.array([[10.0, 0.0], [-10.0, 0.0], [0.0, 10.0]])  # three far-apart classes


def clusters(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), per_class)
    return CENTRES[labels] + rng.normal(scale=0.5, size=(labels.size, 2)), labels


def test_probe_uar_is_the_macro_recall_of_a_known_prediction():
    """Test points sit on the class centres, so a linear probe of the (well separated) training
    clusters predicts each point's centre; some test labels disagree with their centre, so the
    probe's UAR is known in advance: the mean per-class recall, not the accuracy."""
    train_x, train_y = clusters(40, seed=0)
    at = np.array([0] * 8 + [1] * 2 + [1] * 10 + [2] * 5 + [0] * 15)  # the centre of each point
    labels = np.array([0] * 10 + [1] * 10 + [2] * 20)
    # recall: class 0 8/10, class 1 10/10, class 2 5/20; accuracy 23/40 = 0.575
    expected = (0.8 + 1.0 + 0.25) / 3
    assert balanced_accuracy_score(labels, at) == expected  # scikit-learn agrees with the hand
    got = probe_uar(train_x, train_y, CENTRES[at], labels)
    assert got == pytest.approx(expected, abs=1e-12)


def test_probe_standardises_with_the_training_part():
    """The scaler is fit on the training part only. A test part moved far along one axis then
    falls on one side of every boundary and is read as one class (UAR 1/3); a probe that
    standardised the test part on its own would undo the move and read every class."""
    train_x, train_y = clusters(40, seed=1)
    test_x, test_y = clusters(20, seed=2)
    assert probe_uar(train_x, train_y, test_x, test_y) == 1.0
    moved = test_x + np.array([0.0, 1000.0])
    assert probe_uar(train_x, train_y, moved, test_y) == 1 / 3
    # and, standardised with the training part, the scale of a feature does not matter
    scale = np.array([1e-3, 1e4])
    assert probe_uar(train_x * scale, train_y, test_x * scale, test_y) == 1.0


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
