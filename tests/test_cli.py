import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emobench.cli import ProgressLines, app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_help_has_examples():
    for command in (
        ("synth",),
        ("prepare",),
        ("info",),
        ("verify",),
        ("evaluate",),
        ("leaderboard",),
        ("regress",),
        ("report",),
        ("compare",),
        ("reproduce",),
        ("doctor",),
        ("results", "merge"),
    ):
        result = run(*command, "--help")
        assert result.exit_code == 0 and "Example" in result.output, command


def test_prepare_info_verify(emer_raw, tmp_path):
    pack = tmp_path / "emer.h5"
    result = run("prepare", "emer", "--src", emer_raw, "--out", pack)
    assert result.exit_code == 0, result.output
    info = run("info", pack, "--json")
    assert info.exit_code == 0
    data = json.loads(info.output)
    from emobench.datasets.registry import get_adapter

    scanned, _ = get_adapter("emer")(emer_raw).scan()
    assert data["dataset"] == "emer" and data["n_samples"] == len(scanned) > 0
    assert set(data["folds"]) == {"1", "2", "3", "4", "5"}
    # label counts (under pandas 3 string columns have dtype str, and were not counted)
    er7 = [s.labels["er7"] for s in scanned]
    assert data["labels"]["er7"] == {c: er7.count(c) for c in sorted(set(er7))}
    assert "eye_time_unit" not in data["labels"]  # a step's manifest column is not a label
    assert data["steps"]["frames"]["frames"] == 8 and "eyes" in data["steps"]
    assert run("verify", pack).exit_code == 0
    import h5py

    with h5py.File(pack, "r+") as f:
        f["eye/windows"][0, 0, 0] += 1.0
    bad = run("verify", pack)
    assert bad.exit_code == 1 and "xxh3-128 digest mismatch" in bad.output


def test_defaults_to_miniature_and_says_so(emer_pack):
    result = run("info")
    assert result.exit_code == 0 and "miniature" in result.output


def test_bad_input_exit_code(tmp_path):
    result = run("prepare", "emer", "--src", tmp_path / "nowhere", "--out", tmp_path / "p.h5")
    assert result.exit_code == 2 and "raw EMER folder not found" in result.output
    assert run("verify", tmp_path / "none.h5").exit_code == 2
    assert run("evaluate", "--protocol", "p42").exit_code == 2


def test_protocols_and_models_listing():
    listing = run("protocols", "list")
    assert listing.exit_code == 0 and all(f"p{i}" in listing.output for i in range(1, 8))
    show = run("protocols", "show", "p3")
    assert show.exit_code == 0 and 'label = "er7"' in show.output
    assert run("protocols", "validate").exit_code == 0
    models = run("models")
    assert models.exit_code == 0 and "emert" in models.output


def test_evaluate_leaderboard_regress(emer_pack, tmp_path, monkeypatch):
    results = tmp_path / "results"
    for model, folds in (("majority", []), ("eye-only", ["--folds", "1,2"])):
        r = run(
            "evaluate",
            "--protocol",
            "p3",
            "--model",
            model,
            "--pack",
            emer_pack,
            "--epochs",
            "2",
            *folds,  # two of p3's folds: the command path, not the numbers, is under test
            "--bootstrap",
            "10",
            "--results",
            results,
        )
        assert r.exit_code == 0, r.output
    board = run("leaderboard", "--protocol", "p3", "--results", results)
    assert board.exit_code == 0 and "majority" in board.output
    # a --folds run is a part to merge, not a result: left out, and said so
    assert "| eye-only |" not in board.output and "1 partial run(s)" in board.output
    csv = run("leaderboard", "--protocol", "p3", "--format", "csv", "--results", results)
    assert csv.output.splitlines()[0].startswith("model,")


@pytest.mark.parametrize("shift,code", [(0.0, 0), (0.5, 1)])
def test_regress_exit_code_follows_tolerance(emer_pack, tmp_path, shift, code):
    from emobench.engine import evaluate
    from emobench.pack import Pack
    from emobench.protocols import load_protocol
    from emobench.results.store import write_run

    record, predictions = evaluate(load_protocol("p3"), "majority", Pack(emer_pack))
    write_run(tmp_path / "results", record, predictions)
    uar = record["summary"]["uar"]["mean"]
    text = Path(load_protocol("p3").path).read_text().split("# Reference numbers")[0]
    text += f'\n[reference.majority]\nuar = {uar + shift}\ntolerance = 0.01\nconfig = "small"\n'
    (tmp_path / "p3.toml").write_text(text)
    result = run("regress", "--protocol", tmp_path / "p3.toml", "--results", tmp_path / "results")
    assert result.exit_code == code, result.output


