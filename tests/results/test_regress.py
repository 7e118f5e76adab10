"""``regress``: which results file a reference number is checked against, and the tolerance."""

from __future__ import annotations

from pathlib import Path

import pytest

from emobench.protocols import load_protocol
from emobench.results.regress import Check, check_protocol, matching_run

REFERENCE = {"uar": 0.5, "tolerance": 0.03, "config": "small", "seed": 0}


def test_matching_run_needs_config_seed_validation_miniature_and_no_epoch_override(run) -> None:
    good = run(model="eye-only", uar=0.5, name="good.json")
    others = [
        run(model="emert", uar=0.5, name="other-model.json"),
        run(model="eye-only", config="paper", uar=0.5, name="paper.json"),
        run(model="eye-only", seed=1, uar=0.5, name="seed1.json"),
        run(model="eye-only", selection="test-oracle", uar=0.5, name="oracle.json"),
        run(model="eye-only", miniature=False, uar=0.5, name="real.json"),
        run(model="eye-only", epochs=2, uar=0.5, name="epochs.json"),
    ]
    newer = "2030-01-01T00:00:00+0000"  # each disqualified run is newer than the good one
    others = [type(r)(r.path, {**r.record, "created": newer}) for r in others]
    assert matching_run([*others, good], "eye-only", REFERENCE) is good
    assert matching_run(others[1:], "eye-only", REFERENCE) is None
    # the one that differs is accepted once the reference asks for it
    paper = others[1]
    assert matching_run(others, "eye-only", {**REFERENCE, "config": "paper"}) is paper
    assert matching_run(others, "eye-only", {**REFERENCE, "seed": 1}) is others[2]


def test_matching_run_defaults_to_the_small_config_and_seed_0(run) -> None:
    small = run(model="eye-only", uar=0.5, name="small.json")
    paper = run(model="eye-only", config="paper", uar=0.5, name="paper.json")
    seeded = run(model="eye-only", seed=3, uar=0.5, name="seed3.json")
    assert matching_run([paper, seeded, small], "eye-only", {"uar": 0.5}) is small


def test_the_newest_matching_run_wins(run) -> None:
    old = run(model="eye-only", uar=0.9, created="2025-01-01T00:00:00+0000", name="b.json")
    new = run(model="eye-only", uar=0.1, created="2025-03-01T00:00:00+0000", name="a.json")
    assert matching_run([new, old], "eye-only", REFERENCE) is new
    assert matching_run([old, new], "eye-only", REFERENCE) is new


def test_of_two_runs_in_the_same_second_the_later_written_wins(tmp_path, record) -> None:
    import pandas as pd

    from emobench.results.store import load_runs, write_run

    for uar in (0.2, 0.3, *[0.4] * 8, 0.5):  # one second: later files get -2 … -11
        write_run(tmp_path, record(uar=uar), pd.DataFrame({"id": ["a"]}))
    runs = load_runs(tmp_path)
    assert sorted(r.path.name for r in runs)[0].endswith("-10.json")  # name order misleads
    assert matching_run(runs, "eye-only", REFERENCE).mean("uar") == 0.5


@pytest.fixture
def protocol(tmp_path):
    """p3 with one reference block whose numbers the tests know."""
    text = Path(load_protocol("p3").path).read_text(encoding="utf-8")
    text = text.split("# Reference numbers")[0]
    text += (
        "\n[reference.eye-only]\nwar = 0.6\nuar = 0.5\nwf1 = 0.4\n"
        'tolerance = 0.03\nconfig = "small"\nseed = 0\n'
        '\n[reference.majority]\nuar = 0.2\ntolerance = 0.01\nconfig = "small"\n'
    )
    path = tmp_path / "p3.toml"
    path.write_text(text, encoding="utf-8")
    return load_protocol(path)


def checks_of(protocol, runs, **kwargs) -> dict[tuple[str, str], Check]:
    return {(c.model, c.metric): c for c in check_protocol(protocol, runs, **kwargs)}


