import numpy as np
import pytest

from emobench.doctor.near_duplicates import MAX_DISTANCE, _pairs_within


@pytest.mark.defect("duplicate")
def test_duplicated_clip_is_found(damaged, name):
    checked = damaged(name)
    _, rel, _ = checked.planted["duplicate"]
    hits = [f for f in checked.report.errors if f.check == "near-duplicates"]
    assert [f.file for f in hits] == [rel], [f.as_dict() for f in checked.report.errors]


def test_every_sampled_frame_must_be_close():
    close = np.array([[0, 0], [1, 3]], dtype=np.uint64)
    assert _pairs_within(close, np.array(["1", "2"]), MAX_DISTANCE) == [(0, 1, 2)]
    one_far = np.array([[0, 0], [1, (1 << 40) - 1]], dtype=np.uint64)
    assert _pairs_within(one_far, np.array(["1", "2"]), MAX_DISTANCE) == []
    same_fold = np.array([[0, 0], [0, 0]], dtype=np.uint64)
    assert _pairs_within(same_fold, np.array(["1", "1"]), MAX_DISTANCE) == []