def test_regress_checks_only_the_named_models(emer_pack, tmp_path):
    from emobench.engine import evaluate
    from emobench.pack import Pack
    from emobench.protocols import load_protocol
    from emobench.results.store import write_run

    record, predictions = evaluate(load_protocol("p3"), "majority", Pack(emer_pack))
    write_run(tmp_path / "results", record, predictions)
    # the other models' references would need a training run each: --model skips them
    only = run(
        "regress", "--protocol", "p3", "--model", "majority", "--results", tmp_path / "results"
    )
    assert only.exit_code == 0, only.output
    assert "3 number(s) within tolerance" in only.output and "emert" not in only.output
    typo = run("regress", "--protocol", "p3", "--model", "emret", "--results", tmp_path / "results")
    assert typo.exit_code == 2 and "emret" in typo.output


def test_set_overrides_reach_the_model_and_the_record(emer_pack, tmp_path):
    results = tmp_path / "results"
    args = ["evaluate", "--protocol", "p3", "--model", "majority", "--pack", emer_pack]
    ok = run(*args, "--set", "logit=5.0", "--folds", "1", "--results", results)
    assert ok.exit_code == 0, ok.output
    record = json.loads(next(results.rglob("*.json")).read_text())
    assert record["model"]["overrides"] == {"logit": 5.0}
    unknown = run(*args, "--set", "no_such_field=1", "--folds", "1", "--results", results)
    assert unknown.exit_code != 0 and "no_such_field" in unknown.output
    malformed = run(*args, "--set", "logit", "--results", results)
    assert malformed.exit_code != 0 and "KEY=VALUE" in malformed.output


def test_prepare_dynamic_fer_defaults_layout_and_stride(dfew_raw, mafw_raw, tmp_path):
    from emobench.pack import Pack

    pack = tmp_path / "dfew.h5"
    result = run("prepare", "dfew", "--src", dfew_raw, "--out", pack)
    assert result.exit_code == 0, result.output
    assert Pack(pack).file()["face/frames"].shape[1] == 16  # the dataset's default frames
    assert "excluded by the release's own rules: 5 × label 0" in result.output
    assert "shorter than 16 frames were padded" in result.output
    info = json.loads(run("info", pack, "--json").output)
    assert info["excluded"] == {"label 0 (not single-labelled)": 5}
    wrong = run("prepare", "dfew", "--src", dfew_raw, "--out", pack, "--layout", "clip_224x224")
    assert wrong.exit_code == 2 and "layout clip_224x224: expected" in wrong.output
    single = run("prepare", "emer", "--src", tmp_path, "--out", pack, "--layout", "x")
    assert single.exit_code == 2 and "does not accept --layout" in single.output
    strided = tmp_path / "mafw.h5"
    args = ("--frames", "32", "--stride", "2")
    result = run("prepare", "mafw", "--src", mafw_raw, "--out", strided, *args)
    assert result.exit_code == 0 and "shorter than 64 frames were padded" in result.output
    assert Pack(strided).attrs["variant"] == "frames=32,size=112,stride=2"


def test_progress_in_a_log_is_one_line_per_tenth(capsys, monkeypatch):
    """One line per tenth, with the time since the first report (a fake clock: a quarter of
    a second per item, and 100 s between opening the progress and the first report)."""
    import time

    now = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    update = ProgressLines("prepare masked")
    for done in range(1, 289):
        now[0] = 100.0 + 0.25 * done
        update(done, 288, f"sub{done:03d}")
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(": ")[1].split(" ·")[0] for line in lines] == [
        f"{done}/288" for done in (29, 58, 87, 116, 144, 173, 202, 231, 260, 288)
    ]
    assert lines[0] == "prepare masked: 29/288 · sub029 (0:07)"  # 28 items after the first
    assert lines[-1] == "prepare masked: 288/288 · sub288 (1:12)"  # 287 × 0.25 s = 71.75 s


def test_the_bar_of_a_prepare_with_workers_runs_no_thread(monkeypatch):
    """On a terminal rich redraws its bar from a thread of its own; a prepare whose workers
    should fork asks for a bar redrawn by its updates instead (a running thread makes them
    spawned). The default bar keeps its thread."""
    import io
    import threading

    from rich.console import Console

    from emobench import cli

    terminal = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=terminal, force_terminal=True, width=80))
    before = threading.active_count()
    with cli.progress_bar("prepare dfew", refresh_thread=False) as update:
        assert threading.active_count() == before
        for done in range(1, 4):
            update(done, 3, f"clip{done}")
    assert "clip3" in terminal.getvalue() and "3/3" in terminal.getvalue()
    with cli.progress_bar("evaluate"):
        assert threading.active_count() == before + 1


def test_evaluate_prints_the_probes(masked_pack, tmp_path):
    args = ["evaluate", "--protocol", "masked-apex-5fold", "--model", "apex-single"]
    result = run(
        *args,
        "--pack",
        masked_pack,
        "--folds",
        "1",
        "--epochs",
        "1",
        "--probe",
        "--results",
        tmp_path,
    )
    assert result.exit_code == 0, result.output
    assert "linear probe of the features → expression: test UAR" in result.output
    assert "→ true_emotion" in result.output
