"""The EmoReact adapter on a small synthesised release and on damaged copies of it: pairing by
names-file order, quotes and trailing blank lines, and named errors or listed skips."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from emobench.datasets.emoreact import EMOTIONS, RELEASE, EmoReactAdapter, subject_of
from emobench.datasets.registry import get_adapter
from emobench.datasets.synth.emoreact import plan_emoreact, write_emoreact_miniature
from emobench.errors import InputError

SMALL = {"subjects": 6, "clips_per_subject": 2}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("emoreact") / "raw"
    write_emoreact_miniature(root, seed=3, **SMALL)
    return root


@pytest.fixture
def copy(world, tmp_path) -> Path:
    dst = tmp_path / "raw"
    shutil.copytree(world, dst)
    return dst


def labels_dir(root: Path) -> Path:
    return root / RELEASE / "Labels"


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_registered_and_scans_every_clip(world):
    assert get_adapter("emoreact") is EmoReactAdapter
    assert EmoReactAdapter.default_frames == 10
    samples, skips = EmoReactAdapter(world).scan()
    assert skips == []
    plan = {c.name: c for child in plan_emoreact(3, **SMALL) for c in child.clips}
    assert {s.id for s in samples} == set(plan)
    for s in samples:
        clip = plan[s.id]
        assert s.source == "emoreact"
        assert s.subject == s.id.rsplit("_", 1)[0]
        assert s.annotations["partition"] == clip.split
        folder = {"train": "Train", "validation": "Validation", "test": "Test"}[clip.split]
        assert s.media == {"person_video": f"{RELEASE}/Data/{folder}/{s.id}.mp4"}
        assert (world / s.media["person_video"]).is_file()
        assert tuple(s.labels[e] for e in EMOTIONS) == clip.labels
        assert all(type(s.labels[e]) is int for e in EMOTIONS)
        assert s.labels["valence"] == pytest.approx(clip.valence)
    # children never cross splits
    split_of = {}
    for s in samples:
        assert (
            split_of.setdefault(s.subject, s.annotations["partition"])
            == (s.annotations["partition"])
        )


def test_src_may_be_the_release_folder_itself(world):
    outer, _ = EmoReactAdapter(world).scan()
    inner, skips = EmoReactAdapter(world / RELEASE).scan()
    assert skips == []
    assert [s.labels for s in inner] == [s.labels for s in outer]
    assert inner[0].media["person_video"].startswith("Data/")
    assert (world / RELEASE / inner[0].media["person_video"]).is_file()


def test_subject_is_the_stem_without_its_clip_number():
    assert subject_of("80sTOYS105_2") == "80sTOYS105"
    assert subject_of("Gay_Marriage142_2") == "Gay_Marriage142"
    assert subject_of("KIMCHI72") == "KIMCHI72"


def test_pairing_follows_the_names_file_order_not_the_folder(copy):
    """Swapping two names (and nothing else) swaps those two clips' labels."""
    names = labels_dir(copy) / "Train_names.txt"
    label_lines = lines(labels_dir(copy) / "train_labels.text")
    entries = lines(names)
    pick = next(j for j in range(1, len(label_lines)) if label_lines[j] != label_lines[0])
    before = {s.id: dict(s.labels) for s in EmoReactAdapter(copy).scan()[0]}
    a, b = entries[0].strip("'")[:-4], entries[pick].strip("'")[:-4]
    entries[0], entries[pick] = entries[pick], entries[0]
    names.write_text("\n".join(entries) + "\n", encoding="utf-8")
    after = {s.id: dict(s.labels) for s in EmoReactAdapter(copy).scan()[0]}
    assert before[a] != before[b]
    assert after[a] == before[b] and after[b] == before[a]
    assert {k: v for k, v in after.items() if k not in (a, b)} == {
        k: v for k, v in before.items() if k not in (a, b)
    }
    # the names file is not in sorted (listdir-like) order to begin with
    assert entries != sorted(entries)


def test_quotes_and_trailing_blank_lines_are_tolerated(copy):
    names = labels_dir(copy) / "Val_names.txt"
    entries = [e.strip("'") for e in lines(names) if e]
    styles = [f'"{entries[0]}"', *entries[1:]]  # double quotes, bare names
    names.write_text("\n".join(styles) + "\n\n\n", encoding="utf-8")
    labels = labels_dir(copy) / "val_labels.text"
    labels.write_text(labels.read_text() + "\n  \n", encoding="utf-8")
    samples, skips = EmoReactAdapter(copy).scan()
    assert skips == []
    assert sum(s.annotations["partition"] == "validation" for s in samples) == len(entries)


