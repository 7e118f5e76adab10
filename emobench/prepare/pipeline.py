"""``emobench prepare``: adapter → prepare steps → pack.

Each media kind a Sample carries is turned into pack arrays by one step:

=================  ==============================  =========================================
media key          step                            arrays written
=================  ==============================  =========================================
``face_video``     decode + uniform T frames       ``face/frames`` (T, S, S, 3) uint8 RGB
``face_frames_dir`` image folder + uniform T       ``face/frames``
``eye_table``      Tobii export → eye features     ``eye/series`` (ragged), ``eye/windows``,
                                                   ``eye/gaze``, ``eye/fixation_map``
=================  ==============================  =========================================

A sample whose media fail (missing, undecodable, unusable gaze) is skipped with the file and
the reason, and listed in the pack and on screen; ``strict=True`` turns any skip into failure
before anything is written. Rows a release itself marks as outside the task (DFEW's label 0,
"not single-labelled") are not skips: the adapter counts them in ``excluded``, which is
reported and stored in the pack's ``excluded`` attribute. The raw folder is only ever read.

Frames are sampled uniformly (``stride`` = 0, the centre frame of T equal segments) or, with
``stride`` > 0, every stride-th frame of a centred window of T × stride frames (MAFW's 32 × 2).
``default_frames(dataset)`` is the adapter's ``default_frames`` (16 for the in-the-wild video
datasets) or ``PrepareSettings.frames``.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from emobench.datasets.coding_sheet import list_numbered_frames
from emobench.datasets.registry import MINIATURE_MARKER, get_adapter
from emobench.datasets.sample import Sample, Skip
from emobench.datasets.tobii import read_tobii_export
from emobench.errors import EmobenchError, InputError
from emobench.pack import PackWriter
from emobench.prepare.apex import prepare_apex_sample
from emobench.prepare.eyes import (
    SERIES_COLUMNS,
    SERIES_UNITS,
    WINDOW_FEATURES,
    WINDOW_UNITS,
    EyeSettings,
    process_gaze_recording,
)
from emobench.prepare.video import sample_frame_folder, sample_video


@dataclass(frozen=True)
class PrepareSettings:
    frames: int = 8
    size: int = 112
    stride: int = 0  # 0: uniform over the clip; k > 0: every k-th frame of a centred window
    compression: str | None = None  # None (fastest) | "lzf" | "gzip"
    apex: str = "annotated"  # apex strategy for onset/apex/offset-coded clips
    miniature: bool = False  # True when the source is emobench's synthetic miniature
    eye: EyeSettings = field(default_factory=EyeSettings)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["eye"] = self.eye.as_dict()
        return d


@dataclass
class PrepareReport:
    pack: Path
    digest: str
    n_samples: int
    skipped: list[Skip]
    padded_clips: int
    unknown_label_columns: list[str]
    restarted: bool
    excluded: dict[str, int] = field(default_factory=dict)  # reason → rows left out by design


class StrictModeError(EmobenchError):
    def __init__(self, skips: list[Skip]):
        self.skips = skips
        lines = "\n".join(f"  {s.path}: {s.sample_id}: {s.reason}" for s in skips[:20])
        more = f"\n  ... and {len(skips) - 20} more" if len(skips) > 20 else ""
        super().__init__(f"--strict: {len(skips)} sample(s) would be skipped:\n{lines}{more}")


def _apex_arrays(
    root: Path, sample: Sample, settings: PrepareSettings
) -> tuple[dict[str, np.ndarray], dict]:
    """Apex image and onset → apex clip of a coded clip, and what the apex strategy chose."""
    a = sample.annotations
    if "face_frames_dir" in sample.media:
        folder = root / sample.media["face_frames_dir"]
        listing = list_numbered_frames(folder)
        frames: list[Path] | Path = [folder / name for name in listing.names]
        first = listing.numbers[0] if listing.numbers else 1
    else:
        frames, first = root / sample.media["face_video"], 1
    arrays, result = prepare_apex_sample(
        frames,
        int(a["onset"]),
        int(a["apex"]),
        int(a["offset"]),
        int(a.get("first_frame", first)),
        strategy=settings.apex,
        t=settings.frames,
        size=settings.size,
    )
    row = {
        "apex_frame": result.frame_number,
        "apex_index": result.index,
        "apex_strategy": result.strategy,
        "apex_score": float(result.score),
        "apex_face_found": "" if result.face_found is None else str(result.face_found),
    }
    return arrays, row


def prepare_sample(
    root: Path, sample: Sample, settings: PrepareSettings
) -> tuple[dict[str, np.ndarray], bool, dict]:
    """All pack arrays of one sample, whether its clip was padded, and extra table columns.
    Raises InputError naming the file."""
    if "apex" in sample.annotations:
        arrays, row = _apex_arrays(root, sample, settings)
        return arrays, False, row
    arrays: dict[str, np.ndarray] = {}
    padded = False
    if "face_video" in sample.media:
        clip = sample_video(
            root / sample.media["face_video"], settings.frames, settings.size, settings.stride
        )
    elif "face_frames_dir" in sample.media:
        clip = sample_frame_folder(
            root / sample.media["face_frames_dir"], settings.frames, settings.size, settings.stride
        )
    else:
        clip = None
    if clip is not None:
        arrays["face/frames"] = clip.frames
        padded = clip.padded
    if "eye_table" in sample.media:
        recording = read_tobii_export(root / sample.media["eye_table"])
        eye = process_gaze_recording(recording, settings.eye)
        arrays.update(
            {
                "eye/series": eye.series,
                "eye/windows": eye.windows,
                "eye/gaze": eye.gaze,
                "eye/fixation_map": eye.fixation_map,
            }
        )
    return arrays, padded, {}


def _worker_init() -> None:
    # One OpenCV thread per worker process: the workers already fill the cores.
    cv2.setNumThreads(1)


def _prepare_job(job: tuple) -> tuple:
    """Worker side of prepare: one sample's arrays, or the file and problem that skip it.
    Takes and returns plain tuples so that it crosses process boundaries."""
    root, sid, subject, source, media, labels, annotations, settings = job
    sample = Sample(sid, subject, source, media, labels, annotations)
    try:
        arrays, padded, extra = prepare_sample(root, sample, settings)
    except InputError as err:
        return None, (err.path, err.problem)
    return (arrays, padded, extra), None


def _jobs(root: Path, samples: list[Sample], settings: PrepareSettings):
    for s in samples:
        yield (
            root,
            s.id,
            s.subject,
            s.source,
            dict(s.media),
            dict(s.labels),
            dict(s.annotations),
            settings,
        )


def default_frames(dataset: str) -> int:
    """Frames per clip ``emobench prepare`` samples when ``--frames`` is not given."""
    return int(getattr(get_adapter(dataset), "default_frames", PrepareSettings.frames))


def _adapter(dataset: str, root: Path, columns: dict | None, layout: str | None):
    adapter_cls = get_adapter(dataset)
    options: dict = {}
    if columns:
        options["columns"] = columns
    if layout:
        if not getattr(adapter_cls, "layouts", None):
            raise EmobenchError(f"dataset {dataset!r} has one raw layout; --layout does not apply")
        options["layout"] = layout
    return adapter_cls(root, **options)


def _row(sample: Sample) -> dict:
    return {"id": sample.id, "subject": sample.subject, **sample.labels, **sample.annotations}


def prepare_dataset(
    dataset: str,
    src: str | Path,
    out: str | Path,
    settings: PrepareSettings | None = None,
    *,
    strict: bool = False,
    columns: dict[str, str] | None = None,
    layout: str | None = None,
    workers: int = 1,
    progress: Callable[[int, int, str], None] | None = None,
) -> PrepareReport:
    """Prepare every sample of ``src`` into the pack ``out``.

    ``workers`` > 1 decodes and extracts features in that many spawned processes (worth it
    for large real datasets; spawning costs about a second); results are written in sample
    order, so the pack does not depend on the number of workers."""
    settings = settings or PrepareSettings()
    root = Path(src)
    if (root / MINIATURE_MARKER).is_file() and not settings.miniature:
        settings = replace(settings, miniature=True)
    if settings.stride < 0 or settings.frames < 1:
        raise EmobenchError(
            f"frames must be positive and stride non-negative, got {settings.frames} and "
            f"{settings.stride}"
        )
    adapter = _adapter(dataset, root, columns, layout)
    samples, skips = adapter.scan()
    excluded = dict(getattr(adapter, "excluded", {}))
    if strict and skips:
        raise StrictModeError(skips)
    out = Path(out)
    if out.resolve().is_relative_to(root.resolve()):
        raise InputError(out, f"the pack must not be written inside the raw folder {root}")
    writer = PackWriter(
        out,
        dataset=dataset,
        variant=_variant(settings, any("apex" in s.annotations for s in samples)),
        source_digest=adapter.source_digest(samples),
        steps=settings.as_dict(),
        ragged=("eye/series",),
        compression=settings.compression,
    )
    padded = prepared = 0
    pool = (
        ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init
        )
        if workers > 1 and len(samples) > 1
        else None
    )
    results = (
        pool.map(_prepare_job, _jobs(root, samples, settings), chunksize=4)
        if pool
        else map(_prepare_job, _jobs(root, samples, settings))
    )
    try:
        with writer:
            for i, (sample, (done, failure)) in enumerate(zip(samples, results, strict=True)):
                if failure is not None:
                    skips.append(Skip(sample.id, _relative(failure[0], root), failure[1]))
                    if strict:
                        raise StrictModeError(skips)
                else:
                    arrays, was_padded, extra = done
                    writer.add({**_row(sample), **extra}, arrays)
                    padded += was_padded
                    prepared += 1
                if progress:
                    progress(i + 1, len(samples), sample.id)
            _describe_arrays(writer, settings)
            if excluded:
                writer.set_attrs("/", {"excluded": json.dumps(excluded, sort_keys=True)})
            digest = writer.finish([s.as_dict() for s in skips])
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return PrepareReport(
        out, digest, prepared, skips, padded, adapter_unknown(adapter), writer.restarted, excluded
    )


def _variant(settings: PrepareSettings, coded_clips: bool) -> str:
    variant = f"frames={settings.frames},size={settings.size}"
    if settings.stride:
        variant += f",stride={settings.stride}"
    return f"{variant},apex={settings.apex}" if coded_clips else variant


def adapter_unknown(adapter) -> list[str]:
    return list(getattr(adapter, "unknown_columns", []))


def _relative(path: str, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _describe_arrays(writer: PackWriter, settings: PrepareSettings) -> None:
    eye = settings.eye
    described = {
        "face/apex": {"layout": "1,H,W,C", "color": "RGB", "strategy": settings.apex},
        "face/clip": {
            "layout": "T,H,W,C",
            "color": "RGB",
            "frames": settings.frames,
            "sampling": "onset to chosen apex, both included, evenly spaced",
        },
    }
    for key, attrs in described.items():
        writer.set_attrs(key, attrs)
    writer.set_attrs(
        "face/frames",
        {
            "layout": "T,H,W,C",
            "color": "RGB",
            "frames": settings.frames,
            "size": settings.size,
            "stride": settings.stride,
            "sampling": (
                f"stride {settings.stride}: one frame in {settings.stride} of a centred window of "
                f"{settings.frames * settings.stride} frames; shorter clips stretched by "
                "repeating frames"
                if settings.stride
                else "uniform, centre frame of T equal segments"
            ),
        },
    )
    writer.set_attrs(
        "eye/series",
        {
            "columns": list(SERIES_COLUMNS),
            "units": list(SERIES_UNITS),
            "rate_hz": eye.rate_hz,
            "screen": str(eye.as_dict().get("screen")),
        },
    )
    writer.set_attrs(
        "eye/windows",
        {"features": list(WINDOW_FEATURES), "units": list(WINDOW_UNITS), "windows": eye.windows},
    )
    writer.set_attrs("eye/gaze", {"columns": ["x", "y"], "units": "screen-normalised, centred"})
    writer.set_attrs(
        "eye/fixation_map",
        {
            "height": eye.map_height,
            "width": eye.map_width,
            "sigma_deg": eye.map_sigma_deg,
            "normalisation": "sums to 1",
        },
    )
