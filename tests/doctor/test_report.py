import json

import pytest
from typer.testing import CliRunner

from emobench.cli import app
from emobench.datasets.registry import dataset_names
from emobench.doctor import CHECKS, SEVERITIES, Finding, ordered_checks
from emobench.doctor.report import run_doctor
from emobench.errors import EmobenchError, InputError

runner = CliRunner()


def test_every_dataset_is_covered(defect_plan):
    """Every registered adapter has a clean test and at least one planted defect."""
    defects = defect_plan["defects"]
    assert set(defects) == set(dataset_names())
    for name, planted in defects.items():
        assert planted, name
        for defect in planted:
            known = defect in defect_plan["planters"] or name in defect_plan["split_edits"]
            assert known, (name, defect)


@pytest.mark.parametrize("name", dataset_names())
def test_clean_miniature_passes(clean, name):
    checked = clean(name)
    report = checked.report
    assert report.ok, [f.as_dict() for f in report.errors]
    assert report.n_samples > 0 and "scan" in report.checks
    assert any(f.check == "label-distribution" for f in report.findings)
    # read-only: no file under the root was added, removed, resized, touched or changed
    assert checked.after == checked.before


def test_registry_and_findings():
    names = [c.name for c in ordered_checks()]
    assert names[0] == "scan" and set(names) == set(CHECKS.names())
    for check in ordered_checks():
        assert check.summary and callable(check.run)
    with pytest.raises(ValueError):
        Finding("scan", "fatal", "", "x")
    assert SEVERITIES == ("error", "warning", "info")


def test_report_json(clean):
    data = clean("casme2").report.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["ok"] and data["counts"]["error"] == 0
    assert {"check", "severity", "file", "problem"} == set(data["findings"][0])


def test_bad_src_is_input_error(tmp_path, clean):
    with pytest.raises(InputError, match="raw EMER folder not found"):
        run_doctor("emer", tmp_path / "nowhere")
    # a folder of another dataset is not EMER's layout: named, not a finding
    with pytest.raises(EmobenchError, match="label sheet not found"):
        run_doctor("emer", clean("casme2").root)
    result = runner.invoke(app, ["doctor", "emer", "--src", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "raw EMER folder not found" in result.output
    assert runner.invoke(app, ["doctor", "nosuch"]).exit_code == 2


def test_cli_end_to_end(clean, damaged):
    ok = runner.invoke(app, ["doctor", "casme2", "--src", str(clean("casme2").root)])
    assert ok.exit_code == 0, ok.output
    assert "label-distribution" in ok.output and "OK" in ok.output
    bad = damaged("casme2")
    result = runner.invoke(app, ["doctor", "casme2", "--src", str(bad.root), "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert not data["ok"] and data["counts"]["error"] >= 1
    assert any(
        f["check"] == "frame-folders" and f["file"] == bad.planted["missing-frame"][1]
        for f in data["findings"]
    )
    table = runner.invoke(app, ["doctor", "casme2", "--src", str(bad.root)])
    assert table.exit_code == 1 and "FAIL" in table.output
    for line in table.output.splitlines():
        assert len(line) <= 80
    assert "frame-folders" in table.output and "near-duplicates" in table.output


def test_miniature_default_says_so(clean):
    clean("casme2")  # the miniature is synthesised in the session's home
    result = runner.invoke(app, ["doctor", "casme2"])
    assert result.exit_code == 0 and "miniature" in result.output