def test_count_mismatch_names_both_files_and_counts(copy):
    labels = labels_dir(copy) / "test_labels.text"
    kept = lines(labels)[:-1]
    labels.write_text("\n".join(kept) + "\n", encoding="utf-8")
    n_names = len([e for e in lines(labels_dir(copy) / "Test_names.txt") if e])
    with pytest.raises(InputError) as err:
        EmoReactAdapter(copy).scan()
    message = str(err.value)
    assert "test_labels.text" in message and "Test_names.txt" in message
    assert f"{len(kept)} label lines" in message and f"lists {n_names} names" in message


def test_names_that_are_not_mp4_are_an_error(copy):
    names = labels_dir(copy) / "Train_names.txt"
    entries = lines(names)
    entries[1] = entries[1].replace(".mp4", ".avi")
    names.write_text("\n".join(entries) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"Train_names.txt: line 2: .* is not a \.mp4 file name"):
        EmoReactAdapter(copy).scan()


def test_a_blank_line_between_entries_is_an_error(copy):
    labels = labels_dir(copy) / "train_labels.text"
    rows = lines(labels)
    labels.write_text("\n".join([rows[0], "", *rows[1:]]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="train_labels.text: line 2 is blank"):
        EmoReactAdapter(copy).scan()


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        (2, "2", "excitement value '2' is not 0 or 1"),
        (0, "yes", "curiosity value 'yes' is not 0 or 1"),
        (8, "7.5", "valence 7.5 is outside 1..7"),
        (8, "0", "valence 0 is outside 1..7"),
        (8, "nan", "valence nan is outside 1..7"),
    ],
)
def test_bad_values_are_listed_skips_naming_file_and_line(copy, column, value, reason):
    labels = labels_dir(copy) / "val_labels.text"
    rows = lines(labels)
    fields = rows[1].split(",")
    fields[column] = value
    rows[1] = ",".join(fields)
    labels.write_text("\n".join(rows) + "\n", encoding="utf-8")
    victim = lines(labels_dir(copy) / "Val_names.txt")[1].strip("'")[:-4]
    samples, skips = EmoReactAdapter(copy).scan()
    assert [(k.sample_id, k.path, k.reason) for k in skips] == [
        (victim, f"{RELEASE}/Labels/val_labels.text", f"line 2: {reason}")
    ]
    assert victim not in {s.id for s in samples}


def test_wrong_number_of_values_is_a_skip(copy):
    labels = labels_dir(copy) / "train_labels.text"
    rows = lines(labels)
    rows[0] = ",".join(rows[0].split(",")[:-1])
    labels.write_text("\n".join(rows) + "\n", encoding="utf-8")
    _, skips = EmoReactAdapter(copy).scan()
    assert len(skips) == 1 and "line 1: expected 9 comma-separated values" in skips[0].reason


def test_missing_video_is_a_listed_skip(copy):
    first = lines(labels_dir(copy) / "Test_names.txt")[0].strip("'")
    (copy / RELEASE / "Data" / "Test" / first).unlink()
    samples, skips = EmoReactAdapter(copy).scan()
    assert len(skips) == 1
    assert skips[0].sample_id == first[:-4]
    assert skips[0].path == f"{RELEASE}/Data/Test/{first}"
    assert skips[0].reason == f"video not found (listed in {RELEASE}/Labels/Test_names.txt, line 1)"
    assert first[:-4] not in {s.id for s in samples}


def test_a_name_listed_twice_is_an_error(copy):
    names = labels_dir(copy) / "Test_names.txt"
    entries = lines(names)
    entries[1] = entries[0]
    names.write_text("\n".join(entries) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="Test_names.txt: line 2: .* already listed on line 1"):
        EmoReactAdapter(copy).scan()


def test_missing_layout_and_missing_files_are_named(tmp_path, copy):
    with pytest.raises(InputError, match="no EmoReact layout found"):
        EmoReactAdapter(tmp_path).scan()
    with pytest.raises(InputError, match="raw EmoReact folder not found"):
        EmoReactAdapter(tmp_path / "absent")
    (labels_dir(copy) / "Val_names.txt").unlink()
    with pytest.raises(InputError, match="Val_names.txt: file not found"):
        EmoReactAdapter(copy).scan()


def test_source_digest_follows_labels_and_videos(copy):
    adapter = EmoReactAdapter(copy)
    samples, _ = adapter.scan()
    digest = adapter.source_digest(samples)
    assert EmoReactAdapter(copy).source_digest(samples) == digest
    labels = labels_dir(copy) / "train_labels.text"
    labels.write_text(labels.read_text().replace(",", " ,", 1), encoding="utf-8")
    assert EmoReactAdapter(copy).source_digest(samples) != digest
