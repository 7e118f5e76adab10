"""Fixtures of the doctor tests: each dataset's clean miniature and its report, and damaged
copies of it (a private copy with planted defects) with theirs — each made once per session
and shared by the test modules of the checks.

The clean release of a dataset is the session's raw fixture of that dataset where the root
conftest has one (the smaller worlds of DFEW, FERV39k, MAFW and EmoReact; EMER's miniature),
else its miniature (`emobench.miniature.miniature_raw`). Two damaged copies per dataset:
``media`` — defects in media files (a truncated video, a missing frame, a duplicated clip,
an eye export with rewritten timestamps, a deleted file), planted on different samples so
that each is found on its own; ``folds`` — the release's split edited so that a subject (for
the clip-list datasets, whose subject is the clip: a clip) sits in two folds. ``DEFECTS``
says which defects each dataset's layout can hold.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from emobench.datasets.coding_sheet import list_numbered_frames
from emobench.datasets.registry import get_adapter
from emobench.doctor.report import DoctorReport, run_doctor

MEDIA_DEFECTS = ("truncated-video", "missing-frame", "duplicate", "eye-rate", "missing-file")
FOLD_DEFECT = "subject-in-two-folds"
DEFECTS: dict[str, tuple[str, ...]] = {
    "casme2": ("missing-frame", "duplicate"),
    "dfew": ("missing-frame", "duplicate", FOLD_DEFECT),
    "emer": ("truncated-video", "duplicate", "eye-rate", "missing-file", FOLD_DEFECT),
    "emoreact": ("truncated-video", "duplicate", FOLD_DEFECT),
    "ferv39k": ("missing-frame", "duplicate", FOLD_DEFECT),
    "mafw": ("missing-frame", "duplicate", FOLD_DEFECT),
    "masked": ("missing-frame", "duplicate"),
    "tufts": ("duplicate", "missing-file"),
    "vt-pairs": ("duplicate", "missing-file"),
}
VISUAL_KEYS = ("face_video", "person_video", "face_frames_dir", "visible_image")


def with_defect(defect: str) -> list[str]:
    """The datasets whose layout holds ``defect``."""
    return [name for name, defects in DEFECTS.items() if defect in defects]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "defect(name): parametrize the test's `name` over the datasets holding it"
    )


def pytest_generate_tests(metafunc):
    marker = metafunc.definition.get_closest_marker("defect")
    if marker is not None:
        metafunc.parametrize("name", with_defect(marker.args[0]))


@pytest.fixture(scope="session")
def defect_plan() -> dict:
    """What the damaged copies plant: the defects per dataset, and the functions planting
    the media defects and editing the splits."""
    return {"defects": DEFECTS, "planters": PLANTERS, "split_edits": SPLIT_EDITS}


def tree_state(root: Path, *, content: bool) -> dict[str, tuple]:
    """Every file under ``root``: (size, mtime) and, with ``content``, its sha256."""
    state = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            stat = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if content else ""
            state[path.relative_to(root).as_posix()] = (stat.st_size, stat.st_mtime_ns, digest)
    return state


@dataclass
class Checked:
    """A raw folder, the doctor's report on it, and (for damaged copies) where each planted
    defect is: defect → (check expected to find it, file relative to the root, sample id)."""

    root: Path
    report: DoctorReport
    planted: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    before: dict[str, tuple] = field(default_factory=dict)
    after: dict[str, tuple] = field(default_factory=dict)


def clean_root(request, name: str) -> Path:
    fixture = f"{name.replace('-', '_')}_raw"
    try:
        return request.getfixturevalue(fixture)
    except pytest.FixtureLookupError:
        from emobench.miniature import miniature_raw

        request.getfixturevalue("emobench_home")
        return miniature_raw(name)


@pytest.fixture(scope="session")
def clean(request):
    """``clean(name)``: the clean release of ``name`` checked (with the tree's state before
    and after; contents hashed for the small releases)."""
    made: dict[str, Checked] = {}

    def get(name: str) -> Checked:
        if name not in made:
            root = clean_root(request, name)
            content = name in ("casme2", "emer", "tufts")
            before = tree_state(root, content=content)
            report = run_doctor(name, root)
            made[name] = Checked(
                root, report, before=before, after=tree_state(root, content=content)
            )
        return made[name]

    return get


# ---- damage ----------------------------------------------------------------------------------
def _group(sample) -> str:
    for key in ("fold", "partition"):
        if key in sample.annotations:
            return f"{key} {sample.annotations[key]}"
    return f"subject {sample.subject}"


def _frame_count(root: Path, sample, key: str) -> int:
    if key != "face_frames_dir":
        return 0
    return len(list_numbered_frames(root / sample.media[key]).names)


def _truncate_video(root, samples, used, planted):
    sample = next(
        s for s in samples if s.id not in used and _key(s, ("face_video", "person_video"))
    )
    rel = sample.media[_key(sample, ("face_video", "person_video"))]
    data = (root / rel).read_bytes()
    (root / rel).write_bytes(data[: len(data) // 2])
    used.add(sample.id)
    planted["truncated-video"] = ("video-frames", rel, sample.id)


def _missing_frame(root, samples, used, planted):
    sample = next(s for s in samples if s.id not in used and "face_frames_dir" in s.media)
    rel = sample.media["face_frames_dir"]
    listing = list_numbered_frames(root / rel)
    number = sample.annotations.get("apex", listing.numbers[len(listing.numbers) // 2])
    (root / rel / listing.names[listing.numbers.index(number)]).unlink()
    used.add(sample.id)
    planted["missing-frame"] = ("frame-folders", rel, sample.id)


def _duplicate(root, samples, used, planted):
    """Copy one clip's media over a clip of another fold (or subject) with as many frames."""
    free = [s for s in samples if s.id not in used and _key(s, VISUAL_KEYS)]
    a, b = next(
        (a, b)
        for a in free
        for b in free
        if _group(a) != _group(b)
        and _key(a, VISUAL_KEYS) == _key(b, VISUAL_KEYS)
        and _frame_count(root, a, _key(a, VISUAL_KEYS))
        == _frame_count(root, b, _key(b, VISUAL_KEYS))
    )
    key = _key(a, VISUAL_KEYS)
    src, dst = root / a.media[key], root / b.media[key]
    if key == "face_frames_dir":  # b keeps its frame names (its numbering), a's pictures
        mine = list_numbered_frames(src).names
        theirs = list_numbered_frames(dst).names
        for x, y in zip(mine, theirs, strict=True):
            shutil.copyfile(src / x, dst / y)
    else:
        shutil.copyfile(src, dst)
    used.update((a.id, b.id))
    planted["duplicate"] = ("near-duplicates", b.media[key], b.id)


