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
before anything is written. The raw folder is only ever read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from emobench.datasets.registry import MINIATURE_MARKER, get_adapter
from emobench.datasets.sample import Sample, Skip
from emobench.datasets.tobii import read_tobii_export
from emobench.errors import EmobenchError, InputError
from emobench.pack import PackWriter
from emobench.prepare.eyes import (
    SERIES_COLUMNS,
    SERIES_UNITS,
    WINDOW_FEATURES,
    WINDOW_UNITS,
    EyeSettings,
    process_gaze_recording,
)
from emobench.prepare.video import SampledClip, sample_frame_folder, sample_video


@dataclass(frozen=True)
class PrepareSettings:
    frames: int = 8
    size: int = 112
    compression: str | None = None  # None (fastest) | "lzf" | "gzip"
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


class StrictModeError(EmobenchError):
    def __init__(self, skips: list[Skip]):
        self.skips = skips
        lines = "\n".join(f"  {s.path}: {s.sample_id}: {s.reason}" for s in skips[:20])
        more = f"\n  ... and {len(skips) - 20} more" if len(skips) > 20 else ""
        super().__init__(f"--strict: {len(skips)} sample(s) would be skipped:\n{lines}{more}")


def _face_arrays(clip: SampledClip) -> dict[str, np.ndarray]:
    return {"face/frames": clip.frames}


def prepare_sample(
    root: Path, sample: Sample, settings: PrepareSettings
) -> tuple[dict[str, np.ndarray], bool]:
    """All pack arrays of one sample, and whether its clip was padded. Raises InputError."""
    arrays: dict[str, np.ndarray] = {}
    padded = False
    if "face_video" in sample.media:
        clip = sample_video(root / sample.media["face_video"], settings.frames, settings.size)
    elif "face_frames_dir" in sample.media:
        clip = sample_frame_folder(
            root / sample.media["face_frames_dir"], settings.frames, settings.size
        )
    else:
        clip = None
    if clip is not None:
        arrays.update(_face_arrays(clip))
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
    return arrays, padded


def _row(sample: Sample) -> dict:
    return {"id": sample.id, "subject": sample.subject, **sample.labels, **sample.annotations}


def prepare_dataset(
    dataset: str,
    src: str | Path,
    out: str | Path,
    settings: PrepareSettings | None = None,
    *,
    strict: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> PrepareReport:
    settings = settings or PrepareSettings()
    root = Path(src)
    if (root / MINIATURE_MARKER).is_file() and not settings.miniature:
        settings = replace(settings, miniature=True)
    adapter = get_adapter(dataset)(root)
    samples, skips = adapter.scan()
    if strict and skips:
        raise StrictModeError(skips)
    out = Path(out)
    if out.resolve().is_relative_to(root.resolve()):
        raise InputError(out, f"the pack must not be written inside the raw folder {root}")
    writer = PackWriter(
        out,
        dataset=dataset,
        variant=f"frames={settings.frames},size={settings.size}",
        source_digest=adapter.source_digest(samples),
        steps=settings.as_dict(),
        ragged=("eye/series",),
        compression=settings.compression,
    )
    padded = prepared = 0
    with writer:
        for i, sample in enumerate(samples):
            try:
                arrays, was_padded = prepare_sample(root, sample, settings)
            except InputError as err:
                skips.append(Skip(sample.id, _relative(err.path, root), err.problem))
                if strict:
                    raise StrictModeError(skips) from err
            else:
                writer.add(_row(sample), arrays)
                padded += was_padded
                prepared += 1
            if progress:
                progress(i + 1, len(samples), sample.id)
        _describe_arrays(writer, settings)
        digest = writer.finish([s.as_dict() for s in skips])
    return PrepareReport(
        out, digest, prepared, skips, padded, adapter_unknown(adapter), writer.restarted
    )


def adapter_unknown(adapter) -> list[str]:
    return list(getattr(adapter, "unknown_columns", []))


def _relative(path: str, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _describe_arrays(writer: PackWriter, settings: PrepareSettings) -> None:
    eye = settings.eye
    writer.set_attrs(
        "face/frames",
        {
            "layout": "T,H,W,C",
            "color": "RGB",
            "frames": settings.frames,
            "size": settings.size,
            "sampling": "uniform, centre frame of T equal segments",
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
