"""The Tufts Face Database adapter (TD_IR_E thermal + TD_RGB_E visible expression sets), on small
hand-built folders (images written with cv2 in tmp_path)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from emobench.datasets.registry import dataset_names, get_adapter
from emobench.datasets.tufts import CLASSES, TuftsAdapter, participant_id
from emobench.errors import InputError

EXCLUDED = ("pose 3 (eyes closed)", "pose 5 (sunglasses)")


def image(path: Path, side: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((side, side, 3), 90, np.uint8))
    return path


def participant(
    root: Path,
    number: int | str,
    k: int,
    poses=(1, 2, 3, 4, 5),
    modalities=("IR", "RGB"),
    suffix=".jpg",
) -> None:
    for modality in modalities:
        for pose in poses:
            image(
                root / f"TD_{modality}_E_Set{k}" / str(number) / f"TD_{modality}_E_{pose}{suffix}"
            )


@pytest.fixture
def raw(tmp_path) -> Path:
    """Participants 1, 2 and 10 in Set1 and 26 in Set2, all five poses in both modalities."""
    root = tmp_path / "tufts"
    for number in (1, 2, 10):
        participant(root, number, 1)
    participant(root, 26, 2)
    return root


def by_id(skips) -> dict:
    return {s.sample_id: s for s in skips}


def test_registered() -> None:
    assert "tufts" in dataset_names()
    assert get_adapter("tufts") is TuftsAdapter
    assert CLASSES == ("Neutral", "Happiness", "Surprise")


def test_records_pairs_and_excluded_counts(raw) -> None:
    adapter = TuftsAdapter(raw)
    samples, skips = adapter.scan()
    assert skips == [] and adapter.notes == []
    assert [s.id for s in samples] == [
        f"{p}_{pose}" for p in ("1", "2", "10", "26") for pose in (1, 2, 4)
    ]
    s = samples[-1]
    assert s.subject == "26" and s.source == "tufts"
    assert dict(s.media) == {
        "visible_image": "TD_RGB_E_Set2/26/TD_RGB_E_4.jpg",
        "thermal_image": "TD_IR_E_Set2/26/TD_IR_E_4.jpg",
    }
    assert dict(s.labels) == {"expression": "Surprise"}
    assert dict(s.annotations) == {"capture": "26_4", "pool": "", "train_only": False}
    assert [x.labels["expression"] for x in samples[:3]] == ["Neutral", "Happiness", "Surprise"]
    assert adapter.excluded == {EXCLUDED[0]: 4, EXCLUDED[1]: 4}


def test_missing_partners_and_duplicates_are_listed_skips(raw) -> None:
    (raw / "TD_RGB_E_Set1/1/TD_RGB_E_2.jpg").unlink()
    (raw / "TD_IR_E_Set1/2/TD_IR_E_4.jpg").unlink()
    image(raw / "TD_IR_E_Set1/10/TD_IR_E_1.png")  # a second file for pose 1
    participant(raw, 40, 2, modalities=("IR",), poses=(1, 3))  # no visible folder at all
    adapter = TuftsAdapter(raw)
    samples, skips = adapter.scan()
    found = by_id(skips)
    assert found["1_2"].path == "TD_IR_E_Set1/1/TD_IR_E_2.jpg"
    assert "thermal image without its visible partner" in found["1_2"].reason
    assert found["2_4"].path == "TD_RGB_E_Set1/2/TD_RGB_E_4.jpg"
    assert "visible image without its thermal partner" in found["2_4"].reason
    assert found["10_1"].path == "TD_IR_E_Set1/10/TD_IR_E_1.jpg"
    assert "several files for pose 1" in found["10_1"].reason
    assert "TD_IR_E_Set1/10/TD_IR_E_1.png" in found["10_1"].reason
    assert found["40_1"].path == "TD_IR_E_Set2/40/TD_IR_E_1.jpg"
    assert len(skips) == 4 and len(samples) == 12 - 3
    assert adapter.excluded == {EXCLUDED[0]: 5, EXCLUDED[1]: 4}


def test_a_participant_under_two_sets_is_one_listed_skip(raw) -> None:
    participant(raw, 2, 2, modalities=("IR",))
    samples, skips = TuftsAdapter(raw).scan()
    assert [s.subject for s in samples].count("2") == 0
    assert len(samples) == 9
    (skip,) = skips
    assert skip.sample_id == "2" and skip.path == "TD_IR_E_Set2/2"
    assert "also in TD_IR_E_Set2/2 besides TD_IR_E_Set1/2" in skip.reason


def test_padded_numbers_any_case_suffixes_and_visible_sets_elsewhere(tmp_path) -> None:
    root = tmp_path / "tufts"
    participant(root, "07", 1, modalities=("IR",), suffix=".JPG")
    participant(root, 7, 3, modalities=("RGB",), suffix=".png")  # visible in another set
    samples, skips = TuftsAdapter(root).scan()
    assert skips == [] and [s.id for s in samples] == ["7_1", "7_2", "7_4"]
    assert samples[0].media["thermal_image"] == "TD_IR_E_Set1/07/TD_IR_E_1.JPG"
    assert samples[0].media["visible_image"] == "TD_RGB_E_Set3/7/TD_RGB_E_1.png"
    assert participant_id("007") == "7" and participant_id("p7") == "p7"


def test_unknown_files_are_ignored_and_counted_in_notes(raw) -> None:
    (raw / "TD_IR_E_Set1/1/Thumbs.db").write_bytes(b"x")
    image(raw / "TD_IR_E_Set1/1/TD_IR_E_6.jpg")  # no such pose
    image(raw / "TD_IR_E_Set1/1/TD_RGB_E_1.jpg")  # a visible name in a thermal set
    image(raw / "TD_IR_E_Set1/1/TD_IR_E_1.gif")
    (raw / "TD_IR_E_Set1/readme.txt").write_text("x")
    (raw / "TD_IR_E_Set1/1/.hidden").write_text("hidden files are not counted")
    image(raw / "TD_IR_A_Set1/1/TD_IR_A_0.jpg")
    adapter = TuftsAdapter(raw)
    samples, skips = adapter.scan()
    assert len(samples) == 12 and skips == []
    assert len(adapter.notes) == 2
    assert adapter.notes[0].startswith("ignored 5 file(s) or folder(s) in the E sets")
    assert adapter.notes[1] == "not read (not a TD_IR_E / TD_RGB_E set): TD_IR_A_Set1"


def test_zip_wrapper_folders_and_site_folders_are_read_through(tmp_path) -> None:
    root = tmp_path / "tufts"
    image(root / "TD_IR_E_Set1/TD_IR_E_Set1/5/TD_IR_E_1.jpg")
    image(root / "TD_RGB_E/TD_RGB_E_Set1/5/TD_RGB_E_1.jpg")
    samples, skips = TuftsAdapter(root).scan()
    assert skips == [] and [s.id for s in samples] == ["5_1"]
    assert dict(samples[0].media) == {
        "visible_image": "TD_RGB_E/TD_RGB_E_Set1/5/TD_RGB_E_1.jpg",
        "thermal_image": "TD_IR_E_Set1/TD_IR_E_Set1/5/TD_IR_E_1.jpg",
    }


def test_missing_sets_are_input_errors_naming_root_and_layout(tmp_path) -> None:
    root = tmp_path / "tufts"
    image(root / "TD_RGB_E_Set1/1/TD_RGB_E_1.jpg")
    with pytest.raises(InputError) as err:
        TuftsAdapter(root).scan()
    assert err.value.path == str(root)
    assert "no TD_IR_E_Set<k> folder" in err.value.problem
    assert "TD_IR_E_Set<k>/<participant>/TD_IR_E_<1..5>.jpg" in err.value.problem
    image(root / "TD_IR_E_Set1/1/TD_IR_E_1.jpg")
    (root / "TD_RGB_E_Set1/1/TD_RGB_E_1.jpg").unlink()
    (root / "TD_RGB_E_Set1/1").rmdir()
    (root / "TD_RGB_E_Set1").rmdir()
    with pytest.raises(InputError, match="no TD_RGB_E_Set<k> folder"):
        TuftsAdapter(root).scan()
    with pytest.raises(InputError, match="not found"):
        TuftsAdapter(tmp_path / "absent")


def test_order_never_depends_on_the_listing_order(raw, monkeypatch) -> None:
    participant(raw, 3, 1)
    first = TuftsAdapter(raw).scan()
    original = Path.iterdir
    monkeypatch.setattr(
        Path, "iterdir", lambda self: iter(sorted(original(self), key=str, reverse=True))
    )
    assert TuftsAdapter(raw).scan() == first
    assert [s.subject for s in first[0]][::3] == ["1", "2", "3", "10", "26"]


def test_source_digest_changes_when_a_file_changes_size(raw) -> None:
    adapter = TuftsAdapter(raw)
    samples, _ = adapter.scan()
    digest = adapter.source_digest(samples)
    assert len(digest) == 64 and digest == TuftsAdapter(raw).source_digest(samples)
    image(raw / "TD_IR_E_Set1/2/TD_IR_E_2.jpg", side=24)
    assert adapter.source_digest(samples) != digest
