"""The embedded default: a deterministic miniature of a dataset, synthesised in its official raw
layout and prepared into a pack, cached under ``$EMOBENCH_HOME`` (default
``~/.cache/emobench``). Commands fall back to it when no data is given, and say so."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from emobench import __version__
from emobench.datasets.registry import write_miniature
from emobench.errors import PackError
from emobench.pack import Pack
from emobench.prepare.pipeline import default_frames, prepare_dataset

MINIATURE_SEED = 0
# Bumped whenever a synth world changes what it draws, so that a cached miniature from an
# older world is never mistaken for the current one (2: masked world's posed expressions and
# upper-face trace; DFEW, FERV39k and MAFW worlds).
WORLD_REVISION = 2


def emobench_home() -> Path:
    return Path(os.environ.get("EMOBENCH_HOME", Path.home() / ".cache" / "emobench"))


def miniature_dir(dataset: str) -> Path:
    name = f"{dataset}-seed{MINIATURE_SEED}-v{__version__}-w{WORLD_REVISION}"
    return emobench_home() / "miniature" / name


def miniature_raw(dataset: str, progress: Callable[[int, int], None] | None = None) -> Path:
    """The raw miniature folder, synthesised on first use (into a temp dir, then renamed)."""
    raw = miniature_dir(dataset) / "raw"
    if raw.is_dir():
        return raw
    raw.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="raw-", dir=raw.parent))
    try:
        write_miniature(dataset, tmp / "data", seed=MINIATURE_SEED, progress=progress)
        os.replace(tmp / "data", raw)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return raw


def miniature_pack(
    dataset: str,
    progress_synth: Callable[[int, int], None] | None = None,
    progress_prepare: Callable[[int, int, str], None] | None = None,
    *,
    apex: str = "annotated",
    frames: int | None = None,
    stride: int = 0,
) -> Path:
    """The prepared miniature pack (default prepare settings, the given apex strategy for
    onset/apex/offset-coded datasets), built on first use. ``frames`` (default: the dataset's
    ``default_frames``) and ``stride`` choose another frame sampling, e.g. a protocol's."""
    frames = frames or default_frames(dataset)
    suffix = "" if apex == "annotated" else f"-apex-{apex}"
    if frames != default_frames(dataset) or stride:
        suffix += f"-{frames}x{stride}" if stride else f"-{frames}f"
    path = miniature_dir(dataset) / f"{dataset}{suffix}.h5"
    if path.exists():
        try:
            Pack(path)
            return path
        except PackError:
            path.unlink()
    raw = miniature_raw(dataset, progress_synth)
    options = {"apex": apex, "frames": frames, "stride": stride or None}
    prepare_dataset(dataset, raw, path, options=options, miniature=True, progress=progress_prepare)
    return path
