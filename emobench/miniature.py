"""The embedded default: a deterministic miniature of a dataset, synthesised in its official raw
layout and prepared into a pack, cached under ``$EMOBENCH_HOME`` (default
``~/.cache/emobench``). Commands fall back to it when no data is given, and say so."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emobench import __version__
from emobench.datasets.registry import write_miniature
from emobench.errors import PackError
from emobench.pack import Pack
from emobench.prepare.pipeline import prepare_dataset, step_settings
from emobench.prepare.step import option_fields, option_key, ordered_steps

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
    **options: Any,
) -> Path:
    """The prepared miniature pack, built on first use. ``options`` are prepare-step options
    by key (``frames=32, stride=2``, ``apex="motion"``; ``None`` = not given), as
    ``emobench prepare`` takes them; each combination of settings that differs from the
    defaults is cached under its own name (e.g. ``dfew-frames=32-stride=2.h5``)."""
    given = {k: v for k, v in options.items() if v is not None}
    path = miniature_dir(dataset) / f"{dataset}{_suffix(dataset, given)}.h5"
    if path.exists():
        try:
            Pack(path)
            return path
        except PackError:
            path.unlink()
    raw = miniature_raw(dataset, progress_synth)
    prepare_dataset(dataset, raw, path, options=given, miniature=True, progress=progress_prepare)
    return path


def _suffix(dataset: str, given: dict[str, Any]) -> str:
    """``-option=value`` for every given option that differs from what ``emobench prepare``
    would use for this dataset without it (the default of the first step, in run order, that
    reads the option)."""
    defaults = step_settings(dataset)
    default_of: dict[str, Any] = {}
    for step in ordered_steps():
        for f in option_fields(step.settings):
            default_of.setdefault(option_key(f), getattr(defaults[step.name], f.name))
    return "".join(
        f"-{key}={value}" for key, value in sorted(given.items()) if default_of.get(key) != value
    )
