"""Bad-input corpus: damaged copies of the miniatures, each run through the CLI in a subprocess.

Every case asserts what the README promises for damaged input: the documented exit code (0 ok,
1 a check failed, 2 bad input), the file and the problem named in the output, no Python
traceback, nothing under ``--src`` changed, and no file at the pack's path unless the prepare
succeeded and ``emobench verify`` passes on it.

To add a case, append one `Case` to `CASES`: a name, the miniature it starts from, a function
that damages a private copy of it in place, the extra CLI arguments, the exit code and the
substrings the output must hold and must not hold (``{victim}`` stands for the sample the
damage functions pick, `victim`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

CLI = [sys.executable, "-c", "from emobench.cli import app; app()"]
EMER_SUBJECTS_KEPT = 2  # a small EMER: every sample of this many subjects
VT_SUBJECTS_KEPT = 4  # a small paired visible/thermal world
EYE_DIR = "Data/eye_movement data"
VIDEO_DIR = "Data/face video"


@dataclass(frozen=True)
class Case:
    """One damaged input and what the CLI must do with it."""

    name: str
    dataset: str  # the miniature the private copy starts from
    damage: Callable[[Path], None]  # edits the copy (the --src) in place
    args: tuple[str, ...] = ()
    exit_code: int = 0
    expect: tuple[str, ...] = ()
    forbid: tuple[str, ...] = ()  # substrings the output must not hold
    out: Callable[[Path], Path] | None = None  # builds the --out path in the test's folder


def out_is_a_directory(base: Path) -> Path:
    (base / "packs").mkdir()
    return base / "packs"


def out_below_a_file(base: Path) -> Path:
    (base / "afile").write_text("not a folder")
    return base / "afile" / "x.h5"


def no_damage(root: Path) -> None:
    return None


def cut_video_in_half(root: Path) -> None:
    path = root / VIDEO_DIR / f"{victim(root)}.mp4"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# ---- the damage --------------------------------------------------------------------------------


def victim(root: Path) -> str:
    """The sample a damage function picks: the first row of the dataset's sheet."""
    if (root / "pairs.csv").is_file():
        return str(pd.read_csv(root / "pairs.csv", dtype=str)["capture"].iloc[0])
    if (root / "TD_IR_E_Set1").is_dir():
        return "1_2"  # participant 1, pose 2 (the one tufts_lost_visible_partner damages)
    if (root / "Labels/EMER_label.xlsx").is_file():
        return str(pd.read_excel(root / "Labels/EMER_label.xlsx", dtype=str)["ID"].iloc[0])
    sheet = next(root.glob("CASME2-coding-*.xlsx"))
    first = pd.read_excel(sheet, dtype=str).iloc[0]
    return f"sub{int(first['Subject']):02d}_{first['Filename']}"


def _eye_export(root: Path) -> Path:
    return root / EYE_DIR / f"{victim(root)}.tsv"


def latin1_split_file(root: Path) -> None:
    split = root / "Labels/emer_set.txt"
    text = split.read_text(encoding="utf-8")
    split.write_bytes(("# séance du 3 février, données réduites\n" + text).encode("latin-1"))


def microseconds_under_ms_header(root: Path) -> None:
    path = _eye_export(root)
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    column = "Recording timestamp [ms]"
    table[column] = (table[column].astype(float) * 1000).round().astype("int64").astype(str)
    table.to_csv(path, sep="\t", index=False)


def slow_export_with_lone_dropouts(root: Path) -> None:
    """12 Hz (every 10th row of the 120 Hz export) with the gaze blanked on every 4th row: lone
    samples too long to fill that I-VT still calls fixations, so fixations without a centroid."""
    path = _eye_export(root)
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    table = table.iloc[::10].reset_index(drop=True)
    for i in range(3, len(table) - 1, 4):
        table.loc[i, ["Gaze point X [DACS px]", "Gaze point Y [DACS px]"]] = ""
    table.to_csv(path, sep="\t", index=False)


def utf16_export(root: Path) -> None:
    path = _eye_export(root)
    path.write_bytes(path.read_text(encoding="utf-8").encode("utf-16"))


def missing_video(root: Path) -> None:
    (root / VIDEO_DIR / f"{victim(root)}.mp4").unlink()


def empty_video(root: Path) -> None:
    (root / VIDEO_DIR / f"{victim(root)}.mp4").write_bytes(b"")


def sheet_row_names_missing_subject_folder(root: Path) -> None:
    sheet = next(root.glob("CASME2-coding-*.xlsx"))
    book = openpyxl.load_workbook(sheet)
    rows = book.worksheets[0]
    headers = [cell.value for cell in rows[1]]
    rows.cell(row=2, column=headers.index("Subject") + 1, value=99)
    book.save(sheet)


