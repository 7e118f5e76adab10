"""The visible/thermal track end to end on small real packs: the unpairing audit (Part 3 of
the issue's acceptance), what the engine lets training and testing read, and pools."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pandas as pd
import pytest

from emobench.api import info, verify
from emobench.datasets.synth.thermal import write_vt_pairs_miniature
from emobench.engine.checks import check_fit, check_test_rows, rows_holding
from emobench.engine.data import PackDataset, training_presence
from emobench.engine.training import TrainedEvaluator
from emobench.errors import ProtocolError
from emobench.pack import Pack, flag_column
from emobench.prepare.pipeline import prepare_dataset
from emobench.prepare.unpair import unpairing_audit
from emobench.protocols import load_protocol

SUBJECTS = 10


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vt") / "raw"
    write_vt_pairs_miniature(out, seed=0, subjects=SUBJECTS)
    return out


def _prepare(raw: Path, out: Path, **options) -> Pack:
    prepare_dataset("vt-pairs", raw, out, options=options)
    return Pack(out)


@pytest.fixture(scope="module")
def unpaired(raw, tmp_path_factory) -> Pack:
    out = tmp_path_factory.mktemp("packs") / "r0.h5"
    return _prepare(raw, out, unpair="by-subject", pairing_ratio=0.0, seed=0)


def test_r0_audit_no_capture_and_no_subject_straddles(unpaired):
    samples = unpaired.samples
    train_v = flag_column(samples["train_visible"])
    train_t = flag_column(samples["train_thermal"])
    assert not (train_v & train_t).any()  # no capture gives both its images to training
    assert not set(samples["subject"][train_v]) & set(samples["subject"][train_t])
    assert train_v.any() and train_t.any()
    role = samples["unpair_role"].to_numpy()
    # a visible-role subject's thermal images are not in the pack at all
    assert not unpaired.present("thermal")[role == "visible"].any()
    assert unpaired.present("visible").all()  # every subject can be tested on visible
    lines, problems = unpairing_audit(unpaired, unpaired.steps["unpair"])
    assert problems == []
    assert any("subjects on both sides: 0" in line for line in lines)


def test_info_prints_and_verify_rechecks_the_audit(unpaired):
    assert (
        "subjects: 10 — 0 both, 5 visible only, 5 thermal only"
        in info(unpaired.path)["audits"]["unpair"]
    )
    assert verify(unpaired.path).problems == []


def _fake(pack: Pack, **columns) -> SimpleNamespace:
    samples = pack.samples.copy()
    for name, values in columns.items():
        samples[name] = values
    return SimpleNamespace(
        path=pack.path, samples=samples, present=pack.present, keys=pack.keys, hash_of=pack.hash_of
    )


def test_audit_catches_a_straddling_capture_and_a_mixed_subject(unpaired):
    settings = unpaired.steps["unpair"]
    flags = unpaired.samples["train_thermal"].copy()
    holder = int(np.flatnonzero(unpaired.samples["unpair_role"] == "thermal")[0])
    train_v = unpaired.samples["train_visible"].copy()
    train_v.iloc[holder] = "True"
    _, problems = unpairing_audit(_fake(unpaired, train_visible=train_v), settings)
    assert any("train on visible against their role" in p for p in problems)
    roles = unpaired.samples["unpair_role"].copy()
    roles.iloc[holder] = "both"
    _, problems = unpairing_audit(
        _fake(unpaired, unpair_role=roles, train_visible=train_v, train_thermal=flags), settings
    )
    assert any("more than one training role" in p for p in problems)
    assert any("pairing ratio 0, yet 1 capture(s)" in p for p in problems)


def test_test_and_validation_rows_are_read_visible_only(unpaired):
    protocol = load_protocol("vt-unpaired")
    assert protocol.testing_inputs == ("visible",)
    entry = check_fit(protocol, "umfer", unpaired)
    assert entry.reads_at_test == ("visible",)
    positions, _ = protocol.targets(unpaired.samples)
    folds = protocol.folds(unpaired.samples, positions)
    check_test_rows(protocol, "umfer", unpaired, folds)
    subjects = unpaired.samples["subject"].to_numpy()
    tested = [set(subjects[f.test]) for f in folds]
    assert sum(len(t) for t in tested) == len(set().union(*tested))  # no subject in two folds
    for fold in folds:  # nor in two parts of one fold
        parts = [set(subjects[getattr(fold, p)]) for p in ("train", "validation", "test")]
        assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]


def test_a_model_reading_thermal_at_test_is_refused_on_a_visible_only_protocol(unpaired):
    with pytest.raises(ProtocolError, match=r"at test time.*missing \['thermal'\]"):
        check_fit(load_protocol("vt-unpaired"), "thermal-only", unpaired)


def test_a_pack_unpaired_otherwise_is_refused_with_the_fix(unpaired):
    with pytest.raises(ProtocolError, match="--pairing-ratio 1.0"):
        check_fit(load_protocol("vt-paired"), "thermal-privileged", unpaired)


def test_thermal_test_rows_must_hold_thermal(unpaired):
    protocol = load_protocol("vt-thermal")
    positions, _ = protocol.targets(unpaired.samples)
    folds = protocol.folds(unpaired.samples, positions)
    with pytest.raises(ProtocolError, match="lack the 'thermal' input"):
        check_test_rows(protocol, "thermal-only", unpaired, folds)


def test_training_reads_only_what_the_flags_allow(unpaired):
    train_v = training_presence(unpaired, "visible")
    assert train_v.sum() == flag_column(unpaired.samples["train_visible"]).sum() < len(unpaired)
    everything = np.arange(len(unpaired))
    kept = rows_holding(unpaired, everything, ("visible",))
    assert set(kept) == set(np.flatnonzero(train_v))
    both = rows_holding(unpaired, everything, ("visible", "thermal"))
    assert len(both) == len(unpaired)
    targets = np.zeros(len(both), dtype=np.int64)
    data = PackDataset(unpaired, both, ("visible", "thermal"), targets, training=True)
    items = [data[i] for i in range(len(data))]
    assert not any(bool(x["visible_present"]) and bool(x["thermal_present"]) for x in items)
    tested = PackDataset(unpaired, both, ("visible",), targets)  # at test: every visible
    assert "visible_present" not in tested[0]


def test_visible_only_trains_on_the_visible_role_rows_alone(unpaired):
    record, _ = TrainedEvaluator().run(
        load_protocol("vt-unpaired"),
        "visible-only",
        unpaired,
        folds=[1],
        epochs=1,
        overrides={"width": 4, "input_size": 32, "hidden": 16},
    )
    protocol = load_protocol("vt-unpaired")
    positions, _ = protocol.targets(unpaired.samples)
    fold = protocol.folds(unpaired.samples, positions)[0]
    allowed = flag_column(unpaired.samples["train_visible"])[fold.train].sum()
    assert record["folds"][0]["n_train"] == allowed < len(fold.train)
    assert record["model"]["inputs"] == {"train": ["visible"], "test": ["visible"]}


def test_thermal_is_stored_as_one_float_channel_with_its_conversion(raw, tmp_path):
    pack = _prepare(raw, tmp_path / "c.h5", thermal_scale=0.01, thermal_offset=-273.15)
    image = pack.get("thermal/image", 0)
    assert image.dtype == np.float32 and image.shape == (1, 64, 64, 1)
    assert 15.0 < float(np.median(image)) < 40.0  # centikelvin → °C
    assert pack.samples["thermal_source"].iloc[0] == "16-bit counts"
    assert "× 0.01 + -273.15" in pack.samples["thermal_unit"].iloc[0]
    assert "0.01" in pack.array_attrs("thermal/image")["conversion"]
    assert "unpair" in pack.steps and pack.steps["unpair"]["unpair"] == "none"


def _pooled_copy(raw: Path, tmp_path: Path, copy_a_capture: bool) -> Path:
    src = tmp_path / "raw"
    shutil.copytree(raw, src)
    pool = src / "pools" / "thermal" / "Fear"
    pool.mkdir(parents=True)
    first = pd.read_csv(src / "pairs.csv").iloc[0]
    counts = cv2.imread(str(src / first["thermal"]), cv2.IMREAD_UNCHANGED)
    for k in range(3):
        image = counts if copy_a_capture else np.roll(counts, 5 * (k + 1), axis=1)
        cv2.imwrite(str(pool / f"extra{k}.png"), image)
    return src


def test_pool_images_train_but_are_never_tested(raw, tmp_path):
    src = _pooled_copy(raw, tmp_path, copy_a_capture=False)
    pack = _prepare(src, tmp_path / "pool.h5", unpair="by-subject", pairing_ratio=1.0)
    pooled = flag_column(pack.samples["train_only"])
    assert pooled.sum() == 3
    assert (pack.samples["unpair_role"][pooled] == "thermal").all()
    protocol = load_protocol("vt-paired")
    positions, _ = protocol.targets(pack.samples)
    folds = protocol.folds(pack.samples, positions)
    check_test_rows(protocol, "umfer", pack, folds)
    for fold in folds:
        assert set(np.flatnonzero(pooled)) <= set(fold.train)
    assert verify(pack.path).problems == []


def test_a_pool_image_copied_from_a_capture_fails_verify(raw, tmp_path):
    src = _pooled_copy(raw, tmp_path, copy_a_capture=True)
    pack = _prepare(src, tmp_path / "copied.h5", unpair="by-subject", pairing_ratio=1.0)
    (problem,) = verify(pack.path).problems
    assert "3 pool image(s) are a capture's thermal image" in problem


def test_a_file_named_by_two_rows_is_skipped_for_both(raw, tmp_path):
    src = tmp_path / "raw"
    shutil.copytree(raw, src)
    table = pd.read_csv(src / "pairs.csv", dtype=str)
    table.loc[1, "visible"] = table.loc[0, "visible"]
    table.to_csv(src / "pairs.csv", index=False)
    report = prepare_dataset("vt-pairs", src, tmp_path / "twice.h5")
    skipped = {s.sample_id for s in report.skipped}
    assert skipped == {table.loc[0, "capture"], table.loc[1, "capture"]}
    assert all("the same file is named by" in s.reason for s in report.skipped)


def test_a_colour_thermal_image_needs_its_palette(raw, tmp_path):
    src = tmp_path / "raw"
    shutil.copytree(raw, src)
    first = pd.read_csv(src / "pairs.csv").iloc[0]
    counts = cv2.imread(str(src / first["thermal"]), cv2.IMREAD_UNCHANGED)
    grey = cv2.normalize(counts, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    cv2.imwrite(str(src / first["thermal"]), cv2.applyColorMap(grey, cv2.COLORMAP_INFERNO))
    report = prepare_dataset("vt-pairs", src, tmp_path / "p.h5")
    assert [s.sample_id for s in report.skipped] == [first["capture"]]
    assert "--thermal-palette" in report.skipped[0].reason
    report = prepare_dataset(
        "vt-pairs", src, tmp_path / "q.h5", options={"thermal_palette": "inferno"}
    )
    assert report.skipped == []
    assert "palette inferno" in set(Pack(tmp_path / "q.h5").samples["thermal_source"])
