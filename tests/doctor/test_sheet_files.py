import pytest


@pytest.mark.defect("missing-file")
def test_missing_file_is_found(damaged, name):
    checked = damaged(name)
    _, _, sample_id = checked.planted["missing-file"]
    hits = [
        f
        for f in checked.report.errors
        if f.check == "sheet-files" and f.problem.startswith(f"{sample_id}:")
    ]
    assert hits, [f.as_dict() for f in checked.report.errors]


def test_unreferenced_files_are_reported(clean):
    """Tufts' poses 3 and 5 are left out by design: reported as information, not errors."""
    info = [f for f in clean("tufts").report.findings if f.check == "sheet-files"]
    assert info and all(f.severity == "info" for f in info)
    assert "TD_IR_E_3" in info[0].problem and "pose 3" in info[0].problem
