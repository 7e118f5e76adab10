import numpy as np
import pytest
from sklearn import metrics as skm

from emobench.metrics import METRICS, compute_metrics, concordance_correlation, confusion


@pytest.fixture(params=range(5))
def labels(request):
    rng = np.random.default_rng(request.param)
    y_true = rng.integers(0, 7, size=200)
    y_pred = np.where(rng.random(200) < 0.5, y_true, rng.integers(0, 7, size=200))
    return y_true, y_pred


@pytest.fixture(params=range(5))
def values(request):
    rng = np.random.default_rng(request.param)
    y_true = rng.uniform(-1, 1, size=150)
    return y_true, y_true * 0.7 + rng.normal(0, 0.3, size=150)


def test_classification_metrics_equal_sklearn(labels):
    y_true, y_pred = labels
    got = compute_metrics(["war", "uar", "wf1", "mf1"], y_true, y_pred)
    assert got["war"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert got["war"] == pytest.approx(skm.recall_score(y_true, y_pred, average="weighted"))
    assert got["uar"] == pytest.approx(skm.recall_score(y_true, y_pred, average="macro"))
    assert got["wf1"] == pytest.approx(skm.f1_score(y_true, y_pred, average="weighted"))
    assert got["mf1"] == pytest.approx(skm.f1_score(y_true, y_pred, average="macro"))


def test_uar_ignores_classes_only_predicted():
    # Class 2 never occurs in y_true: UAR averages recall over the true classes only.
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 2, 1, 1])
    assert compute_metrics(["uar"], y_true, y_pred)["uar"] == pytest.approx((0.5 + 1.0) / 2)


def test_regression_metrics_equal_sklearn(values):
    y_true, y_pred = values
    got = compute_metrics(["mae", "rmse", "ccc"], y_true, y_pred)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y_true, y_pred))
    assert got["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y_true, y_pred)))
    r = np.corrcoef(y_true, y_pred)[0, 1]
    sx, sy = y_true.std(), y_pred.std()
    expected = 2 * r * sx * sy / (sx**2 + sy**2 + (y_true.mean() - y_pred.mean()) ** 2)
    assert got["ccc"] == pytest.approx(expected)


def test_ccc_extremes():
    x = np.linspace(-1, 1, 50)
    assert concordance_correlation(x, x) == pytest.approx(1.0)
    assert concordance_correlation(x, -x) == pytest.approx(-1.0)
    assert concordance_correlation(x, x + 1) < 1.0  # a shift is penalised, unlike Pearson


def test_directions_declared():
    lower = {m for m, spec in METRICS.items() if not spec.higher_is_better}
    assert lower == {"mae", "rmse", "apex_mae"}


def test_confusion_equals_sklearn(labels):
    y_true, y_pred = labels
    assert confusion(y_true, y_pred, 7) == skm.confusion_matrix(y_true, y_pred).tolist()
