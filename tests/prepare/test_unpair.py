"""The unpairing step's role assignment (the pack-level audit is tested on real packs in
tests/prepare/test_thermal_track.py)."""

import pytest

from emobench.datasets.sample import Sample
from emobench.errors import EmobenchError
from emobench.prepare.unpair import UnpairSettings, UnpairStep, subject_roles


def _captures(n_subjects: int, per_subject: int = 3) -> list[Sample]:
    return [
        Sample(
            f"s{s:02d}_{k}",
            f"s{s:02d}",
            "vt-pairs",
            {"visible_image": f"v/{s}_{k}.png", "thermal_image": f"t/{s}_{k}.png"},
            {"expression": "Neutral"},
            {"capture": f"s{s:02d}_{k}", "pool": "", "train_only": False},
        )
        for s in range(n_subjects)
        for k in range(per_subject)
    ]


@pytest.mark.parametrize("ratio, both", [(0.0, 0), (0.5, 20), (1.0, 40), (0.26, 10)])
def test_roles_share_and_halves(ratio, both):
    roles = subject_roles([f"s{i}" for i in range(40)], ratio, seed=3)
    counts = {r: sum(1 for v in roles.values() if v == r) for r in ("both", "visible", "thermal")}
    assert counts["both"] == both
    assert abs(counts["visible"] - counts["thermal"]) <= 1
    assert subject_roles([f"s{i}" for i in range(40)], ratio, seed=3) == roles  # seeded


def test_seed_changes_roles():
    subjects = [f"s{i}" for i in range(40)]
    assert subject_roles(subjects, 0.0, 0) != subject_roles(subjects, 0.0, 1)


def test_r0_no_capture_and_no_subject_on_both_sides():
    out = UnpairStep().assign(_captures(40), UnpairSettings("by-subject", 0.0, 0))
    by_subject: dict[str, set[str]] = {}
    for s in out:
        a = s.annotations
        assert not (a["train_visible"] and a["train_thermal"])
        by_subject.setdefault(s.subject, set()).add(a["unpair_role"])
    assert all(len(roles) == 1 for roles in by_subject.values())
    visible = {s.subject for s in out if s.annotations["train_visible"]}
    thermal = {s.subject for s in out if s.annotations["train_thermal"]}
    assert visible and thermal and not visible & thermal


def test_pool_rows_keep_their_one_modality():
    pool = Sample(
        "pool-thermal-Fear-a",
        "pool-thermal-Fear-a",
        "vt-pairs",
        {"thermal_image": "pools/thermal/Fear/a.png"},
        {"expression": "Fear"},
        {"capture": "", "pool": "thermal", "train_only": True},
    )
    out = UnpairStep().assign([*_captures(4), pool], UnpairSettings("by-subject", 1.0, 0))
    assert out[-1].annotations["unpair_role"] == "thermal"
    assert out[-1].annotations["train_visible"] is False
    assert all(s.annotations["unpair_role"] == "both" for s in out[:-1])


def test_not_unpaired_leaves_samples_alone_and_refuses_a_lone_ratio():
    samples = _captures(2)
    assert UnpairStep().assign(samples, UnpairSettings()) == samples
    with pytest.raises(EmobenchError, match="--pairing-ratio need"):
        UnpairStep().assign(samples, UnpairSettings("none", 0.5, 0))
    with pytest.raises(EmobenchError, match="--seed need"):
        UnpairStep().assign(samples, UnpairSettings("none", 0.0, 3))


def test_ratio_out_of_range_is_named():
    with pytest.raises(EmobenchError, match="--pairing-ratio must be at most 1.0"):
        UnpairSettings("by-subject", 1.5, 0)
    with pytest.raises(EmobenchError, match="--pairing-ratio must be at least 0.0"):
        UnpairSettings("by-subject", -0.1, 0)


def test_unpairing_needs_pairs():
    lone = [Sample("a", "s", "vt-pairs", {"visible_image": "a.png"}, {}, {"pool": ""})]
    with pytest.raises(EmobenchError, match="needs paired captures"):
        UnpairStep().assign(lone, UnpairSettings("by-subject", 0.0, 0))


def test_a_one_camera_capture_follows_its_subjects_role():
    samples = _captures(6, per_subject=1)
    one_camera = Sample(
        "s00_extra", "s00", "vt-pairs", {"visible_image": "v/extra.png"}, {}, {"pool": ""}
    )
    out = UnpairStep().assign([*samples, one_camera], UnpairSettings("by-subject", 0.0, 0))
    role = next(s.annotations["unpair_role"] for s in out if s.subject == "s00")
    extra = out[-1].annotations
    assert extra["unpair_role"] == role
    assert extra["train_visible"] == (role == "visible") and extra["train_thermal"] is False


def test_variant_names_the_unpairing():
    assert UnpairStep().variant(UnpairSettings("by-subject", 0.5, 2)) == {
        "unpair": "by-subject",
        "r": 0.5,
        "seed": 2,
    }
    assert UnpairStep().variant(UnpairSettings()) == {}