def test_one_check_per_reference_metric(protocol, run) -> None:
    eye = run(model="eye-only", war=0.6, uar=0.5, wf1=0.4, name="eye.json")
    checks = checks_of(protocol, [eye])
    # tolerance, config and seed are settings of the reference, not numbers to check
    assert sorted(checks) == [
        ("eye-only", "uar"),
        ("eye-only", "war"),
        ("eye-only", "wf1"),
        ("majority", "uar"),
    ]
    assert checks["eye-only", "war"].reference == 0.6
    assert checks["eye-only", "war"].tolerance == 0.03
    assert checks["eye-only", "war"].results_file == str(eye.path)
    assert all(c.protocol == "p3@1" for c in checks.values())


@pytest.mark.parametrize(
    ("reproduced", "ok"),
    [
        (0.5, True),
        (0.53, True),  # exactly at the tolerance (0.53 - 0.5 is 0.030000000000000027 in floats)
        (0.47, True),
        (0.5301, False),  # just beyond, either side
        (0.4699, False),
    ],
)
def test_tolerance_is_inclusive(protocol, run, reproduced, ok) -> None:
    eye = run(model="eye-only", war=0.6, uar=reproduced, wf1=0.4, name="eye.json")
    check = checks_of(protocol, [eye])["eye-only", "uar"]
    assert check.reproduced == reproduced
    assert check.delta == pytest.approx(reproduced - 0.5)
    assert check.ok is ok


def test_a_missing_run_fails_its_checks(protocol, run) -> None:
    eye = run(model="eye-only", war=0.6, uar=0.5, wf1=0.4, name="eye.json")
    checks = checks_of(protocol, [eye])
    missing = checks["majority", "uar"]
    assert missing.reproduced is None and missing.delta is None and missing.results_file == ""
    assert not missing.ok
    assert all(checks["eye-only", m].ok for m in ("war", "uar", "wf1"))


def test_missing_runs_are_made_by_the_callback(protocol, run) -> None:
    asked = []

    def run_missing(model, reference):
        asked.append((model, reference["tolerance"]))
        return run(model=model, uar=0.205, name=f"{model}-fresh.json")

    eye = run(model="eye-only", war=0.6, uar=0.5, wf1=0.4, name="eye.json")
    checks = checks_of(protocol, [eye], run_missing=run_missing)
    assert asked == [("majority", 0.01)]  # only the model without a matching run
    fresh = checks["majority", "uar"]
    assert fresh.reproduced == 0.205 and fresh.ok and fresh.results_file.endswith("fresh.json")


def test_only_the_named_models_are_checked(protocol, run) -> None:
    checks = checks_of(protocol, [], models=["majority"])
    assert list(checks) == [("majority", "uar")]


def test_the_shipped_references_are_checked_against_their_own_numbers(run) -> None:
    """Every reference of a shipped protocol, fed a run that reproduces it exactly, passes; the
    same run moved by twice the tolerance fails."""
    protocol = load_protocol("p3")
    for model, reference in protocol.reference.items():
        numbers = {m: v for m, v in reference.items() if m in protocol.metrics}
        exact = run(model=model, config=reference["config"], seed=reference["seed"], **numbers)
        assert all(c.ok for c in check_protocol(protocol, [exact], models=[model]))
        moved = {m: v + 2 * reference["tolerance"] for m, v in numbers.items()}
        off = run(model=model, config=reference["config"], seed=reference["seed"], **moved)
        assert not any(c.ok for c in check_protocol(protocol, [off], models=[model]))


def test_a_multi_seed_reference_is_run_with_its_seeds(tmp_path, monkeypatch):
    from emobench import api
    from emobench.protocols import load_protocol

    text = Path(load_protocol("p3").path).read_text().split("# Reference numbers")[0]
    text += '\n[reference.majority]\nuar = 0.14\ntolerance = 0.01\nseeds = [0, 1]\n'
    (tmp_path / "p3.toml").write_text(text)
    asked = {}

    def evaluate(protocol, model, **kwargs):
        asked.update(kwargs)
        raise RuntimeError("stop after the call")

    monkeypatch.setattr(api, "evaluate", evaluate)
    with pytest.raises(RuntimeError, match="stop after the call"):
        api.regress([str(tmp_path / "p3.toml")], results=tmp_path / "results")
    assert asked["seeds"] == [0, 1]