def _eye_rate(root, samples, used, planted):
    """Rewrite one Tobii export's [ms] timestamps as if they were microseconds."""
    sample = next(s for s in samples if s.id not in used and "eye_table" in s.media)
    rel = sample.media["eye_table"]
    lines = (root / rel).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("Recording timestamp [ms]\t")
    rows = [line.split("\t", 1) for line in lines[1:]]
    text = "\n".join([lines[0]] + [f"{int(t) * 1000}\t{rest}" for t, rest in rows]) + "\n"
    (root / rel).write_text(text, encoding="utf-8")
    used.add(sample.id)
    planted["eye-rate"] = ("eye-exports", rel, sample.id)


def _missing_file(root, samples, used, planted):
    """Delete the eye export (EMER) or the visible image (image pairs) of one sample."""
    sample = next(
        s for s in samples if s.id not in used and _key(s, ("eye_table", "visible_image"))
    )
    rel = sample.media[_key(sample, ("eye_table", "visible_image"))]
    (root / rel).unlink()
    used.add(sample.id)
    planted["missing-file"] = ("sheet-files", rel, sample.id)


def _key(sample, keys) -> str | None:
    return next((k for k in keys if k in sample.media), None)


PLANTERS = {
    "truncated-video": _truncate_video,
    "missing-frame": _missing_frame,
    "duplicate": _duplicate,
    "eye-rate": _eye_rate,
    "missing-file": _missing_file,
}


def _copy(request, tmp_path_factory, name: str, what: str) -> Path:
    root = tmp_path_factory.mktemp(f"{name}-{what}") / "raw"
    shutil.copytree(clean_root(request, name), root)
    return root


