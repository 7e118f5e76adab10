import pytest


@pytest.mark.defect("subject-in-two-folds")
def test_subject_in_two_folds_is_found(fold_damaged, name):
    checked = fold_damaged(name)
    check, rel, who = checked.planted["subject-in-two-folds"]
    hits = [
        f
        for f in checked.report.errors
        if f.check == check and (not rel or f.file == rel) and who in f.problem
    ]
    assert hits, [f.as_dict() for f in checked.report.findings]
    if check == "scan":  # the list file the adapter refused is named, relative to --src
        assert hits[0].file and not hits[0].file.startswith("/")
