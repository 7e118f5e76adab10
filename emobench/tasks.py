"""Tasks: what a protocol asks a model to predict, each declared once (DESIGN §2).

A :class:`Task` owns everything that differs between classification, multi-label
classification, regression and apex spotting: how targets are read from the sample table, the
size of a model's head, the training loss, how logits become predictions *and* scores, the
per-sample prediction columns of a results file and the extra outputs (confusion matrix,
per-class scores). The engine, the models and the protocol loader ask the task instead of
branching on its name, so a new task is one new class registered here.

``evaluator`` names how a protocol of this task is run (``emobench.engine.evaluators``):
``"trained"`` (train on training folds, select on validation, test once) or ``"spotting"``
(score what a prepare-time strategy chose; nothing is trained).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from emobench.errors import EmobenchError, ProtocolError
from emobench.metrics import confusion, scored_classes
from emobench.registry import Registry

if TYPE_CHECKING:  # torch is imported by the methods that use it, so the CLI starts fast
    import torch

    from emobench.protocols import Protocol

TASKS: Registry[Task] = Registry("task", error=ProtocolError)


def register_task(cls: type[Task]) -> type[Task]:
    TASKS.register(cls.name, cls())
    return cls


def get_task(name: str) -> Task:
    return TASKS.get(name)


class Task:
    """What every task shares: one label column read as numbers, one output per sample. The
    model side (head, loss, fusion, constant floor) is each task's own."""

    name: str = ""
    evaluator: str = "trained"
    trains_models: bool = True  # models are trained for it (a head, a loss): not spotting
    predicts_classes: bool = False  # one class per sample (linear probes score classes)
    figures: tuple[str, ...] = ()  # what the report draws of a run beyond the per-fold plot

    # ---- protocol side ------------------------------------------------------------------
    def validate(self, protocol: Protocol) -> list[str]:
        """Problems with a protocol of this task (beyond the checks every protocol gets)."""
        if not isinstance(protocol.label, str):
            return [f"a {self.name} protocol predicts one label column, not {protocol.label!r}"]
        return []

    def num_outputs(self, protocol: Protocol) -> int:
        return 1

    def targets(self, protocol: Protocol, samples: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(positions with a usable label, target values)."""
        raw = _column(protocol, samples, protocol.label)
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        positions = np.flatnonzero(~np.isnan(values))
        return positions, values[positions].astype(np.float32)

    # ---- predictions --------------------------------------------------------------------
    def predict(self, output: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """Model outputs → (predictions the metrics compare with targets, scores or None)."""
        return output.reshape(-1).numpy(), None

    def prediction_columns(
        self, protocol: Protocol, targets: np.ndarray, pred: np.ndarray, scores: Any
    ) -> dict[str, Any]:
        """Per-sample columns of the predictions file."""
        return {"target": targets, "prediction": pred}

    def arrays_from_predictions(
        self, protocol: Protocol, frame: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(targets, predictions, scores or None) read back from the columns that
        ``prediction_columns`` wrote to a predictions file: what intervals and paired
        comparisons recompute metrics from."""
        columns = needed_columns(frame, ["target", "prediction"])
        return (
            columns["target"].to_numpy(dtype=np.float64),
            columns["prediction"].to_numpy(dtype=np.float64),
            None,
        )

    def extra_outputs(
        self, protocol: Protocol, targets: np.ndarray, pred: np.ndarray, scores: Any
    ) -> dict[str, Any]:
        """Per-fold outputs beside the metrics (a confusion matrix, per-class scores)."""
        return {"confusion": None}


@register_task
class Regression(Task):
    """One continuous value per sample (e.g. emotion intensity), smooth-L1 loss."""

    name = "regression"

    # ---- model side ---------------------------------------------------------------------
    def head(self, logits: torch.Tensor) -> torch.Tensor:
        """A head's raw (B, num_outputs) output as the task's model output."""
        if logits.shape[-1] != 1:
            raise ValueError(f"a {self.name} head has one output, got {logits.shape[-1]}")
        return logits.squeeze(-1)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.smooth_l1_loss(output.reshape(-1), target.float())

    def combine(self, outputs: list[torch.Tensor]) -> torch.Tensor:
        """Late fusion of several heads' outputs for one prediction (the mean)."""
        return sum(outputs) / len(outputs)

    def constant(self, targets: torch.Tensor, num_outputs: int) -> torch.Tensor:
        """The best constant prediction from training targets (the no-model floor)."""
        import torch

        return torch.as_tensor(targets).float().mean()

    def constant_output(
        self, constant: torch.Tensor, size: int, num_outputs: int, logit: float
    ) -> torch.Tensor:
        return constant.expand(size).clone()


@register_task
class Spotting(Regression):
    """Apex spotting: the frame a prepare-time strategy chose against the annotated one."""

    name = "spotting"
    evaluator = "spotting"
    trains_models = False

    def validate(self, protocol: Protocol) -> list[str]:
        problems = super().validate(protocol)
        if protocol.split.get("scheme") != "none":
            problems.append("a spotting protocol trains nothing: its split scheme is 'none'")
        return problems


@register_task
class Classification(Task):
    """One class out of ``classes``; cross-entropy on logits, softmax scores."""

    name = "classification"
    predicts_classes = True
    figures = ("confusion",)

    def validate(self, protocol: Protocol) -> list[str]:
        problems = super().validate(protocol)
        if len(protocol.classes) < 2:
            problems.append("a classification protocol needs at least two classes")
        return problems

    def num_outputs(self, protocol: Protocol) -> int:
        return len(protocol.classes)

    def targets(self, protocol: Protocol, samples: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        return class_targets(protocol, samples, protocol.label, protocol.classes)

    def head(self, logits: torch.Tensor) -> torch.Tensor:
        return logits

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.cross_entropy(output, target)

    def combine(self, outputs: list[torch.Tensor]) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        # log of the mean of the softmax distributions
        both = torch.stack([F.log_softmax(o, -1) for o in outputs])
        return torch.logsumexp(both, dim=0) - math.log(float(len(outputs)))

    def constant(self, targets: torch.Tensor, num_outputs: int) -> torch.Tensor:
        import torch

        counts = torch.bincount(torch.as_tensor(targets).long().reshape(-1), minlength=num_outputs)
        return counts.argmax().float()  # ties → the lowest class index

    def constant_output(
        self, constant: torch.Tensor, size: int, num_outputs: int, logit: float
    ) -> torch.Tensor:
        import torch

        logits = torch.zeros(size, num_outputs, device=constant.device)
        logits[:, int(constant.item())] = logit
        return logits

    def predict(self, output: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        import torch

        return output.argmax(dim=1).numpy(), torch.softmax(output, dim=1).numpy()

    def prediction_columns(
        self, protocol: Protocol, targets: np.ndarray, pred: np.ndarray, scores: Any
    ) -> dict[str, Any]:
        columns: dict[str, Any] = {
            "target": [protocol.classes[int(t)] for t in targets],
            "prediction": [protocol.classes[int(p)] for p in pred],
        }
        for k, name in enumerate(protocol.classes):
            columns[f"p_{name}"] = np.round(scores[:, k], 6)
        return columns

    def arrays_from_predictions(
        self, protocol: Protocol, frame: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        scored = [f"p_{name}" for name in protocol.classes]
        columns = needed_columns(frame, ["target", "prediction", *scored])
        index = {name: k for k, name in enumerate(protocol.classes)}
        indices = []
        for column in ("target", "prediction"):
            mapped = columns[column].astype(str).map(index)
            if mapped.isna().any():
                unknown = sorted(set(columns[column].astype(str)[mapped.isna()]))
                raise EmobenchError(
                    f"column {column!r} holds {unknown}, which are not classes of protocol "
                    f"{protocol.id}"
                )
            indices.append(mapped.to_numpy(dtype=np.int64))
        return indices[0], indices[1], columns[scored].to_numpy(dtype=np.float64)

    def extra_outputs(
        self, protocol: Protocol, targets: np.ndarray, pred: np.ndarray, scores: Any
    ) -> dict[str, Any]:
        return {"confusion": confusion(targets, pred, len(protocol.classes))}


@register_task
class Multilabel(Task):
    """Several binary labels per sample (EmoReact's eight emotions): one logit per label,
    binary cross-entropy on sigmoid outputs, scores are the sigmoid probabilities and a
    label is predicted present at 0.5. ``label`` is the list of 0/1 columns."""

    name = "multilabel"
    figures = ("roc",)

    def validate(self, protocol: Protocol) -> list[str]:
        if isinstance(protocol.label, str) or len(protocol.label) < 2:
            return ["a multilabel protocol names a list of at least two 0/1 label columns"]
        return []

    def num_outputs(self, protocol: Protocol) -> int:
        return len(protocol.label)

    def targets(self, protocol: Protocol, samples: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        columns = [
            pd.to_numeric(_column(protocol, samples, c), errors="coerce").to_numpy(np.float64)
            for c in protocol.label
        ]
        values = np.stack(columns, axis=1)
        known = ~np.isnan(values)
        bad = known & (values != 0) & (values != 1)
        if bad.any():
            column = protocol.label[int(np.argwhere(bad)[0][1])]
            raise ProtocolError(
                f"label {column!r} of protocol {protocol.id} holds values other than 0/1"
            )
        positions = np.flatnonzero(known.all(axis=1))
        return positions, values[positions].astype(np.float32)

    def head(self, logits: torch.Tensor) -> torch.Tensor:
        return logits

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.binary_cross_entropy_with_logits(output, target.float())

    def combine(self, outputs: list[torch.Tensor]) -> torch.Tensor:
        import torch

        # the logit of the mean of the sigmoid probabilities
        p = torch.stack([torch.sigmoid(o) for o in outputs]).mean(0).clamp(1e-7, 1 - 1e-7)
        return torch.log(p) - torch.log1p(-p)

    def constant(self, targets: torch.Tensor, num_outputs: int) -> torch.Tensor:
        import torch

        # each label's rate in the training part
        return torch.as_tensor(targets).float().reshape(-1, num_outputs).mean(0)

    def constant_output(
        self, constant: torch.Tensor, size: int, num_outputs: int, logit: float
    ) -> torch.Tensor:
        import torch

        p = constant.clamp(1e-6, 1 - 1e-6)
        return (torch.log(p) - torch.log1p(-p)).expand(size, num_outputs).clone()

    def predict(self, output: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        import torch

        scores = torch.sigmoid(output).numpy()
        return (scores >= 0.5).astype(np.int64), scores

    def prediction_columns(
        self, protocol: Protocol, targets: np.ndarray, pred: np.ndarray, scores: Any
    ) -> dict[str, Any]:
        columns: dict[str, Any] = {}
        for k, name in enumerate(protocol.label):
            columns[f"target_{name}"] = targets[:, k].astype(np.int64)
            columns[f"pred_{name}"] = np.asarray(pred)[:, k].astype(np.int64)
            columns[f"p_{name}"] = np.round(scores[:, k], 6)
        return columns

    def arrays_from_predictions(
        self, protocol: Protocol, frame: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        target_columns = [f"target_{name}" for name in protocol.label]
        score_columns = [f"p_{name}" for name in protocol.label]
        pred_columns = [f"pred_{name}" for name in protocol.label]
        columns = needed_columns(frame, target_columns + score_columns)
        scores = columns[score_columns].to_numpy(dtype=np.float64)
        if all(c in frame for c in pred_columns):  # thresholded before the scores were rounded
            pred = frame[pred_columns].to_numpy(dtype=np.int64)
        else:  # files written before the pred_ columns: from the rounded scores
            pred = (scores >= 0.5).astype(np.int64)
        return columns[target_columns].to_numpy(dtype=np.int64), pred, scores

    def extra_outputs(
        self, protocol: Protocol, targets: np.ndarray, pred: np.ndarray, scores: Any
    ) -> dict[str, Any]:
        from sklearn.metrics import roc_auc_score

        scored = set(scored_classes(targets).tolist())
        per_class = {
            name: float(roc_auc_score(targets[:, k], scores[:, k])) if k in scored else None
            for k, name in enumerate(protocol.label)
        }
        return {
            "per_class_roc_auc": per_class,
            "unscored_classes": [n for k, n in enumerate(protocol.label) if k not in scored],
        }


def needed_columns(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The named columns of a predictions file, or an error listing those it lacks."""
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise EmobenchError(f"the predictions lack the column(s) {missing}")
    return frame[names]


def class_targets(
    protocol: Protocol, samples: pd.DataFrame, column: str, classes: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """(positions with a class, class indices) of one class-name column; an empty cell has no
    label, a name outside ``classes`` is an error."""
    values = _column(protocol, samples, column).astype(str).to_numpy()
    present = np.array([v not in ("", "nan") for v in values])
    lookup = {c.lower(): i for i, c in enumerate(classes)}
    unknown = sorted({v for v in values[present] if v.lower() not in lookup})
    if unknown:
        raise ProtocolError(
            f"label {column!r} holds {unknown}, which are not among the classes of "
            f"protocol {protocol.id}: {list(classes)}"
        )
    positions = np.flatnonzero(present)
    return positions, np.array([lookup[v.lower()] for v in values[positions]], dtype=np.int64)


def _column(protocol: Protocol, samples: pd.DataFrame, column: str) -> pd.Series:
    if column not in samples.columns:
        raise ProtocolError(
            f"protocol {protocol.id} needs label {column!r}, the pack has "
            f"{', '.join(c for c in samples.columns)}"
        )
    return samples[column]
