"""Runs from parts: seeds and fold jobs merge into the run they are parts of, equal to the
whole run; parts of different runs, or a (fold, seed) twice, are named errors; ``results
merge`` takes the partial files of a folder."""

from __future__ import annotations

import json

import pytest

from emobench import api
from emobench.engine.jobs import plan_parts
from emobench.engine.training import TrainedEvaluator
from emobench.errors import EmobenchError
from emobench.pack import Pack
from emobench.protocols import load_protocol
from emobench.results.merge import check_parts, merge_parts


@pytest.fixture(scope="module")
def fold_parts(emer_pack):
    """eye-only on p3, one epoch: folds 1 and 2 run apart, and together."""
    protocol, pack = load_protocol("p3"), Pack(emer_pack)
    run = TrainedEvaluator().run
    apart = [run(protocol, "eye-only", pack, folds=[k], epochs=1) for k in (1, 2)]
    together = run(protocol, "eye-only", pack, folds=[1, 2], epochs=1)
    return protocol, apart, together


def test_merged_fold_parts_equal_the_whole_run(fold_parts):
    protocol, apart, (whole, whole_pred) = fold_parts
    assert all(record["partial"] for record, _ in apart)
    merged, predictions = merge_parts(protocol, apart, n_resamples=0)
    assert [f["test"] for f in merged["folds"]] == [f["test"] for f in whole["folds"]]
    assert merged["summary"] == whole["summary"]
    assert merged["seeds"] == [0] and merged["seed"] == 0 and merged["partial"] is True
    cols = [c for c in whole_pred.columns]
    assert predictions.drop(columns="seed")[cols].equals(whole_pred)
    assert [p["folds"] for p in merged["parts"]] == [["1"], ["2"]]


def test_parts_of_different_runs_are_named(fold_parts):
    protocol, apart, _ = fold_parts
    a, b = apart[0][0], apart[1][0]
    other = {**b, "model": {**b["model"], "config": "paper"}}
    with pytest.raises(EmobenchError, match=r"config differs \(a: small; b: paper\)"):
        check_parts([a, other], ["a", "b"])
    moved = {**b, "split_digest": "0" * 64}
    with pytest.raises(EmobenchError, match="split digest differs"):
        check_parts([a, moved], ["a", "b"])
    with pytest.raises(EmobenchError, match="fold 1 of seed 0 is in both a and b"):
        check_parts([a, a], ["a", "b"])


def test_seeds_make_one_run_group(emer_pack, tmp_path):
    run = api.evaluate("p3", "majority", emer_pack, seeds=[1, 0], results=tmp_path, bootstrap=20)
    record = run.record
    assert record["seeds"] == [0, 1] and record["seed"] is None
    assert len(record["folds"]) == 10 and {f["seed"] for f in record["folds"]} == {0, 1}
    assert set(record["per_seed"]) == {"0", "1"} and record["partial"] is False
    interval = record["interval"]
    assert interval["n_resamples"] == 20 and set(interval["metrics"]) == {"uar"}
    assert run.path.name.startswith("small-seeds0-1-")
    on_disk = json.loads(run.path.read_text())
    assert on_disk["interval"] == interval


def test_results_merge_joins_the_partial_files_of_a_folder(emer_pack, tmp_path):
    for folds in ([1, 2], [3, 4, 5]):
        api.evaluate("p3", "majority", emer_pack, folds=folds, results=tmp_path, bootstrap=0)
    whole = api.evaluate("p3", "majority", emer_pack, results=tmp_path / "whole", bootstrap=0)
    out = tmp_path / "merged.json"
    merged = api.merge_results([tmp_path / "p3" / "majority"], out, n_resamples=0)
    assert merged["partial"] is False and len(merged["merged_from"]) == 2
    assert merged["summary"] == whole.record["summary"]
    assert json.loads(out.read_text())["predictions"] == "merged.predictions.csv"
    with pytest.raises(EmobenchError, match="no results files"):
        api.merge_results([tmp_path / "whole" / "p3" / "majority"], out)


def test_jobs_split_seeds_into_folds():
    assert [p.name for p in plan_parts([1, 2], [0, 1], None, 1)] == ["seed 0", "seed 1"]
    parts = plan_parts([1, 2, 3], [0], [1, 3], 2)
    assert [(p.seed, p.folds) for p in parts] == [(0, [1]), (0, [3])]


def test_local_jobs_give_the_sequential_run(emer_pack, tmp_path):
    # majority trains nothing but its class comes from each fold's own training part, so a
    # fold run in the wrong process or on the wrong rows shows
    kwargs = dict(seeds=[0, 1], folds=[1, 2], bootstrap=0)
    one = api.evaluate("p3", "majority", emer_pack, results=tmp_path, jobs=1, **kwargs)
    two = api.evaluate("p3", "majority", emer_pack, results=tmp_path, jobs=2, **kwargs)
    assert len(two.record["parts"]) == 4  # one per (seed, fold)
    for a, b in zip(one.record["folds"], two.record["folds"], strict=True):
        assert a["fold"] == b["fold"]
        for m, value in a["test"].items():
            assert b["test"][m] == pytest.approx(value, abs=1e-9)


def test_parts_must_agree_on_probes_and_folds_keep_the_protocol_order(fold_parts):
    protocol, apart, _ = fold_parts
    a, b = apart[0][0], apart[1][0]
    with pytest.raises(EmobenchError, match="linear probes differs"):
        check_parts([a, {**b, "probe": {}}], ["a", "b"])
    ten = [
        ({**a, "protocol_folds": list(range(1, 11)), "folds": [{**a["folds"][0], "fold": k}]}, p)
        for k, p in ((10, apart[0][1]), (2, apart[1][1]))
    ]
    merged, _ = merge_parts(protocol, ten, n_resamples=0)
    assert [f["fold"] for f in merged["folds"]] == [2, 10]
    with pytest.raises(EmobenchError, match="no results to merge"):
        merge_parts(protocol, [])


def test_jobs_refuse_a_fold_the_protocol_lacks():
    from emobench.errors import ProtocolError

    with pytest.raises(ProtocolError, match=r"no fold among \[9\]"):
        plan_parts([1, 2], [0], [9], 2)


def test_a_seed_group_keeps_to_80_columns(emoreact_pack, tmp_path):
    from typer.testing import CliRunner

    from emobench.cli import app

    out = CliRunner(env={"COLUMNS": "80"}).invoke(
        app,
        ["evaluate", "--protocol", "emoreact-face", "--model", "majority", "--pack",
         str(emoreact_pack), "--seeds", "0,1", "--bootstrap", "5", "--results", str(tmp_path)],
    )
    assert out.exit_code == 0, out.output
    assert "1/0" in out.output and "…" not in out.output and "epoch" in out.output
    lines = out.output.splitlines()
    table = [x for x in lines if x.lstrip().startswith(("fold/seed", "1/0", "mean", "std"))]
    assert len(table) >= 3 and max(len(line) for line in table) <= 80
