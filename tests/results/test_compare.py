"""Paired comparisons: two runs of the same experiment but for the model pair on their test
samples; a real gap shows in the interval and the sign count; runs that differ in split,
pack, seeds or completeness are not paired, and the error says what differs."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from emobench import api
from emobench.cli import app
from emobench.errors import EmobenchError


@pytest.fixture(scope="module")
def results(emer_pack, tmp_path_factory):
    """p3: a real majority run, and a copy of it renamed `oracle` whose predictions are the
    targets (a model that is always right on the very same samples, folds and seed)."""
    root = tmp_path_factory.mktemp("compare")
    run = api.evaluate("p3", "majority", emer_pack, results=root, bootstrap=0)
    folder = root / "p3" / "oracle"
    folder.mkdir()
    record = json.loads(run.path.read_text())
    record["model"] = {**record["model"], "name": "oracle"}
    predictions = pd.read_csv(run.path.parent / record["predictions"])
    predictions["prediction"] = predictions["target"]
    predictions.to_csv(folder / record["predictions"], index=False)
    (folder / run.path.name).write_text(json.dumps(record))
    return root


def test_a_real_gap_excludes_zero(results):
    c = api.compare("p3", "oracle", "majority", results=results, n_resamples=50)
    assert c.mean_a == pytest.approx(1.0) and c.mean_b == pytest.approx(1 / 7)
    assert c.difference == pytest.approx(1 - 1 / 7) and c.excludes_zero
    assert (c.wins, c.losses, c.ties, c.n_pairs, c.n_samples) == (5, 0, 0, 5, 180)
    assert c.low <= c.difference <= c.high


def test_the_cli_prints_the_difference_and_the_sign_count(results):
    out = CliRunner().invoke(
        app,
        [
            "compare",
            "oracle",
            "majority",
            "--protocol",
            "p3",
            "--results",
            str(results),
            "--bootstrap",
            "20",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "difference oracle − majority: +0.8571" in out.output
    assert "oracle better in 5 of 5 units" in out.output and "excludes 0" in out.output


def test_runs_that_differ_are_not_paired(results, tmp_path):
    root = tmp_path / "r"
    shutil.copytree(results, root)
    (path,) = (root / "p3" / "oracle").glob("*.json")
    record = json.loads(path.read_text())
    record["split_digest"] = "f" * 64
    path.write_text(json.dumps(record))
    with pytest.raises(EmobenchError, match="split digest differs"):
        api.compare("p3", "oracle", "majority", results=root, n_resamples=5)
    record["split_digest"], record["seeds"] = (
        json.loads((next((results / "p3" / "oracle").glob("*.json"))).read_text())["split_digest"],
        [1],
    )
    path.write_text(json.dumps(record))
    with pytest.raises(EmobenchError, match="seeds differs"):
        api.compare("p3", "oracle", "majority", results=root, n_resamples=5)
    record["seeds"], record["epochs_override"] = [0], 3
    path.write_text(json.dumps(record))
    with pytest.raises(EmobenchError, match="epochs override differs"):
        api.compare("p3", "oracle", "majority", results=root, n_resamples=5)
    with pytest.raises(EmobenchError, match="no complete results of face-only"):
        api.compare("p3", "oracle", "face-only", results=root)
    with pytest.raises(EmobenchError, match="no results of protocol p1"):
        api.compare("p1", "oracle", "majority", results=root)