@pytest.fixture(scope="session")
def damaged(request, tmp_path_factory):
    """``damaged(name)``: a copy of the clean release with every media defect of ``DEFECTS``
    planted, checked."""
    made: dict[str, Checked] = {}

    def get(name: str) -> Checked:
        if name not in made:
            root = _copy(request, tmp_path_factory, name, "media")
            samples, _ = get_adapter(name)(root).scan()
            used: set[str] = set()
            planted: dict[str, tuple[str, str, str]] = {}
            for defect in DEFECTS[name]:
                if defect in PLANTERS:
                    PLANTERS[defect](root, samples, used, planted)
            made[name] = Checked(root, run_doctor(name, root), planted)
        return made[name]

    return get


def _emer_split(root: Path, samples) -> tuple[str, str, str]:
    path = root / "Labels/emer_set.txt"
    sample = samples[0]
    other = sample.annotations["fold"] % 5 + 1
    lines = path.read_text(encoding="utf-8").splitlines()
    edited = [
        f"{sample.id}\t{other}" if line.split()[:1] == [sample.id] else line for line in lines
    ]
    path.write_text("\n".join(edited) + "\n", encoding="utf-8")
    return ("scan", "Labels/emer_set.txt", sample.subject)


def _append_line(path: Path, line: str) -> None:
    text = path.read_text(encoding="utf-8")
    path.write_text(text + ("" if text.endswith("\n") else "\n") + line + "\n", encoding="utf-8")


def _dfew_lists(root: Path, samples) -> tuple[str, str, str]:
    files = get_adapter("dfew")(root).files()
    sample = next(s for s in samples if s.annotations["fold"] == 1)
    label = 1 + ("Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear").index(
        sample.labels["emotion"]
    )
    _append_line(files.lists["test", 2], f"{sample.id},{label}")
    return ("scan", "", sample.id)


def _mafw_lists(root: Path, samples) -> tuple[str, str, str]:
    sample = next(s for s in samples if s.annotations["fold"] == 1)
    path = root / "label/no_caption/set_2/test.txt"
    _append_line(path, f"{sample.id}.mp4 {sample.labels['emotion']}")
    return ("scan", "", sample.id)


def _ferv39k_lists(root: Path, samples) -> tuple[str, str, str]:
    sample = next(s for s in samples if s.annotations["partition"] == "train")
    _append_line(root / "All_scenes/test_All.csv", f"{sample.id} {sample.labels['emotion']}")
    return ("scan", "All_scenes/test_All.csv", sample.id)


def _emoreact_names(root: Path, samples) -> tuple[str, str, str]:
    """Rename a test clip after a training clip's source video (same subject in both)."""
    train = next(s for s in samples if s.annotations["partition"] == "train")
    test = next(s for s in samples if s.annotations["partition"] == "test")
    new = f"{train.subject}_99"
    video = root / test.media["person_video"]
    video.rename(video.with_name(f"{new}.mp4"))
    names = next(root.rglob("Test_names.txt"))
    text = names.read_text(encoding="utf-8").replace(f"'{test.id}.mp4'", f"'{new}.mp4'")
    names.write_text(text, encoding="utf-8")
    return ("subject-folds", "", train.subject)


SPLIT_EDITS = {
    "emer": _emer_split,
    "dfew": _dfew_lists,
    "mafw": _mafw_lists,
    "ferv39k": _ferv39k_lists,
    "emoreact": _emoreact_names,
}


@pytest.fixture(scope="session")
def fold_damaged(request, tmp_path_factory):
    """``fold_damaged(name)``: a copy whose split puts one subject (clip) in two folds,
    checked; ``planted[FOLD_DEFECT]`` = (check, file or "", the subject or clip)."""
    made: dict[str, Checked] = {}

    def get(name: str) -> Checked:
        if name not in made:
            root = _copy(request, tmp_path_factory, name, "folds")
            samples, _ = get_adapter(name)(root).scan()
            planted = {FOLD_DEFECT: SPLIT_EDITS[name](root, samples)}
            made[name] = Checked(root, run_doctor(name, root), planted)
        return made[name]

    return get
