"""Protocols: versioned TOML files under ``protocols/<family>/<name>.toml`` (DESIGN §3.3).

A protocol says which label is predicted from which inputs, how folds are built, how the
validation part is carved from the training part (grouped by subject, never from the test
fold), which metrics are computed and which one selects the checkpoint, and two kinds of
numbers: ``[reported.<model>]`` from the literature and ``[reference.<model>]`` that this
toolkit reproduces on the embedded miniature, with a tolerance, for ``emobench regress``.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, GroupShuffleSplit, LeaveOneGroupOut

from emobench.errors import ProtocolError
from emobench.metrics import METRICS
from emobench.modalities import MODALITIES
from emobench.tasks import TASKS, Classification, Task, class_targets, get_task

SPLIT_SCHEMES = ("official_folds", "official_split", "grouped_kfold", "loso", "none")


def protocols_dir() -> Path:
    """Installed wheels carry the protocols as package data; a checkout has them at the top."""
    packaged = Path(__file__).parent / "_protocols"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "protocols"


@dataclass(frozen=True)
class Fold:
    index: int  # 1-based, as the datasets number their folds
    train: np.ndarray  # positions in the sample table
    validation: np.ndarray
    test: np.ndarray


@dataclass(frozen=True)
class Protocol:
    name: str
    version: int
    family: str
    dataset: str
    title: str
    task: str
    label: str | tuple[str, ...]  # one column, or the 0/1 columns of a multilabel task
    classes: tuple[str, ...]
    inputs: tuple[str, ...]  # every input the protocol offers (training ∪ test)
    split: dict[str, Any]
    validation: dict[str, Any]
    sampling: dict[str, Any]
    metrics: tuple[str, ...]
    primary: str
    aux_label: str | None = None
    aux_classes: tuple[str, ...] = ()
    aux_metrics: tuple[str, ...] = ("war", "uar", "mf1")  # for a model's auxiliary head
    paper_mapping: str = "unverified"
    paper_note: str = ""
    reported: dict[str, dict[str, Any]] = field(default_factory=dict)
    reference: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: str = ""
    train_inputs: tuple[str, ...] = ()  # () = ``inputs``
    test_inputs: tuple[str, ...] = ()  # () = ``inputs``; thermal in training only, say
    # prepare options the pack must have been made with, by option key (``[prepare]``):
    # ``{"unpair": "by-subject", "pairing_ratio": 0.0}`` for the unpaired thermal protocols
    prepare: dict[str, Any] = field(default_factory=dict)
    # input → the registered input whose pack array it is read from (``input_sources``):
    # ``{"face": "body"}`` feeds a one-stream model the body stream under its ``face`` input
    input_sources: dict[str, str] = field(default_factory=dict)
    # test condition → its own input_sources, e.g. ``{"chin_only": {"face": "face_chin_only"}}``:
    # the selected model is tested once more per condition (``[conditions.<name>]``)
    conditions: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def task_spec(self) -> Task:
        """The task object (:mod:`emobench.tasks`) that owns targets, loss and predictions."""
        return get_task(self.task)

    @property
    def num_outputs(self) -> int:
        return self.task_spec.num_outputs(self)

    @property
    def training_inputs(self) -> tuple[str, ...]:
        return self.train_inputs or self.inputs

    @property
    def testing_inputs(self) -> tuple[str, ...]:
        return self.test_inputs or self.inputs

    def sources(self, condition: str | None = None) -> dict[str, str]:
        """Input → the input whose array it reads, for the main test (``None``) or one
        condition (whose sources override the protocol's)."""
        return {**self.input_sources, **(self.conditions[condition] if condition else {})}

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.primary].higher_is_better

    # ---- labels -------------------------------------------------------------------------
    def targets(self, samples: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(positions with a usable label, target values), as the protocol's task reads them."""
        return self.task_spec.targets(self, samples)

    def aux_targets(self, samples: pd.DataFrame) -> np.ndarray | None:
        """Class indices of the auxiliary label (e.g. the displayed expression), one per row
        of the sample table; a row that has the protocol's label but lacks the auxiliary one
        is an error (a model's second head trains on every training row)."""
        if not self.aux_label:
            return None
        aux_positions, values = class_targets(self, samples, self.aux_label, self.aux_classes)
        labelled, _ = self.targets(samples)
        lacking = np.setdiff1d(labelled, aux_positions)
        if len(lacking):
            ids = samples["id"].astype(str).to_numpy()[lacking[:5]].tolist()
            raise ProtocolError(
                f"protocol {self.id}: {len(lacking)} sample(s) with a {self.label!r} label lack "
                f"the auxiliary label {self.aux_label!r} (e.g. {ids})"
            )
        full = np.full(len(samples), -1, dtype=np.int64)
        full[aux_positions] = values
        return full

    # ---- folds --------------------------------------------------------------------------
    def folds(self, samples: pd.DataFrame, positions: np.ndarray) -> list[Fold]:
        """Train / validation / test positions per fold; validation grouped by subject.

        Rows a pack marks ``train_only`` (unpaired pools of one modality, which have no
        subject to test) are never split: they join the training part of every fold after
        the validation part was carved."""
        from emobench.pack import flag_column

        subjects = samples["subject"].astype(str).to_numpy()
        pooled = np.array([], dtype=positions.dtype)
        if "train_only" in samples.columns:
            only = flag_column(samples["train_only"])[positions]
            pooled, positions = positions[only], positions[~only]
        scheme = self.split["scheme"]
        if scheme == "official_folds":
            column = self.split.get("column", "fold")
            fold_of = samples[column].to_numpy()
            ids = sorted(int(v) for v in set(fold_of[positions]))
            splits = [
                (k, positions[fold_of[positions] != k], positions[fold_of[positions] == k])
                for k in ids
            ]
        elif scheme == "official_split":
            splits = [self._official_split(samples, positions)]
        elif scheme == "grouped_kfold":
            n = int(self.split.get("folds", 5))
            # GroupKFold with shuffle (scikit-learn >= 1.6) keeps whole subjects together.
            gkf = GroupKFold(n_splits=n, shuffle=True, random_state=int(self.split.get("seed", 0)))
            splits = [
                (k + 1, positions[tr], positions[te])
                for k, (tr, te) in enumerate(gkf.split(positions, groups=subjects[positions]))
            ]
        elif scheme == "loso":
            logo = LeaveOneGroupOut()
            splits = [
                (k + 1, positions[tr], positions[te])
                for k, (tr, te) in enumerate(logo.split(positions, groups=subjects[positions]))
            ]
        else:
            raise ProtocolError(f"{self.path}: unknown split scheme {scheme!r}")
        folds = []
        for k, train_part, test in splits:
            if self.validation.get("source") == "release":
                train, validation = self._release_validation(samples, positions, train_part)
            else:
                train, validation = self._carve_validation(train_part, subjects, k)
            if self.split.get("subjects_disjoint", True):
                _check_disjoint(self, k, subjects, train, validation, test)
            elif min(len(train), len(validation), len(test)) == 0:
                raise ProtocolError(f"protocol {self.id}, fold {k}: an empty train/val/test part")
            train = np.concatenate([train, pooled])
            folds.append(Fold(k, np.sort(train), np.sort(validation), np.sort(test)))
        return folds

    def _official_split(
        self, samples: pd.DataFrame, positions: np.ndarray
    ) -> tuple[int, np.ndarray, np.ndarray]:
        """One fold: the release's fixed train/test partition (FERV39k), read from a column."""
        column = self.split.get("column", "partition")
        train_value = str(self.split.get("train", "train"))
        test_value = str(self.split.get("test", "test"))
        if column not in samples.columns:
            raise ProtocolError(
                f"protocol {self.id} splits on column {column!r}, which the pack lacks"
            )
        part = samples[column].astype(str).to_numpy()[positions]
        allowed = {train_value, test_value}
        if self.validation.get("source") == "release":
            allowed.add(str(self.validation.get("value", "validation")))
        other = sorted(set(part) - allowed)
        if other:
            raise ProtocolError(
                f"protocol {self.id}: column {column!r} holds {other}, neither "
                f"{train_value!r} nor {test_value!r}"
            )
        return 1, positions[part == train_value], positions[part == test_value]

    def _release_validation(
        self, samples: pd.DataFrame, positions: np.ndarray, train_part: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The release's own validation split (EmoReact's Validation folder): the rows whose
        split column holds the validation value; the training part stays whole."""
        column = self.split.get("column", "partition")
        value = str(self.validation.get("value", "validation"))
        part = samples[column].astype(str).to_numpy()
        return train_part, positions[part[positions] == value]

    def _carve_validation(
        self, train_part: np.ndarray, subjects: np.ndarray, fold: int
    ) -> tuple[np.ndarray, np.ndarray]:
        fraction = float(self.validation.get("fraction", 0.2))
        seed = int(self.validation.get("seed", 0)) + fold
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        tr, va = next(splitter.split(train_part, groups=subjects[train_part]))
        return train_part[tr], train_part[va]

    def split_manifest(self, samples: pd.DataFrame, folds: list[Fold]) -> dict[str, Any]:
        ids = samples["id"].astype(str).to_numpy()
        return {
            str(f.index): {
                part: sorted(ids[getattr(f, part)].tolist())
                for part in ("train", "validation", "test")
            }
            for f in folds
        }

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def split_digest(manifest: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def _check_disjoint(protocol, fold, subjects, train, validation, test) -> None:
    parts = {"train": train, "validation": validation, "test": test}
    for a, b in (("train", "test"), ("validation", "test"), ("train", "validation")):
        shared = set(subjects[parts[a]]) & set(subjects[parts[b]])
        if shared:
            raise ProtocolError(
                f"protocol {protocol.id}, fold {fold}: subject(s) {sorted(shared)[:5]} are in "
                f"both {a} and {b}"
            )
    if len(test) == 0 or len(train) == 0 or len(validation) == 0:
        raise ProtocolError(f"protocol {protocol.id}, fold {fold}: an empty train/val/test part")


# ---- loading and validation -------------------------------------------------------------
_REQUIRED = ("name", "version", "dataset", "task", "label", "split", "metrics")


def load_protocol(name_or_path: str | Path) -> Protocol:
    path = Path(name_or_path)
    if path.suffix != ".toml":
        matches = sorted(protocols_dir().glob(f"*/{name_or_path}.toml"))
        if not matches:
            raise ProtocolError(
                f"no protocol named {name_or_path!r}; known: {', '.join(protocol_names())}"
            )
        path = matches[0]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ProtocolError(f"{path}: cannot read protocol ({err})") from err
    return _build(path, data)


def _build(path: Path, data: dict[str, Any]) -> Protocol:
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ProtocolError(f"{path}: missing key(s) {missing}")
    metrics = data["metrics"]
    task = data["task"]
    label = data["label"]
    train_inputs = tuple(data.get("train_inputs", ()))
    test_inputs = tuple(data.get("test_inputs", ()))
    if "inputs" not in data and not (train_inputs and test_inputs):
        raise ProtocolError(f"{path}: give inputs, or train_inputs and test_inputs")
    inputs = tuple(data.get("inputs", dict.fromkeys(train_inputs + test_inputs)))
    _check_tables(path, data)
    protocol = Protocol(
        name=data["name"],
        version=int(data["version"]),
        family=data.get("family", path.parent.name),
        dataset=data["dataset"],
        title=data.get("title", data["name"]),
        task=task,
        label=label if isinstance(label, str) else tuple(label),
        classes=tuple(data.get("classes", label if isinstance(label, list) else ())),
        inputs=inputs,
        train_inputs=train_inputs,
        test_inputs=test_inputs,
        split=dict(data["split"]),
        validation=dict(data.get("validation", {})),
        sampling=dict(data.get("sampling", {})),
        metrics=tuple(metrics["names"]),
        primary=metrics["primary"],
        aux_label=data.get("aux_label"),
        aux_classes=tuple(data.get("aux_classes", ())),
        aux_metrics=tuple(data.get("aux_metrics", ("war", "uar", "mf1"))),
        paper_mapping=data.get("paper_mapping", "unverified"),
        paper_note=data.get("paper_note", ""),
        reported=dict(data.get("reported", {})),
        reference=dict(data.get("reference", {})),
        path=str(path),
        prepare=dict(data.get("prepare", {})),
        input_sources=dict(data.get("input_sources", {})),
        conditions={
            str(name): dict(table.get("input_sources", {}))
            for name, table in data.get("conditions", {}).items()
        },
    )
    problems = validate(protocol)
    if problems:
        raise ProtocolError(f"{path}: " + "; ".join(problems))
    return protocol


def validate(p: Protocol) -> list[str]:
    problems = []
    if p.path and Path(p.path).stem != p.name:
        problems.append(f"name {p.name!r} differs from the file name")
    if p.task not in TASKS:
        return [*problems, f"task {p.task!r} is not one of {TASKS.names()}"]
    task = get_task(p.task)
    problems += task.validate(p)
    if task.trains_models and p.split.get("scheme") == "none":
        problems.append("a protocol that trains models needs a split scheme other than 'none'")
    for m in p.metrics:
        if m not in METRICS:
            problems.append(f"unknown metric {m!r}")
        elif METRICS[m].task != p.task:
            problems.append(f"metric {m!r} is for {METRICS[m].task}, not {p.task}")
    if p.primary not in p.metrics:
        problems.append(f"primary metric {p.primary!r} is not in metrics")
    unknown_inputs = set(p.inputs) - set(MODALITIES.names())
    if unknown_inputs:
        problems.append(f"unknown inputs {sorted(unknown_inputs)}; known: {MODALITIES.names()}")
    for part in ("train_inputs", "test_inputs"):
        outside = set(getattr(p, part)) - set(p.inputs)
        if outside:
            problems.append(f"{part} {sorted(outside)} are not among the inputs {list(p.inputs)}")
    if p.split.get("scheme") not in SPLIT_SCHEMES:
        problems.append(f"split scheme {p.split.get('scheme')!r} not in {SPLIT_SCHEMES}")
    stride = p.sampling.get("stride", 0)
    if not isinstance(stride, int) or stride < 0:
        problems.append(f"sampling.stride must be a non-negative integer, got {stride!r}")
    elif stride and "frames" not in p.sampling:
        problems.append("sampling.stride needs sampling.frames")
    source = p.validation.get("source", "train")
    if source not in ("train", "release"):
        problems.append("validation must be carved from the training part or be the release's")
    elif source == "release" and p.split.get("scheme") != "official_split":
        problems.append("validation from the release needs the official_split scheme")
    elif source == "release" and str(p.validation.get("value", "validation")) in (
        str(p.split.get("train", "train")),
        str(p.split.get("test", "test")),
    ):
        problems.append("the release's validation value must differ from its train and test")
    problems += _source_problems(p)
    if p.split.get("subjects_disjoint", True) is not True and p.split.get("scheme") not in (
        "official_split",
        "official_folds",
    ):
        problems.append("split.subjects_disjoint = false is only for a release's own split")
    if p.validation.get("group", "subject") != "subject":
        problems.append("validation must be grouped by subject")
    if p.aux_label and not p.aux_classes:
        problems.append("aux_label needs aux_classes")
    for m in p.aux_metrics:  # the auxiliary head classifies
        if m not in METRICS or METRICS[m].task != Classification.name:
            problems.append(f"aux metric {m!r} is not a classification metric")
    for model, ref in p.reference.items():
        if "tolerance" not in ref:
            problems.append(f"reference.{model} has no tolerance")
        for key in ref:
            if key in METRICS and key not in p.metrics:
                problems.append(f"reference.{model}.{key} is not a metric of this protocol")
        if not any(k in METRICS for k in ref):
            problems.append(f"reference.{model} holds no metric value")
    for key, value in p.prepare.items():
        if not isinstance(value, str | int | float | bool):
            problems.append(f"prepare.{key} must be a plain value, got {value!r}")
    for model, rep in p.reported.items():
        if "source" not in rep:
            problems.append(f"reported.{model} has no source")
    return problems


def _check_tables(path: Path, data: dict[str, Any]) -> None:
    """``input_sources`` is a table of names, ``conditions`` a table of tables holding one:
    anything else is a ProtocolError naming the file (not a traceback later)."""

    def names_table(value: Any) -> bool:
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())

    if "input_sources" in data and not names_table(data["input_sources"]):
        raise ProtocolError(f"{path}: input_sources must be a table of input names")
    conditions = data.get("conditions", {})
    if not isinstance(conditions, dict) or not all(
        isinstance(t, dict) and names_table(t.get("input_sources", {})) for t in conditions.values()
    ):
        raise ProtocolError(
            f"{path}: conditions must be tables [conditions.<name>] with an input_sources table"
        )


def _source_problems(p: Protocol) -> list[str]:
    """``input_sources`` (of the protocol and of each condition) name offered inputs and
    registered inputs of the same kind, so the model sees what it was built for."""
    problems = []
    tables = {"input_sources": p.input_sources} | {
        f"conditions.{name}.input_sources": table for name, table in p.conditions.items()
    }
    for where, table in tables.items():
        for name, source in table.items():
            if name not in p.inputs:
                problems.append(f"{where} maps {name!r}, which is not among the inputs")
            elif source not in MODALITIES or name not in MODALITIES:
                problems.append(f"{where}: {source!r} is not a registered input")
            elif MODALITIES.get(source).kind != MODALITIES.get(name).kind:
                problems.append(f"{where}: {name!r} and {source!r} are different kinds of input")
    for name, table in p.conditions.items():
        if not table:
            problems.append(f"conditions.{name} names no input_sources")
    return problems


def protocol_names() -> list[str]:
    return sorted(p.stem for p in protocols_dir().glob("*/*.toml"))


def all_protocols() -> list[Protocol]:
    return [load_protocol(n) for n in protocol_names()]
