"""What the clip-list adapters (DFEW, FERV39k, MAFW) share: list parsing, path safety, folds."""

from __future__ import annotations

from pathlib import Path

import pytest

from emobench.datasets.clip_lists import (
    ListedClip,
    check_disjoint,
    check_unique,
    child_by_name,
    first_labels,
    official_folds,
    parse_int,
    read_csv_list,
    read_space_list,
    relative_clip_path,
)
from emobench.errors import InputError


def _entries(clips: str, path: str = "list.txt") -> list[ListedClip]:
    return [ListedClip(c, "x", path, i) for i, c in enumerate(clips.split(), start=1)]


def test_relative_paths_only(tmp_path) -> None:
    f = tmp_path / "l.txt"
    assert relative_clip_path("Action/Sad/0010", f, 1) == "Action/Sad/0010"
    assert relative_clip_path("./a\\b", f, 1) == "a/b"
    for bad in ("/data/FERV39k/Action/Sad/0010", "C:\\FERV39k\\clip", "\\\\server\\share\\x"):
        with pytest.raises(InputError, match="line 3: absolute path"):
            relative_clip_path(bad, f, 3)
    with pytest.raises(InputError, match="leaves the dataset folder"):
        relative_clip_path("../elsewhere/0001", f, 1)


def test_relative_paths_as_pathlib_reads_them(tmp_path) -> None:
    """The string rule gives what the pathlib rule it replaced gave (PurePosixPath parts
    without ``.``; absolute for POSIX or for Windows with a drive letter and root)."""
    f = tmp_path / "l.txt"
    for text, want in (
        ("a//b", "a/b"),
        ("./a/./b/", "a/b"),
        (" a/b\t", "a/b"),
        ("a/..b", "a/..b"),
        ("C:x", "C:x"),
        ("1:/x", "1:/x"),
        ("ab:/x", "ab:/x"),
        ("", "."),
        (".", "."),
    ):
        assert relative_clip_path(text, f, 1) == want, text
    for bad in ("c:/x", "Z:\\y", "//srv/share", "/"):
        with pytest.raises(InputError, match="absolute path"):
            relative_clip_path(bad, f, 1)
    with pytest.raises(InputError, match="leaves the dataset folder"):
        relative_clip_path("a/./../b", f, 1)


def test_space_list_lines(tmp_path) -> None:
    f = tmp_path / "train_All.csv"
    f.write_text("# comment\nAction/Sad/0010 Sad\n\nA scene/Happy/0002   Happy  # note\n")
    entries = read_space_list(f, tmp_path)
    assert [(e.clip, e.label, e.line, e.path) for e in entries] == [
        ("Action/Sad/0010", "Sad", 2, "train_All.csv"),
        ("A scene/Happy/0002", "Happy", 4, "train_All.csv"),
    ]
    f.write_text("Action/Sad/0010\n")
    with pytest.raises(InputError, match="line 1: expected '<clip> <label>'"):
        read_space_list(f, tmp_path)
    f.write_text("\n")
    with pytest.raises(InputError, match="names no clip"):
        read_space_list(f, tmp_path)
    with pytest.raises(InputError, match="list file not found"):
        read_space_list(tmp_path / "none.txt", tmp_path)


def test_csv_list_columns(tmp_path) -> None:
    f = tmp_path / "set_1.csv"
    f.write_text("Video Name,Label\n1,3\n22,0\n")
    entries = read_csv_list(f, tmp_path, "video_name", "label")
    assert [(e.clip, e.label, e.line) for e in entries] == [("1", "3", 2), ("22", "0", 3)]
    f.write_text("name,emotion\n1,3\n")
    with pytest.raises(InputError, match="missing column 'video_name'.*'name', 'emotion'"):
        read_csv_list(f, tmp_path, "video_name", "label")


def test_duplicates_overlap_and_conflicting_labels(tmp_path) -> None:
    with pytest.raises(InputError, match="line 3: clip 'a' is listed again \\(first on line 1\\)"):
        check_unique(_entries("a b a"), tmp_path / "l.txt")
    with pytest.raises(InputError, match="clip\\(s\\) 'b' are in this test list"):
        check_disjoint(_entries("a b", "train.txt"), _entries("c b", "test.txt"), Path("test.txt"))
    one = [ListedClip("a", "1", "x.csv", 2)]
    other = [ListedClip("a", "2", "y.csv", 5)]
    with pytest.raises(InputError, match="label '2' here and '1' in x.csv, line 2"):
        first_labels([one, other])
    assert first_labels([one, one])["a"].label == "1"


def _folds(spec: dict[int, str]) -> tuple[dict, dict, dict]:
    everything = set(" ".join(spec.values()).split())
    test = {k: _entries(v, f"test_{k}") for k, v in spec.items()}
    train = {
        k: _entries(" ".join(sorted(everything - set(v.split()))), f"train_{k}")
        for k, v in spec.items()
    }
    files = {(p, k): Path(f"{p}_{k}") for p in ("train", "test") for k in spec}
    return train, test, files


def test_official_folds_partition_the_clips() -> None:
    train, test, files = _folds({1: "a b", 2: "c d", 3: "e"})
    assert official_folds(train, test, files) == {"a": 1, "b": 1, "c": 2, "d": 2, "e": 3}
    bad = dict(train)
    bad[2] = _entries("a b e c", "train_2")  # c is tested in fold 2 and trained on there
    with pytest.raises(InputError, match="fold 2: clip\\(s\\) 'c' are in this test list"):
        official_folds(bad, test, files)
    bad[2] = _entries("a b", "train_2")  # e is missing from fold 2
    with pytest.raises(
        InputError, match="fold 2's training and test lists lack clip\\(s\\) \\['e'\\]"
    ):
        official_folds(bad, test, files)
    bad[2] = _entries("a b e z", "train_2")  # z is tested nowhere
    with pytest.raises(InputError, match="names clip\\(s\\) \\['z'\\] that no fold tests"):
        official_folds(bad, test, files)
    twice, trained = dict(test), dict(train)
    twice[3], trained[3] = _entries("e a", "test_3"), _entries("b c d", "train_3")
    with pytest.raises(InputError, match="line 2: clip 'a' is also in the test list of fold 1"):
        official_folds(trained, twice, files)


def test_small_helpers(tmp_path) -> None:
    assert parse_int("7") == 7 and parse_int("3.0") == 3 and parse_int(" 0 ") == 0
    assert parse_int("x") is None and parse_int("-1") is None and parse_int("2.5") is None
    (tmp_path / "train(single_labeled)").mkdir()
    (tmp_path / "test_single-labeled").mkdir()
    assert child_by_name(tmp_path, ["train_single-labeled"]).name == "train(single_labeled)"
    assert child_by_name(tmp_path, ["Test(single_labeled)"]).name == "test_single-labeled"
    assert child_by_name(tmp_path, ["val"]) is None
    assert child_by_name(tmp_path / "nowhere", ["val"]) is None
