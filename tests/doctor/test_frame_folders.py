import pytest


@pytest.mark.defect("missing-frame")
def test_missing_frame_is_found(damaged, name):
    checked = damaged(name)
    _, rel, _ = checked.planted["missing-frame"]
    gaps = [
        f
        for f in checked.report.errors
        if f.check == "frame-folders" and f.file == rel and "missing" in f.problem
    ]
    assert len(gaps) == 1, [f.as_dict() for f in checked.report.errors]