def remove_tree(root: Path) -> None:
    shutil.rmtree(root)


def _pairs_edit(root: Path, column: str, value: str, row: int = 0) -> None:
    table = pd.read_csv(root / "pairs.csv", dtype=str)
    table.loc[row, column] = value
    table.to_csv(root / "pairs.csv", index=False)


def _first_pair(root: Path, column: str) -> Path:
    return root / pd.read_csv(root / "pairs.csv", dtype=str)[column].iloc[0]


def missing_thermal(root: Path) -> None:
    _first_pair(root, "thermal").unlink()


def garbage_thermal(root: Path) -> None:
    _first_pair(root, "thermal").write_bytes(b"garbage")


def label_outside_the_classes(root: Path) -> None:
    _pairs_edit(root, "label", "Contempt")


def absolute_visible_path(root: Path) -> None:
    _pairs_edit(root, "visible", "/etc/passwd")


def dotdot_thermal_path(root: Path) -> None:
    _pairs_edit(root, "thermal", "../outside.png")


def duplicate_capture_id(root: Path) -> None:
    first = pd.read_csv(root / "pairs.csv", dtype=str)["capture"].iloc[0]
    _pairs_edit(root, "capture", first, row=1)


def no_pairs_list(root: Path) -> None:
    (root / "pairs.csv").unlink()


def tufts_lost_visible_partner(root: Path) -> None:
    next(root.glob("TD_RGB_E_Set1/1/TD_RGB_E_2.*")).unlink()


CLEAN = ("skipped",)  # a case that must prepare every sample

VT_CASES = [
    Case(
        "a pair whose thermal file is missing is a listed skip",
        "vt-pairs",
        missing_thermal,
        expect=("{victim}", "thermal file not on disk", "skipped"),
    ),
    Case(
        "--strict fails on a missing thermal file",
        "vt-pairs",
        missing_thermal,
        args=("--strict",),
        exit_code=2,
        expect=("thermal file not on disk",),
    ),
    Case(
        "an unreadable thermal file is a listed skip",
        "vt-pairs",
        garbage_thermal,
        args=("--unpair", "by-subject", "--pairing-ratio", "1"),
        expect=("{victim}", "not a readable image", "skipped"),
    ),
    Case(
        "a label outside the class list is a listed skip",
        "vt-pairs",
        label_outside_the_classes,
        expect=("{victim}", "'Contempt' is not a class"),
    ),
    Case(
        "an absolute path is never opened",
        "vt-pairs",
        absolute_visible_path,
        expect=("is an absolute path", "(not opened)"),
        forbid=("root:",),
    ),
    Case(
        "a path with .. is never opened",
        "vt-pairs",
        dotdot_thermal_path,
        expect=("holds '..'",),
    ),
    Case(
        "duplicate capture ids skip every row of the id",
        "vt-pairs",
        duplicate_capture_id,
        expect=("capture ids must be unique", "{victim}"),
    ),
    Case(
        "a missing pairs list is a named error",
        "vt-pairs",
        no_pairs_list,
        exit_code=2,
        expect=("pairs.csv", "list file not found"),
    ),
    Case(
        "a pairing ratio outside 0..1 is refused",
        "vt-pairs",
        no_damage,
        args=("--unpair", "by-subject", "--pairing-ratio", "1.5"),
        exit_code=2,
        expect=("--pairing-ratio must be at most 1.0",),
    ),
    Case(
        "a pairing ratio without --unpair is refused",
        "vt-pairs",
        no_damage,
        args=("--pairing-ratio", "0.5"),
        exit_code=2,
        expect=("--pairing-ratio need(s) --unpair by-subject",),
    ),
    Case(
        "a Tufts thermal image without its visible partner is a listed skip",
        "tufts",
        tufts_lost_visible_partner,
        expect=("TD_IR_E_Set1/1/TD_IR_E_2", "without its visible partner"),
    ),
]

