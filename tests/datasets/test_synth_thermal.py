"""The paired visible/thermal miniatures (vt-pairs list layout, Tufts layout): layout, bytes
identical per seed, plausible temperatures, and the cue table showing in the rendered maps."""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from emobench.datasets.registry import get_synth
from emobench.datasets.synth import thermal_layer
from emobench.datasets.synth.face_renderer import Identity, Pose
from emobench.datasets.synth.thermal import (
    CAPTURES_PER_CLASS,
    CLASSES,
    GREY_SPAN,
    INTENSITY_RANGE,
    PAIRS_COLUMNS,
    TUFTS_POSES,
    TUFTS_THERMAL_SHAPE,
    TUFTS_VISIBLE_SHAPE,
    VT_SIZE,
    VtCapture,
    capture_face,
    centikelvin,
    grey_levels,
    render_vt_capture,
    vt_person,
    vt_stream,
    write_tufts_miniature,
    write_vt_pairs_miniature,
)
from emobench.datasets.synth.thermal_layer import (
    CUES,
    REGIONS,
    ThermalConditions,
    ThermalIdentity,
    capture_response,
    region_masks,
    render_thermal,
)
from emobench.errors import InputError
from emobench.prepare.thermal_images import read_thermal

SUBJECTS = 3


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _rows(root: Path) -> list[dict[str, str]]:
    with (root / "pairs.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _celsius(path: Path) -> np.ndarray:
    return read_thermal(path).values.astype(np.float64) * 0.01 - 273.15


def _regions(identity: Identity, aus: dict, size: int, pose: Pose, temps: np.ndarray) -> dict:
    """Weighted mean temperature of each cue region, the face's median and its warmest pixel."""
    masks = region_masks(identity, aus, size, pose=pose)
    face = masks["face"]
    out = {r: float((temps * masks[r] * face).sum() / (masks[r] * face).sum()) for r in REGIONS}
    out["face"] = float(np.median(temps[face]))
    out["warmest"] = float(temps[face].max())
    return out


def _capture_geometry(seed: int, subject: int, label: str, k: int) -> tuple[Identity, dict, Pose]:
    """Identity, action units and pose of a vt-pairs capture, as the writer draws them."""
    identity, _ = vt_person(seed, subject)
    aus, pose = capture_face(label, vt_stream(seed, VtCapture(subject, label, k)))
    return identity, aus, pose


@pytest.fixture(scope="module")
def vt_worlds(tmp_path_factory) -> dict[str, tuple[Path, dict, list]]:
    base = tmp_path_factory.mktemp("vt-synth")
    out = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        calls: list[tuple[int, int]] = []
        root = base / name / "raw"
        summary = write_vt_pairs_miniature(
            root, seed=seed, subjects=SUBJECTS, progress=lambda d, t, c=calls: c.append((d, t))
        )
        out[name] = (root, summary, calls)
    return out


@pytest.fixture(scope="module")
def tufts_worlds(tmp_path_factory) -> dict[str, tuple[Path, dict, list]]:
    base = tmp_path_factory.mktemp("tufts-synth")
    out = {}
    for name in ("a", "b"):
        calls: list[tuple[int, int]] = []
        root = base / name / "raw"
        summary = write_tufts_miniature(
            root,
            seed=0,
            participants=4,
            set_size=3,
            progress=lambda d, t, c=calls: c.append((d, t)),
        )
        out[name] = (root, summary, calls)
    return out


def test_registered() -> None:
    assert get_synth("vt-pairs") is write_vt_pairs_miniature
    assert get_synth("thermal") is write_vt_pairs_miniature  # `emobench synth thermal`
    assert get_synth("tufts") is write_tufts_miniature


# ----------------------------------------------------------------------------------------------
# vt-pairs.


def test_vt_pairs_layout(vt_worlds) -> None:
    root, summary, calls = vt_worlds["a"]
    rows = _rows(root)
    assert tuple(rows[0]) == PAIRS_COLUMNS
    n = SUBJECTS * len(CLASSES) * CAPTURES_PER_CLASS
    assert len(rows) == summary["n_captures"] == n
    assert calls == [(i, n) for i in range(1, n + 1)]
    assert {r["subject"] for r in rows} == {f"s{i:02d}" for i in range(1, SUBJECTS + 1)}
    assert Counter(r["label"] for r in rows) == {c: SUBJECTS * CAPTURES_PER_CLASS for c in CLASSES}
    assert len({r["capture"] for r in rows}) == n
    for r in rows:
        assert re.fullmatch(rf"{r['subject']}_{r['label']}_[12]", r["capture"])
        assert r["visible"] == f"visible/{r['subject']}/{r['capture']}.png"
        assert r["thermal"] == f"thermal/{r['subject']}/{r['capture']}.png"
    visible = cv2.imread(str(root / rows[0]["visible"]), cv2.IMREAD_UNCHANGED)
    assert visible.shape == (VT_SIZE, VT_SIZE, 3) and visible.dtype == np.uint8
    thermal = cv2.imread(str(root / rows[0]["thermal"]), cv2.IMREAD_UNCHANGED)
    assert thermal.shape == (VT_SIZE, VT_SIZE) and thermal.dtype == np.uint16
    assert read_thermal(root / rows[0]["thermal"]).source == "16-bit counts"
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    expected = sorted(["pairs.csv"] + [r["visible"] for r in rows] + [r["thermal"] for r in rows])
    assert files == expected
    assert not list(root.parent.glob(".*partial"))


def test_vt_pairs_bytes_identical_per_seed(vt_worlds) -> None:
    a, b, c = (_digests(vt_worlds[k][0]) for k in "abc")
    assert a == b
    assert a.keys() == c.keys() and a["pairs.csv"] == c["pairs.csv"]
    assert sum(a[k] != c[k] for k in a) > 0.9 * len(a)  # another seed: other images


def test_full_world_is_written(emobench_home) -> None:
    """The default miniature (the session's, as `emobench synth thermal` writes it, shared with
    the tests that prepare it): 40 subjects × 7 classes × 2 paired captures."""
    from emobench.miniature import miniature_raw

    rows = _rows(miniature_raw("vt-pairs"))
    assert len(rows) == 560
    assert {r["subject"] for r in rows} == {f"s{i:02d}" for i in range(1, 41)}
    assert {r["label"] for r in rows} == set(CLASSES)


def test_thermal_counts_decode_to_plausible_celsius(vt_worlds) -> None:
    root, _, _ = vt_worlds["a"]
    for r in _rows(root):
        temps = _celsius(root / r["thermal"])
        identity, aus, pose = _capture_geometry(
            0, int(r["subject"][1:]), r["label"], int(r["capture"][-1])
        )
        got = _regions(identity, aus, VT_SIZE, pose, temps)
        assert 32.0 <= got["face"] <= 35.5, r["capture"]
        assert 33.5 <= got["warmest"] <= 37.0, r["capture"]  # inner canthi, open mouth
        assert got["nose_tip"] < got["periorbital"] - 0.5, r["capture"]
        assert 21.0 <= float(np.median(temps[:4, :4])) <= 26.0  # the wall: room temperature


def test_centikelvin_and_grey_mappings() -> None:
    np.testing.assert_array_equal(centikelvin(np.array([0.0, 33.5, -273.15])), [27315, 30665, 0])
    lo, hi = GREY_SPAN
    np.testing.assert_array_equal(
        grey_levels(np.array([lo - 5, lo, 30.0, hi, hi + 5])), [0, 0, 128, 255, 255]
    )


def test_visible_intensity_varies_per_capture() -> None:
    intensities = set()
    for k in (1, 2):
        for s in range(1, 6):
            identity, aus, _ = _capture_geometry(0, s, "Fear", k)
            intensities.add(round(aus["AU5"], 3))
    assert len(intensities) == 10
    assert min(intensities) >= INTENSITY_RANGE[0] - 1e-9 and max(intensities) <= INTENSITY_RANGE[1]


# ----------------------------------------------------------------------------------------------
# The cue table.


def test_cue_table_in_docstring_is_the_code() -> None:
    """The module docstring's table (the design document) and ``CUES`` agree, and the changes
    are modest (at most 1 K)."""
    doc = thermal_layer.__doc__
    assert set(CUES) == set(CLASSES)
    for emotion, cues in CUES.items():
        line = next(x for x in doc.splitlines() if x.startswith(emotion + " "))
        values = [float(v.replace("−", "-")) for v in line.split()[1:]]
        assert values == [cues.get(r, 0.0) for r in REGIONS], emotion
        assert all(abs(v) <= 1.0 for v in values)
    assert not CUES["Neutral"]


@pytest.mark.parametrize(
    ("emotion", "region"),
    [(e, r) for e, cues in CUES.items() for r, v in cues.items() if abs(v) >= 0.2],
)
def test_each_cue_shows_in_its_region(emotion, region) -> None:
    """One face, no noise, no fluctuation: adding the cue changes its region's temperature in
    the cue's direction by a good part of its size."""
    identity = Identity()
    rng = np.random.default_rng(0)
    still = ThermalConditions(netd=0.0)
    base = render_thermal(identity, ThermalIdentity(), {}, VT_SIZE, rng, conditions=still)
    cue = CUES[emotion][region]
    shown = render_thermal(
        identity, ThermalIdentity(), {}, VT_SIZE, rng, conditions=still, response={region: cue}
    )
    pose = Pose()
    change = _regions(identity, {}, VT_SIZE, pose, shown)[region]
    change -= _regions(identity, {}, VT_SIZE, pose, base)[region]
    assert np.sign(change) == np.sign(cue) and abs(change) >= 0.4 * abs(cue)


def test_fear_cools_the_nose_tip_of_the_same_subject() -> None:
    """Twelve Fear and twelve Neutral captures of one subject, drawn as the writer draws them:
    the mean nose-tip temperature of Fear is below Neutral's (the cue: −0.8 K)."""
    seed, subject = 0, 7
    identity, thermal = vt_person(seed, subject)
    nose = {}
    for label in ("Fear", "Neutral"):
        values = []
        for k in range(1, 13):
            stream = vt_stream(seed, VtCapture(subject, label, k))
            _, temps = render_vt_capture(identity, thermal, label, stream)
            aus, pose = capture_face(label, stream)
            values.append(_regions(identity, aus, VT_SIZE, pose, temps)["nose_tip"])
        nose[label] = float(np.mean(values))
    assert nose["Fear"] < nose["Neutral"]


def test_fear_cools_the_nose_tip_in_the_written_world(vt_worlds) -> None:
    """In the written files, over every subject: Fear's nose tip is cooler than Neutral's
    relative to the rest of the face."""
    root, _, _ = vt_worlds["a"]
    nose = {"Fear": [], "Neutral": []}
    for r in _rows(root):
        if r["label"] in nose:
            identity, aus, pose = _capture_geometry(
                0, int(r["subject"][1:]), r["label"], int(r["capture"][-1])
            )
            got = _regions(identity, aus, VT_SIZE, pose, _celsius(root / r["thermal"]))
            nose[r["label"]].append(got["nose_tip"] - got["face"])
    assert np.mean(nose["Fear"]) < np.mean(nose["Neutral"])


def test_response_varies_per_capture_and_subject() -> None:
    rng = np.random.default_rng(0)
    people = [ThermalIdentity.sample(rng) for _ in range(20)]
    nose = [capture_response("Fear", p, rng)["nose_tip"] for p in people for _ in range(5)]
    assert max(nose) <= 0.0 and np.std(nose) > 0.15  # always a cooling, of varying size
    assert capture_response("Neutral", people[0], rng) == dict.fromkeys(REGIONS, 0.0)
    weak = capture_response("Fear", ThermalIdentity(), np.random.default_rng(1), scale=0.5)
    full = capture_response("Fear", ThermalIdentity(), np.random.default_rng(1))
    assert weak["nose_tip"] == pytest.approx(0.5 * full["nose_tip"])


# ----------------------------------------------------------------------------------------------
# Tufts.


def test_tufts_layout(tufts_worlds) -> None:
    root, summary, calls = tufts_worlds["a"]
    assert calls == [(i, 20) for i in range(1, 21)]
    assert summary["n_captures"] == 20 and summary["n_sets"] == 2
    sets = {1: ["1", "2", "3"], 2: ["4"]}
    for k, participants in sets.items():
        for kind in ("IR", "RGB"):
            folder = root / f"TD_{kind}_E_Set{k}"
            assert sorted(p.name for p in folder.iterdir()) == participants
            for p in participants:
                names = sorted(f.name for f in (folder / p).iterdir())
                assert names == [f"TD_{kind}_E_{i}.jpg" for i in range(1, 6)]
    thermal = cv2.imread(str(root / "TD_IR_E_Set1/1/TD_IR_E_1.jpg"), cv2.IMREAD_UNCHANGED)
    assert thermal.shape == TUFTS_THERMAL_SHAPE and thermal.dtype == np.uint8
    visible = cv2.imread(str(root / "TD_RGB_E_Set2/4/TD_RGB_E_2.jpg"), cv2.IMREAD_UNCHANGED)
    assert visible.shape == (*TUFTS_VISIBLE_SHAPE, 3)
    reading = read_thermal(root / "TD_IR_E_Set1/1/TD_IR_E_1.jpg")
    assert reading.source == "8-bit grey"
    celsius = GREY_SPAN[0] + reading.values / 255.0 * (GREY_SPAN[1] - GREY_SPAN[0])
    rows, cols = TUFTS_THERMAL_SHAPE
    centre = celsius[rows // 3 : 2 * rows // 3, cols // 3 : 2 * cols // 3]
    assert 31.0 <= float(np.median(centre)) <= 36.0
    assert [p.index for p in TUFTS_POSES] == [1, 2, 3, 4, 5]


def test_tufts_bytes_identical_per_seed(tufts_worlds) -> None:
    assert _digests(tufts_worlds["a"][0]) == _digests(tufts_worlds["b"][0])


def test_tufts_sunglasses_are_cool_and_dark(tufts_worlds) -> None:
    """Pose 5's lenses: in thermal cooler than the eyes of pose 1 (glass is opaque to LWIR), in
    visible darker."""
    root, _, _ = tufts_worlds["a"]
    rows, cols = TUFTS_THERMAL_SHAPE
    band = slice(int(rows * 0.3), int(rows * 0.5))
    middle = slice(int(cols * 0.3), int(cols * 0.7))
    ir = {i: cv2.imread(str(root / f"TD_IR_E_Set1/2/TD_IR_E_{i}.jpg"), 0) for i in (1, 5)}
    assert ir[5][band, middle].astype(float).min() < ir[1][band, middle].astype(float).min() - 20
    rgb = {i: cv2.imread(str(root / f"TD_RGB_E_Set1/2/TD_RGB_E_{i}.jpg"), 0) for i in (1, 5)}
    v_rows, v_cols = TUFTS_VISIBLE_SHAPE
    v_band, v_middle = (
        slice(int(v_rows * 0.3), int(v_rows * 0.5)),
        slice(v_cols // 3, 2 * v_cols // 3),
    )
    dark = lambda img: float(np.mean(img[v_band, v_middle] < 50))  # noqa: E731
    assert dark(rgb[5]) > dark(rgb[1]) + 0.1


# ----------------------------------------------------------------------------------------------
# Refusals.


@pytest.mark.parametrize("writer", [write_vt_pairs_miniature, write_tufts_miniature])
def test_refuses_a_non_empty_out(tmp_path, writer) -> None:
    out = tmp_path / "raw"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty") as caught:
        writer(out)
    assert caught.value.path == str(out)
    assert (out / "keep.txt").read_text() == "mine"
    file_out = tmp_path / "file"
    file_out.write_text("x")
    with pytest.raises(InputError):
        writer(file_out)
