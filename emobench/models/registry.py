"""Model registry in the style of timm's ``@register_model``.

A model family registers a factory::

    @register_model("emert", inputs=("face", "eye", "gaze"), tasks=("classification", "regression"))
    def emert(spec: ModelSpec) -> EmobenchModel: ...

The engine looks a model up by name, checks that the protocol provides every input it consumes
and that it supports the protocol's task, then calls the factory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emobench.errors import ProtocolError

TASKS = ("classification", "regression")
CONFIGS = ("small", "paper")


@dataclass(frozen=True)
class ModelSpec:
    """What a factory needs to build a model for one protocol."""

    task: str  # "classification" | "regression"
    num_outputs: int  # classes, or 1 for regression
    config: str = "small"  # "small" | "paper"
    frames: int = 8  # face frames per sample (T)
    frame_size: int = 112  # stored frame side in pixels
    eye_steps: int = 32  # length of the eye-feature and gaze sequences (S)
    eye_features: int = 0  # width of the eye-feature sequence (F)
    aux_classes: int = 0  # >0: an auxiliary classification head (e.g. FER-7 beside intensity)
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    factory: Callable[[ModelSpec], Any]
    inputs: tuple[str, ...]
    tasks: tuple[str, ...]
    summary: str
    needs_aux: bool = False  # trains an auxiliary head: the protocol must name an aux_label


_MODELS: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    *,
    inputs: tuple[str, ...],
    tasks: tuple[str, ...] = TASKS,
    needs_aux: bool = False,
) -> Callable[[Callable[[ModelSpec], Any]], Callable[[ModelSpec], Any]]:
    def wrap(factory: Callable[[ModelSpec], Any]) -> Callable[[ModelSpec], Any]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} registered twice")
        unknown = set(tasks) - set(TASKS)
        if unknown:
            raise ValueError(f"model {name!r}: unknown tasks {sorted(unknown)}")
        doc = (factory.__doc__ or "").strip().splitlines()
        summary = doc[0] if doc else ""
        _MODELS[name] = ModelEntry(name, factory, tuple(inputs), tuple(tasks), summary, needs_aux)
        return factory

    return wrap


def _load_all() -> None:
    import emobench.models.baselines  # noqa: F401
    import emobench.models.dsid  # noqa: F401
    import emobench.models.emert  # noqa: F401
    import emobench.models.ifdd  # noqa: F401
    import emobench.models.video_baselines  # noqa: F401


def model_names() -> list[str]:
    _load_all()
    return sorted(_MODELS)


def get_model_entry(name: str) -> ModelEntry:
    _load_all()
    if name not in _MODELS:
        raise ProtocolError(f"unknown model {name!r}; registered: {', '.join(sorted(_MODELS))}")
    return _MODELS[name]


def create_model(name: str, spec: ModelSpec) -> Any:
    entry = get_model_entry(name)
    if spec.task not in entry.tasks:
        raise ProtocolError(f"model {name!r} supports {entry.tasks}, not the task {spec.task!r}")
    if spec.config not in CONFIGS:
        raise ProtocolError(f"unknown config {spec.config!r}; choose one of {CONFIGS}")
    return entry.factory(spec)
