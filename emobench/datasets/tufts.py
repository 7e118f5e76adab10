"""Adapter for the expression sets of the Tufts Face Database (Panetta et al., "A Comprehensive
Database for Benchmarking Imaging Systems", IEEE TPAMI 2018): posed thermal (TD_IR_E, FLIR Vue
Pro) and visible (TD_RGB_E, Nikon D3100) photographs of 112 participants, 5 poses each.

Source: the ``kpvisionlab/Tufts-Face-Database`` README, and the face boxes of
``maxbbraun/tdface-annotations`` (which name the files). **Licence: non-commercial research
only, no redistribution** (cite Panetta et al. 2018); emobench ships none of it. The layout read
(read-only; paths relative to the root, the download zips unzipped side by side)::

    TD_IR_E_Set<k>/<participant>/TD_IR_E_<pose>.jpg      thermal, pose 1..5
    TD_RGB_E_Set<k>/<participant>/TD_RGB_E_<pose>.jpg    visible, the same poses

Participants are numbered globally (Set1 = 1-25, Set2 starts at 26); a capture is one
participant in one pose, and its thermal and visible images are paired by participant number
and pose index, whatever set folder holds each. Participant folders ``7`` and ``07`` are the same
participant. Images may be ``.jpg``, ``.jpeg`` or ``.png`` in any case. A set folder that holds
only one folder of its own name (a zip unpacked into a folder of its name) is read through; the
sets may also sit one level down in ``TD_IR_E/`` and ``TD_RGB_E/`` (the download site's
folders).

Poses: 1 neutral, 2 smile, 3 eyes closed, 4 exaggerated shocked, 5 sunglasses. Poses 1, 2 and 4
are the expression classes ``Neutral``, ``Happiness`` and ``Surprise``; poses 3 and 5 are no
expression and are counted in ``excluded`` (one per participant and pose found in either
modality), not skipped. Each sample: ``id`` ``<participant>_<pose>``, ``subject`` the
participant, ``media`` ``{"visible_image", "thermal_image"}``, ``labels`` ``{"expression"}``,
``annotations`` ``{"capture": id, "pool": "", "train_only": False}``; in participant then pose
order (numeric), never in the order the file system lists folders.

Listed skips (each naming the file): a thermal image without its visible partner or the
reverse, two files for one pose (``TD_IR_E_1.jpg`` and ``TD_IR_E_1.png``), and a participant
found under two set folders of one modality (one skip for the participant: which copy is right
is unknown, so neither is used; --strict fails). Files that follow no naming rule here (other
names, poses outside 1..5, a TD_RGB_E name in an IR set) are ignored and counted in ``notes``,
as are root folders other than the E sets (TD_IR_A, TD_3D, ...). No ``TD_IR_E_Set<k>`` or no
``TD_RGB_E_Set<k>`` folder is an InputError naming the root and the expected layout.

Unknown here: the TD_RGB_E file naming (inferred from the identical pose list of the README);
whether the IR JPGs are grey or colour-mapped (a third-party table lists 3 channels; if they
are colour-mapped, pass ``--thermal-palette``, see `emobench.prepare.thermal`); the IR
resolution.
"""

from __future__ import annotations

import re
from pathlib import Path

from emobench.datasets.paired_captures import MEDIA_KEYS, media_digest, natural_key
from emobench.datasets.registry import register_dataset
from emobench.datasets.sample import Sample, Skip, unique_skips
from emobench.errors import InputError

POSES: dict[int, str] = {1: "Neutral", 2: "Happiness", 4: "Surprise"}
EXCLUDED_POSES: dict[int, str] = {3: "pose 3 (eyes closed)", 5: "pose 5 (sunglasses)"}
CLASSES: tuple[str, ...] = tuple(POSES.values())

# The two expression sets: modality → the prefix of its set folders and files.
PREFIXES: dict[str, str] = {"thermal": "TD_IR_E", "visible": "TD_RGB_E"}
SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png")
LAYOUT = (
    "TD_IR_E_Set<k>/<participant>/TD_IR_E_<1..5>.jpg (thermal) beside "
    "TD_RGB_E_Set<k>/<participant>/TD_RGB_E_<1..5>.jpg (visible), the Tufts zips unzipped "
    "side by side"
)

_SET = {m: re.compile(rf"{p}_Set(\d+)", re.IGNORECASE) for m, p in PREFIXES.items()}
_FILE = {m: re.compile(rf"{p}_(\d+)(\.[A-Za-z]+)", re.IGNORECASE) for m, p in PREFIXES.items()}


def participant_id(name: str) -> str:
    """The participant of a folder name: ``"07"`` → ``"7"``; other names as written."""
    return str(int(name)) if name.isdigit() else name