CASES = [
    Case("latin-1 split file", "emer", latin1_split_file, expect=("wrote",), forbid=CLEAN),
    Case(
        "microsecond timestamps under a [ms] header are a listed skip",
        "emer",
        microseconds_under_ms_header,
        expect=(
            f"{EYE_DIR}/{{victim}}.tsv",
            "Recording timestamp [ms]",  # shown as written: rich markup does not eat [ms]
            "states milliseconds",
            "look like microseconds",
        ),
    ),
    Case(
        "microsecond timestamps under a [ms] header fail --strict",
        "emer",
        microseconds_under_ms_header,
        args=("--strict",),
        exit_code=2,
        expect=(f"{EYE_DIR}/{{victim}}.tsv", "look like microseconds (120 Hz)"),
    ),
    Case(
        "fixations without a centroid",
        "emer",
        slow_export_with_lone_dropouts,
        expect=("wrote",),
        forbid=CLEAN,
    ),
    Case("UTF-16 eye export", "emer", utf16_export, expect=("wrote",), forbid=CLEAN),
    Case(
        "missing video",
        "emer",
        missing_video,
        expect=(f"{VIDEO_DIR}/{{victim}}.mp4", "face video not on disk"),
    ),
    Case(
        "missing video fails --strict",
        "emer",
        missing_video,
        args=("--strict",),
        exit_code=2,
        expect=(f"{VIDEO_DIR}/{{victim}}.mp4", "face video not on disk"),
    ),
    Case(
        "empty video",
        "emer",
        empty_video,
        expect=(f"{VIDEO_DIR}/{{victim}}.mp4", "cannot open video"),
    ),
    Case(
        "sheet row names a subject folder that does not exist",
        "casme2",
        sheet_row_names_missing_subject_folder,
        expect=("CASME2_RAW_selected/sub99/", "frame folder not on disk"),
    ),
    Case("--src does not exist", "emer", remove_tree, exit_code=2, expect=("folder not found",)),
    Case(
        "--out is a directory (refused before the work)",
        "emer",
        no_damage,
        exit_code=2,
        expect=("--out is a directory",),
        out=out_is_a_directory,
    ),
    Case(
        "--out below a file",
        "emer",
        no_damage,
        exit_code=2,
        expect=("afile is a file, not a folder",),
        out=out_below_a_file,
    ),
    Case("--size 0", "emer", no_damage, ("--size", "0"), 2, ("--size must be at least 8",)),
    Case("--frames 0", "emer", no_damage, ("--frames", "0"), 2, ("--frames must be at least 1",)),
    Case("--compression zstd", "emer", no_damage, ("--compression", "zstd"), 2, ("zstd",)),
    Case(
        "--columns for an adapter without columns",
        "emer",
        no_damage,
        ("--columns", "true_emotion=Context"),
        2,
        ("does not accept --columns",),
    ),
    Case(
        "a video cut to half its bytes is a listed skip",
        "emer",
        cut_video_in_half,
        expect=(f"{VIDEO_DIR}/{{victim}}.mp4",),
    ),
]
CASES += VT_CASES


# ---- the harness -------------------------------------------------------------------------------


def _trim_emer(root: Path) -> None:
    """Keep every sample of the first EMER_SUBJECTS_KEPT subjects of the sheet, drop the rest."""
    sheet_path = root / "Labels/EMER_label.xlsx"
    sheet = pd.read_excel(sheet_path, dtype=str)
    kept_subjects = list(dict.fromkeys(sheet["Subject"]))[:EMER_SUBJECTS_KEPT]
    sheet = sheet[sheet["Subject"].isin(kept_subjects)]
    sheet.to_excel(sheet_path, index=False)
    kept = set(sheet["ID"])
    split = root / "Labels/emer_set.txt"
    lines = split.read_text(encoding="utf-8").splitlines()
    split.write_text(
        "\n".join(line for line in lines if line.startswith("#") or line.split()[0] in kept) + "\n",
        encoding="utf-8",
    )
    for folder in (VIDEO_DIR, EYE_DIR):
        for path in (root / folder).iterdir():
            if path.stem not in kept:
                path.unlink()


@pytest.fixture(scope="session")
def templates(emer_raw, tmp_path_factory) -> Callable[[str], Path]:
    """The undamaged source of each dataset, built once per session when a case needs it."""
    from emobench.datasets.registry import MINIATURE_MARKER, get_synth, write_miniature

    built: dict[str, Path] = {}

    def template(dataset: str) -> Path:
        if dataset not in built:
            root = tmp_path_factory.mktemp(f"bad-input-{dataset}") / "raw"
            if dataset == "emer":
                shutil.copytree(emer_raw, root)
                _trim_emer(root)
            elif dataset == "vt-pairs":  # a small world: what matters is the damage
                get_synth("vt-pairs")(root, seed=0, subjects=VT_SUBJECTS_KEPT)
                (root / MINIATURE_MARKER).write_text("{}")
            else:
                write_miniature(dataset, root, seed=0)
            built[dataset] = root
        return built[dataset]

    return template


