"""The results store: file names, collision suffixes, atomic writes, loading, the newest run."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from emobench.errors import EmobenchError
from emobench.results.store import latest_runs, load_runs, run_stem, write_run

PREDICTIONS = pd.DataFrame({"id": ["a", "b"], "target": [0, 1], "prediction": [1, 1]})


def test_run_stem_names_config_seed_selection_and_time(record) -> None:
    created = "2025-06-07T08:09:10+0200"
    assert run_stem(record(config="paper", seed=3, created=created)) == (
        "paper-seed3-20250607T080910"
    )
    oracle = record(selection="test-oracle", created=created)
    assert run_stem(oracle) == "small-seed0-test-oracle-20250607T080910"


def test_write_run_lays_out_protocol_model_run(tmp_path, record) -> None:
    rec = record("p3", "eye-only", uar=0.5)
    path = write_run(tmp_path, rec, PREDICTIONS)
    assert path == tmp_path / "p3" / "eye-only" / f"{run_stem(rec)}.json"
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written == {**rec, "predictions": f"{run_stem(rec)}.predictions.csv"}
    predictions = pd.read_csv(path.parent / written["predictions"])
    pd.testing.assert_frame_equal(predictions, PREDICTIONS)
    assert "predictions" not in rec  # the caller's record is left as it was
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        [path.name, written["predictions"]]
    )  # no temporary file left behind


def test_collisions_get_numbered_suffixes_and_keep_every_run(tmp_path, record) -> None:
    paths = [
        write_run(tmp_path, record(uar=u), PREDICTIONS.assign(prediction=[i, i]))
        for i, u in enumerate((0.1, 0.2, 0.3))
    ]
    stem = run_stem(record())
    assert [p.name for p in paths] == [f"{stem}.json", f"{stem}-2.json", f"{stem}-3.json"]
    for i, path in enumerate(paths):
        written = json.loads(path.read_text(encoding="utf-8"))
        assert written["summary"]["uar"]["mean"] == (0.1, 0.2, 0.3)[i]
        assert written["predictions"] == f"{path.stem}.predictions.csv"
        assert list(pd.read_csv(path.parent / written["predictions"])["prediction"]) == [i, i]


def test_an_interrupted_write_leaves_no_results_file(tmp_path, record, monkeypatch) -> None:
    """A write that dies before the results file's final rename leaves nothing that looks like
    a run (the predictions may be in place already)."""

    def crash_on_json(rename):
        def move(src, dst, *args, **kwargs):
            if str(dst).endswith(".json"):
                raise OSError("disk gone")
            return rename(src, dst, *args, **kwargs)

        return move

    monkeypatch.setattr(os, "replace", crash_on_json(os.replace))
    monkeypatch.setattr(os, "rename", crash_on_json(os.rename))
    with pytest.raises(OSError, match="disk gone"):
        write_run(tmp_path, record(uar=0.5), PREDICTIONS)
    monkeypatch.undo()
    assert not list(tmp_path.rglob("*.json"))
    assert load_runs(tmp_path) == []


def test_load_runs_reads_every_protocol_or_one(tmp_path, record) -> None:
    write_run(tmp_path, record("p3", "eye-only", uar=0.5), PREDICTIONS)
    write_run(tmp_path, record("p3", "emert", uar=0.6), PREDICTIONS)
    write_run(tmp_path, record("p5", "eye-only", mae=0.2), PREDICTIONS)
    (tmp_path / "p3" / "emert" / "leftover.json.tmp").write_text("{")  # not a results file
    everything = load_runs(tmp_path)
    assert sorted((r.record["protocol"]["name"], r.model) for r in everything) == [
        ("p3", "emert"),
        ("p3", "eye-only"),
        ("p5", "eye-only"),
    ]
    assert sorted(r.model for r in load_runs(tmp_path, "p3")) == ["emert", "eye-only"]
    assert [r.mean("mae") for r in load_runs(tmp_path, "p5")] == [0.2]
    assert load_runs(tmp_path / "nowhere") == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"schema": "emobench.results/1", ', "unreadable results file"),
        (json.dumps({"model": {"name": "x"}}), "schema missing"),
        (json.dumps({"schema": "someone-else/3"}), "schema missing"),
    ],
)
def test_a_bad_results_file_is_named(tmp_path, record, content, message) -> None:
    write_run(tmp_path, record(uar=0.5), PREDICTIONS)
    bad = tmp_path / "p3" / "eye-only" / "broken.json"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(EmobenchError, match=message) as error:
        load_runs(tmp_path)
    assert str(bad) in str(error.value)


def test_latest_runs_keeps_the_newest_per_model_config_selection_and_data(run) -> None:
    def at(month: int, **kwargs):
        created = f"2025-{month:02d}-01T00:00:00+0000"
        return run(created=created, name=f"{month}.json", uar=float(month), **kwargs)

    runs = [
        at(3),
        at(1),
        at(2),  # the newest of model eye-only, small, validation, miniature: month 3
        at(4, model="emert"),
        at(5, config="paper"),
        at(6, selection="test-oracle"),
        at(7, miniature=False),
        at(8, model="emert", seed=1),  # another seed is not another row: it replaces month 4
    ]
    latest = latest_runs(runs)
    assert sorted(r.mean("uar") for r in latest) == [3.0, 5.0, 6.0, 7.0, 8.0]
    assert len({id(r) for r in latest}) == len(latest)


def test_latest_runs_breaks_a_tie_in_time_by_write_order(run) -> None:
    """Files of one second are numbered by write_run (none, -2, -3 …): the highest number is
    the newest, whatever the names' alphabetical order ("-10" < "-9" < "." as text)."""
    first = run(uar=0.1, name="small-seed0-20250101T000000.json")
    ninth = run(uar=0.2, name="small-seed0-20250101T000000-9.json")
    tenth = run(uar=0.3, name="small-seed0-20250101T000000-10.json")
    for order in ([first, ninth, tenth], [tenth, ninth, first], [ninth, tenth, first]):
        assert [r.mean("uar") for r in latest_runs(order)] == [0.3]


def test_run_properties_read_the_record(run) -> None:
    r = run("p3", "emert", config="paper", selection="test-oracle", uar=0.25)
    assert (r.model, r.config, r.selection) == ("emert", "paper", "test-oracle")
    assert r.created == "2025-01-02T03:04:05+0000"
    assert (r.mean("uar"), r.std("uar")) == (0.25, 0.01)


def test_a_results_file_without_the_keys_readers_need_is_named(tmp_path, record):
    from emobench.errors import EmobenchError
    from emobench.results.store import load_runs

    broken = record()
    del broken["pack"]["digest"], broken["split_digest"]
    folder = tmp_path / "p3" / "eye-only"
    folder.mkdir(parents=True)
    (folder / "x.json").write_text(json.dumps(broken))
    with pytest.raises(EmobenchError, match=r"x.json: results file without split_digest, pack"):
        load_runs(tmp_path)


def test_a_rerun_on_another_pack_is_no_result(run):
    from emobench.results.store import latest_runs

    original = run(uar=0.5, name="a.json")
    other = run(uar=0.9, name="b.json", created="2026-01-01T00:00:00+0000")
    other.record["reproduces"] = {"file": "a.json", "pack": "other"}
    assert latest_runs([original, other]) == [original]
