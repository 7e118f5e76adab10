import pytest


def found(checked, defect):
    check, rel, _ = checked.planted[defect]
    return [
        f
        for f in checked.report.findings
        if f.check == check and f.severity == "error" and f.file == rel
    ]


@pytest.mark.defect("truncated-video")
def test_truncated_video_is_found(damaged, name):
    checked = damaged(name)
    assert found(checked, "truncated-video"), [f.as_dict() for f in checked.report.errors]
    assert not checked.report.ok


def test_videos_checked_without_a_scan(fold_damaged):
    """EMER's split names a subject in two sets: the scan fails, the videos are still
    decoded (found on disk), and the failure is one error naming the split file."""
    report = fold_damaged("emer").report
    assert "video-frames" in report.checks and "sheet-files" not in report.checks
    assert [f.file for f in report.errors] == ["Labels/emer_set.txt"]