def tree_digest(root: Path) -> str:
    """sha256 over every path under ``root`` and every file's bytes ("" when it is absent)."""
    if not root.exists():
        return ""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        if path.is_file():
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The CLI in a subprocess, run from ``cwd`` (not the checkout, whose ``emobench`` folder
    ``python -c`` would import ahead of PYTHONPATH)."""
    # Wide enough that rich neither wraps messages nor the skip table's cells.
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=env, timeout=600, cwd=cwd
    )


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input(case: Case, templates, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(templates(case.dataset), src)
    named = victim(src)
    case.damage(src)
    before = tree_digest(src)
    pack = case.out(tmp_path) if case.out else tmp_path / "packs" / f"{case.dataset}.h5"

    prepare = ("prepare", case.dataset, "--src", str(src), "--out", str(pack), *case.args)
    result = run_cli(*prepare, cwd=tmp_path)
    output = result.stdout + result.stderr

    assert "Traceback" not in output, output
    assert result.returncode == case.exit_code, output
    for text in case.expect:
        assert text.format(victim=named) in output, output
    for text in case.forbid:
        assert text.format(victim=named) not in output, output
    assert tree_digest(src) == before, "the prepare changed --src"
    if result.returncode == 0:
        verified = run_cli("verify", str(pack), cwd=tmp_path)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "Traceback" not in verified.stdout + verified.stderr
    else:
        assert not pack.is_file(), f"a failed prepare left {pack}"


def test_the_centroid_case_holds_fixations_without_centroid(templates, tmp_path: Path) -> None:
    """The damage of "fixations without a centroid" does produce what the case is named for."""
    from emobench.datasets.tobii import read_tobii_export
    from emobench.prepare.eyes import process_gaze_recording

    src = tmp_path / "src"
    shutil.copytree(templates("emer"), src)
    slow_export_with_lone_dropouts(src)
    features = process_gaze_recording(read_tobii_export(_eye_export(src)))
    assert features.summary["fixations_without_position"] > 0


# ---- damaged packs and bad options after prepare -----------------------------------------------


def _flip_array_byte(pack: Path) -> None:
    import h5py

    with h5py.File(pack, "r+") as f:
        f["eye/windows"][3, 0, 0] += 1.0


def _break_steps(pack: Path) -> None:
    import h5py

    with h5py.File(pack, "r+") as f:
        f.attrs["steps"] = "{not json"


@pytest.mark.parametrize(
    ("name", "damage", "args", "exit_code", "expect"),
    [
        (
            "evaluate --folds a",
            None,
            ("evaluate", "--protocol", "p3", "--folds", "a"),
            2,
            ("--folds 'a'",),
        ),
        (
            "evaluate --epochs 0",
            None,
            ("evaluate", "--protocol", "p3", "--epochs", "0"),
            2,
            ("--epochs",),
        ),
        (
            "evaluate on a pack with a changed array",
            _flip_array_byte,
            (
                "evaluate",
                "--protocol",
                "p3",
                "--model",
                "eye-only",
                "--folds",
                "1",
                "--epochs",
                "1",
            ),
            2,
            ("does not match its stored xxh3-128 digest",),
        ),
        (
            "info on a pack whose steps are broken JSON",
            _break_steps,
            ("info",),
            2,
            ("'steps' attribute is not valid JSON",),
        ),
        (
            "verify on a pack whose steps are broken JSON",
            _break_steps,
            ("verify",),
            1,
            ("'steps' attribute is not valid JSON",),
        ),
        (
            "verify on a pack with a changed array",
            _flip_array_byte,
            ("verify",),
            1,
            ("eye/windows sample", "xxh3-128 digest mismatch"),
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_bad_pack_or_option(name, damage, args, exit_code, expect, emer_pack, tmp_path):
    """A damaged pack or a meaningless option: the documented exit code, the file and the
    problem named, no traceback, and no results file for a run that was refused."""
    pack = tmp_path / "emer.h5"
    shutil.copy(emer_pack, pack)
    if damage is not None:
        damage(pack)
    command, *rest = args
    where = [str(pack)] if command in ("info", "verify") else ["--pack", str(pack)]
    results = ["--results", str(tmp_path / "results")] if command == "evaluate" else []
    result = run_cli(command, *where, *rest, *results, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == exit_code, output
    for text in expect:
        assert text in output, output
    assert not list((tmp_path / "results").rglob("*.json"))


def test_a_second_prepare_to_an_out_in_use_is_refused(templates, tmp_path: Path) -> None:
    """While one prepare writes a pack (its lock is held), a second one to the same --out is
    refused with a message, and the first one's pack is the one that lands."""
    import numpy as np

    from emobench.pack import Pack, PackWriter

    out = tmp_path / "packs" / "emer.h5"
    first = PackWriter(out, dataset="emer", variant="first", source_digest="", steps={})
    result = run_cli(
        "prepare", "emer", "--src", str(templates("emer")), "--out", str(out), cwd=tmp_path
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in output, output
    assert "another prepare" in output and "is writing this pack" in output, output
    first.add({"id": "a", "subject": "1"}, {"g/x": np.zeros(2)})
    first.finish()
    assert Pack(out).attrs["variant"] == "first" and Pack(out).verify() == []
