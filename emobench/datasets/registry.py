"""Registry of raw-layout adapters and miniature writers, filled by decorators.

``@register_dataset("emer")`` registers an adapter class; ``@register_synth("emer")`` registers
the function that writes that dataset's miniature in its official layout.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emobench.errors import EmobenchError

# Written beside a synthesised miniature so that packs made from it are labelled as such.
MINIATURE_MARKER = "EMOBENCH_MINIATURE.json"

_ADAPTERS: dict[str, type] = {}
_SYNTHS: dict[str, Callable[..., Any]] = {}


def register_dataset(name: str) -> Callable[[type], type]:
    def wrap(cls: type) -> type:
        if name in _ADAPTERS:
            raise ValueError(f"dataset {name!r} registered twice")
        cls.name = name
        _ADAPTERS[name] = cls
        return cls

    return wrap


def register_synth(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _SYNTHS:
            raise ValueError(f"synth {name!r} registered twice")
        _SYNTHS[name] = fn
        return fn

    return wrap


def _load_all() -> None:
    # Importing the modules runs their decorators.
    import emobench.datasets.casme2  # noqa: F401
    import emobench.datasets.dfew  # noqa: F401
    import emobench.datasets.emer  # noqa: F401
    import emobench.datasets.ferv39k  # noqa: F401
    import emobench.datasets.mafw  # noqa: F401
    import emobench.datasets.masked  # noqa: F401
    import emobench.datasets.synth.casme2  # noqa: F401
    import emobench.datasets.synth.dfew  # noqa: F401
    import emobench.datasets.synth.emer  # noqa: F401
    import emobench.datasets.synth.ferv39k  # noqa: F401
    import emobench.datasets.synth.mafw  # noqa: F401
    import emobench.datasets.synth.masked  # noqa: F401


def dataset_names() -> list[str]:
    _load_all()
    return sorted(_ADAPTERS)


def get_adapter(name: str) -> type:
    _load_all()
    if name not in _ADAPTERS:
        raise EmobenchError(f"unknown dataset {name!r}; known: {', '.join(sorted(_ADAPTERS))}")
    return _ADAPTERS[name]


def get_synth(name: str) -> Callable[..., Any]:
    _load_all()
    if name not in _SYNTHS:
        raise EmobenchError(f"no miniature for {name!r}; known: {', '.join(sorted(_SYNTHS))}")
    return _SYNTHS[name]


def write_miniature(
    name: str, out: str | Path, *, seed: int = 0, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Synthesise the miniature of ``name`` into ``out`` and mark the folder as synthetic."""
    from emobench import __version__

    summary = get_synth(name)(Path(out), seed=seed, progress=progress)
    marker = {"dataset": name, "seed": seed, "emobench": __version__, "synthetic": True}
    (Path(out) / MINIATURE_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    return summary
