"""Model registry in the style of timm's ``@register_model``.

A model family registers a factory in its own module under ``emobench/models/``::

    @register_model("emert", inputs=("face", "eye", "gaze"), tasks=("classification", "regression"))
    def emert(spec: ModelSpec) -> EmobenchModel: ...

The registry finds the modules itself (:class:`emobench.registry.Registry`). The engine looks a
model up by name, checks that the protocol offers every input it reads at training and at test
time and that it supports the protocol's task, then calls the factory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emobench.errors import ProtocolError
from emobench.registry import Registry
from emobench.tasks import TASKS

CONFIGS = ("small", "paper")


@dataclass(frozen=True)
class ModelSpec:
    """What a factory needs to build a model for one protocol and pack."""

    task: str  # a registered task name (emobench.tasks)
    num_outputs: int  # the task's head size
    config: str = "small"  # "small" | "paper"
    frames: int = 8  # frames per clip the protocol samples (T)
    frame_size: int = 112  # stored side of the pack's pictures, in pixels
    shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # input → per-sample
    aux_classes: int = 0  # >0: an auxiliary classification head (e.g. FER-7 beside intensity)
    overrides: dict[str, Any] = field(default_factory=dict)

    def shape(self, model: str, name: str) -> tuple[int, ...]:
        """The per-sample shape of input ``name`` in the pack, or a ProtocolError naming the
        model that needs it."""
        if name not in self.shapes:
            raise ProtocolError(
                f"model {model!r} reads the {name!r} input, but the spec gives no shape for it "
                f"(known: {', '.join(sorted(self.shapes)) or 'none'})"
            )
        return tuple(self.shapes[name])


@dataclass(frozen=True)
class ModelEntry:
    name: str
    factory: Callable[[ModelSpec], Any]
    inputs: tuple[str, ...]  # what it reads in training
    tasks: tuple[str, ...]
    summary: str
    needs_aux: bool = False  # trains an auxiliary head: the protocol must name an aux_label
    test_inputs: tuple[str, ...] | None = None  # what it reads at test (None: ``inputs``)

    @property
    def reads_at_test(self) -> tuple[str, ...]:
        return self.inputs if self.test_inputs is None else self.test_inputs


MODELS: Registry[ModelEntry] = Registry("model", "emobench.models", error=ProtocolError)


def register_model(
    name: str,
    *,
    inputs: tuple[str, ...],
    tasks: tuple[str, ...] | None = None,
    needs_aux: bool = False,
    test_inputs: tuple[str, ...] | None = None,
) -> Callable[[Callable[[ModelSpec], Any]], Callable[[ModelSpec], Any]]:
    """``tasks``: the tasks the model supports; ``None`` = every task that trains models (the
    model's head and loss come from the task)."""

    def wrap(factory: Callable[[ModelSpec], Any]) -> Callable[[ModelSpec], Any]:
        supported = (
            tuple(n for n, t in TASKS.items() if t.trains_models) if tasks is None else tasks
        )
        unknown = set(supported) - set(TASKS.names())
        if unknown:
            raise ValueError(f"model {name!r}: unknown tasks {sorted(unknown)}")
        if test_inputs is not None and not set(test_inputs) <= set(inputs):
            raise ValueError(f"model {name!r}: test inputs must be a subset of its inputs")
        doc = (factory.__doc__ or "").strip().splitlines()
        summary = doc[0] if doc else ""
        entry = ModelEntry(
            name,
            factory,
            tuple(inputs),
            tuple(supported),
            summary,
            needs_aux,
            None if test_inputs is None else tuple(test_inputs),
        )
        MODELS.register(name, entry)
        return factory

    return wrap


def model_names() -> list[str]:
    return MODELS.names()


def get_model_entry(name: str) -> ModelEntry:
    return MODELS.get(name)


def create_model(name: str, spec: ModelSpec) -> Any:
    entry = get_model_entry(name)
    if spec.task not in entry.tasks:
        raise ProtocolError(f"model {name!r} supports {entry.tasks}, not the task {spec.task!r}")
    if spec.config not in CONFIGS:
        raise ProtocolError(f"unknown config {spec.config!r}; choose one of {CONFIGS}")
    return entry.factory(spec)
