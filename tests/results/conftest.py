"""Results records built by hand: plain dicts with the keys that the store, the leaderboard and
``regress`` read (the shape the engine writes), so each test states exactly the numbers it
checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emobench.results.schema import SCHEMA
from emobench.results.store import Run


def _record(
    protocol: str = "p3",
    model: str = "eye-only",
    *,
    config: str = "small",
    seed: int = 0,
    selection: str = "validation",
    miniature: bool = True,
    epochs: int | None = None,
    created: str = "2025-01-02T03:04:05+0000",
    dataset: str = "emer",
    folds: int = 5,
    **means: float,
) -> dict[str, Any]:
    """One results record; ``means`` are the summary means (std 0.01 each)."""
    return {
        "schema": SCHEMA,
        "protocol": {"name": protocol, "version": 1, "id": f"{protocol}@1"},
        "pack": {
            "path": f"/packs/{dataset}.h5",
            "digest": "ab" * 32,
            "dataset": dataset,
            "variant": "frames=8,size=112",
            "miniature": miniature,
            "n_samples": 150,
        },
        "model": {"name": model, "config": config},
        "seed": seed,
        "selection": selection,
        "epochs_override": epochs,
        "folds": [{"fold": k + 1, "test": dict(means)} for k in range(folds)],
        "summary": {m: {"mean": v, "std": 0.01} for m, v in means.items()},
        "split_digest": "cd" * 32,
        "provenance": {"git_commit": "unknown"},
        "wall_time_s": 1.0,
        "created": created,
    }


@pytest.fixture
def record() -> Callable[..., dict[str, Any]]:
    return _record


@pytest.fixture
def run() -> Callable[..., Run]:
    """A :class:`Run` of :func:`_record`; ``name`` is its file name (the newest-run tie-break)."""

    def make(*args: Any, name: str = "run.json", **kwargs: Any) -> Run:
        return Run(Path("results") / name, _record(*args, **kwargs))

    return make