@register_dataset("tufts")
class TuftsAdapter:
    """Reads the Tufts TD_IR_E / TD_RGB_E expression sets into Sample records and skips."""

    source = "tufts"

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(self.root, "raw Tufts Face Database folder not found")
        self.excluded: dict[str, int] = {}
        # Files and folders no naming rule here reads, one line each (set by scan()).
        self.notes: list[str] = []

    # ---- the layout ----------------------------------------------------------------------
    def set_folders(self, modality: str) -> list[tuple[int, Path]]:
        """(k, folder holding the participant folders) of every set of ``modality``, by k."""
        found: list[tuple[int, Path]] = []
        for base in (self.root, self.root / PREFIXES[modality]):
            if not base.is_dir():
                continue
            for entry in base.iterdir():
                match = _SET[modality].fullmatch(entry.name)
                if match and entry.is_dir():
                    found.append((int(match.group(1)), _through_wrapper(entry)))
        return sorted(found, key=lambda kv: (kv[0], kv[1].as_posix()))

    def _index(
        self, modality: str, ignored: list[str]
    ) -> tuple[dict[str, dict[int, list[str]]], dict[str, list[str]]]:
        """participant → pose → files (relative paths), and participant → its folders (when
        more than one folder of this modality holds it)."""
        sets = self.set_folders(modality)
        if not sets:
            raise InputError(
                self.root,
                f"no {PREFIXES[modality]}_Set<k> folder here; expected the layout {LAYOUT}",
            )
        poses: dict[str, dict[int, list[str]]] = {}
        folders: dict[str, list[str]] = {}
        for _, folder in sets:
            for entry in sorted(folder.iterdir(), key=lambda p: natural_key(p.name)):
                if entry.name.startswith("."):
                    continue
                rel = entry.relative_to(self.root).as_posix()
                if not entry.is_dir():
                    ignored.append(rel)
                    continue
                pid = participant_id(entry.name)
                folders.setdefault(pid, []).append(rel)
                by_pose = poses.setdefault(pid, {})
                for path in sorted(entry.iterdir(), key=lambda p: natural_key(p.name)):
                    if path.name.startswith("."):
                        continue
                    match = _FILE[modality].fullmatch(path.name) if path.is_file() else None
                    pose = int(match.group(1)) if match else 0
                    if (
                        match is None
                        or match.group(2).lower() not in SUFFIXES
                        or not (pose in POSES or pose in EXCLUDED_POSES)
                    ):
                        ignored.append(path.relative_to(self.root).as_posix())
                        continue
                    by_pose.setdefault(pose, []).append(path.relative_to(self.root).as_posix())
        twice = {pid: rels for pid, rels in folders.items() if len(rels) > 1}
        return poses, twice

    # ---- the adapter protocol ------------------------------------------------------------
    def scan(self) -> tuple[list[Sample], list[Skip]]:
        ignored: list[str] = []
        thermal, thermal_twice = self._index("thermal", ignored)
        visible, visible_twice = self._index("visible", ignored)
        self.excluded = {reason: 0 for reason in EXCLUDED_POSES.values()}
        self.notes = []
        samples: list[Sample] = []
        skips: list[Skip] = []
        for pid in sorted(set(thermal) | set(visible), key=natural_key):
            twice = thermal_twice.get(pid) or visible_twice.get(pid)
            if twice:
                skips.append(
                    Skip(
                        pid,
                        twice[1],
                        f"participant {pid} is also in {', '.join(twice[1:])} "
                        f"besides {twice[0]}; which copy is right is unknown, so all its "
                        "captures are skipped",
                    )
                )
                continue
            ir, rgb = thermal.get(pid, {}), visible.get(pid, {})
            for pose in sorted(set(ir) | set(rgb)):
                if pose in EXCLUDED_POSES:
                    self.excluded[EXCLUDED_POSES[pose]] += 1
                    continue
                item = self._capture(pid, pose, ir.get(pose, []), rgb.get(pose, []))
                (samples if isinstance(item, Sample) else skips).append(item)
        others = [
            p.name
            for p in sorted(self.root.iterdir(), key=lambda p: p.name)
            if not p.name.startswith(".")
            and p.name not in PREFIXES.values()
            and not any(_SET[m].fullmatch(p.name) for m in PREFIXES)
        ]
        if ignored:
            shown = ", ".join(ignored[:3]) + (" ..." if len(ignored) > 3 else "")
            self.notes.append(
                f"ignored {len(ignored)} file(s) or folder(s) in the E sets that are not "
                f"TD_IR_E_<1..5> / TD_RGB_E_<1..5> images in a participant folder: {shown}"
            )
        if others:
            self.notes.append(f"not read (not a TD_IR_E / TD_RGB_E set): {', '.join(others)}")
        return samples, unique_skips(skips)

    def _capture(self, pid: str, pose: int, ir: list[str], rgb: list[str]) -> Sample | Skip:
        sid = f"{pid}_{pose}"
        for files in (ir, rgb):
            if len(files) > 1:
                return Skip(sid, files[0], f"several files for pose {pose}: {', '.join(files)}")
        if not rgb:
            return Skip(
                sid,
                ir[0],
                f"thermal image without its visible partner (no {PREFIXES['visible']}_{pose}.* "
                f"for participant {pid} in any {PREFIXES['visible']}_Set<k>)",
            )
        if not ir:
            return Skip(
                sid,
                rgb[0],
                f"visible image without its thermal partner (no {PREFIXES['thermal']}_{pose}.* "
                f"for participant {pid} in any {PREFIXES['thermal']}_Set<k>)",
            )
        return Sample(
            sid,
            pid,
            self.source,
            {MEDIA_KEYS["visible"]: rgb[0], MEDIA_KEYS["thermal"]: ir[0]},
            {"expression": POSES[pose]},
            {"capture": sid, "pool": "", "train_only": False},
        )

    def source_digest(self, samples: list[Sample]) -> str:
        """sha256 over every media path with its size (the release has no list file)."""
        return media_digest(self.root, samples, b"tufts\n")


def _through_wrapper(folder: Path) -> Path:
    """``folder``, or the one folder of the same name it holds alone (a zip unpacked into a
    folder named for it: ``TD_IR_E_Set1/TD_IR_E_Set1/1/...``)."""
    inner = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if len(inner) == 1 and inner[0].is_dir() and inner[0].name.lower() == folder.name.lower():
        return inner[0]
    return folder
