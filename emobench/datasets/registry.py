"""Registry of raw-layout adapters and miniature writers, filled by decorators.

``@register_dataset("emer")`` registers an adapter class; ``@register_synth("emer")`` registers
the function that writes that dataset's miniature in its official layout. Both registries find
their modules themselves (every module of ``emobench.datasets``, ``synth`` included).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emobench.registry import Registry

# Written beside a synthesised miniature so that packs made from it are labelled as such.
MINIATURE_MARKER = "EMOBENCH_MINIATURE.json"

DATASETS: Registry[type] = Registry("dataset", "emobench.datasets")
SYNTHS: Registry[Callable[..., Any]] = Registry("miniature", "emobench.datasets")


def register_dataset(name: str) -> Callable[[type], type]:
    def wrap(cls: type) -> type:
        cls.name = name
        return DATASETS.register(name, cls)

    return wrap


def register_synth(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return SYNTHS.register(name)


def dataset_names() -> list[str]:
    return DATASETS.names()


def get_adapter(name: str) -> type:
    return DATASETS.get(name)


def get_synth(name: str) -> Callable[..., Any]:
    return SYNTHS.get(name)


def write_miniature(
    name: str, out: str | Path, *, seed: int = 0, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Synthesise the miniature of ``name`` into ``out`` and mark the folder as synthetic."""
    from emobench import __version__

    summary = get_synth(name)(Path(out), seed=seed, progress=progress)
    marker = {"dataset": name, "seed": seed, "emobench": __version__, "synthetic": True}
    (Path(out) / MINIATURE_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    return summary
