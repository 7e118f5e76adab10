"""What every model configuration shares: the training settings the engine reads, and
``configure``, which applies ``--set KEY=VALUE`` overrides to a config dataclass."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, TypeVar

from emobench.errors import ProtocolError

C = TypeVar("C")


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """How the engine trains a model. Every model config dataclass derives from it, so these
    six fields are declared once (keyword-only, so a config's own fields keep their order) and
    each is an override key like the model's other fields."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    optimizer: str  # "adam" | "adamw"
    scheduler: str  # "cosine" | "none"

    def train_settings(self) -> TrainSettings:
        """The six training fields alone (what the results file records as ``train``)."""
        return TrainSettings(**{f.name: getattr(self, f.name) for f in fields(TrainSettings)})

    def as_dict(self) -> dict:
        return asdict(self)


def configure(model: str, base: C, overrides: dict[str, Any]) -> C:
    """``base`` with ``overrides`` applied; unknown keys are a :class:`ProtocolError`."""
    valid = sorted(f.name for f in fields(base))
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise ProtocolError(
            f"model {model!r}: unknown override(s) {', '.join(unknown)}; valid keys: "
            + ", ".join(valid)
        )
    return replace(base, **overrides)
