"""Does a model fit a protocol and a pack? Checked before any training, so a mismatch is one
clear message instead of a failure in the middle of a run."""

from __future__ import annotations

from typing import Any

import numpy as np

from emobench.engine.data import read_modality
from emobench.errors import ProtocolError
from emobench.models.registry import ModelEntry, get_model_entry
from emobench.pack import Pack
from emobench.protocols import Fold, Protocol


def check_fit(protocol: Protocol, model: str, pack: Pack) -> ModelEntry:
    """The model's registry entry, once every check passed (else a ProtocolError):

    - the pack holds the protocol's dataset;
    - the protocol offers every input the model reads in training, and at test time every
      input it reads then (a visible-only test refuses a model that reads thermal);
    - the model supports the protocol's task, and gets the auxiliary label it trains on;
    - the pack stores each of those inputs, and frame clips sampled as the protocol says;
    - the pack was prepared with the options the protocol's ``[prepare]`` table names.
    """
    entry = get_model_entry(model)
    check_dataset(protocol, pack)
    check_prepared(protocol, pack)
    for when, offered, needed in (
        ("in training", protocol.training_inputs, entry.inputs),
        ("at test time", protocol.testing_inputs, entry.reads_at_test),
    ):
        missing = [i for i in needed if i not in offered]
        if missing:
            raise ProtocolError(
                f"model {model!r} reads {list(needed)} {when}; protocol {protocol.id} offers "
                f"{list(offered)} {when} (missing {missing})"
            )
    if protocol.task not in entry.tasks:
        raise ProtocolError(
            f"model {model!r} supports {list(entry.tasks)}, protocol {protocol.id} is "
            f"{protocol.task}"
        )
    if entry.needs_aux and not protocol.aux_label:
        raise ProtocolError(
            f"model {model!r} trains a second head and needs a protocol with an aux_label; "
            f"{protocol.id} has none"
        )
    modalities = {
        read_modality(i, protocol.sources(condition))
        for condition in (None, *protocol.conditions)
        for i in entry.inputs
    }
    absent = sorted(m.key for m in modalities if m.key not in pack.keys)
    if absent:
        raise ProtocolError(f"{pack.path} lacks the array(s) {absent} that {model!r} needs")
    for m in sorted(modalities, key=lambda m: m.key):
        if m.is_clip:
            _check_sampling(protocol, pack, m.key)
    return entry


def check_prepared(protocol: Protocol, pack: Pack) -> None:
    """Every option of the protocol's ``[prepare]`` table has the value the pack's recorded
    step settings hold (a step the pack did not run counts with its default settings), or a
    ProtocolError says how to prepare the pack the protocol needs."""
    from emobench.prepare.step import STEPS, option_fields, option_key, option_name

    where: dict[str, list] = {}  # option → every (step, field) that reads it
    for _, step in STEPS.items():
        for f in option_fields(step.settings):
            where.setdefault(option_key(f), []).append((step, f))
    unknown = sorted(set(protocol.prepare) - set(where))
    if unknown:
        raise ProtocolError(
            f"protocol {protocol.id}: [prepare] names {unknown}, which are not prepare options"
        )
    wrong: list[tuple[str, Any, Any]] = []
    needed = []
    for key, wanted in protocol.prepare.items():
        readers = where[key]  # a step the pack recorded wins over one it did not run
        step, f = next(((s, f) for s, f in readers if s.name in pack.steps), readers[0])
        recorded = pack.steps.get(step.name)
        got = recorded.get(f.name) if recorded else getattr(step.settings(), f.name)
        needed.append(f"--{option_name(f)} {_shown(wanted)}")
        if not _same(got, wanted):
            wrong.append((option_name(f), wanted, got))
    if wrong:
        needs = " ".join(f"--{name} {_shown(want)}" for name, want, _ in wrong)
        has = ", ".join(f"--{name} {_shown(got)}" for name, _, got in wrong)
        raise ProtocolError(
            f"protocol {protocol.id} needs a pack prepared with {needs}; {pack.path} was "
            f"prepared with {has}: re-run `emobench prepare {protocol.dataset} ... "
            f"{' '.join(needed)}`"
        )


def _same(got: Any, wanted: Any) -> bool:
    if isinstance(wanted, bool) or isinstance(got, bool) or got is None:
        return got == wanted
    if isinstance(wanted, int | float) and isinstance(got, int | float):
        return abs(float(got) - float(wanted)) < 1e-9
    return got == wanted


def _shown(value: Any) -> str:
    return "(not given)" if value is None else str(value)


def check_test_rows(protocol: Protocol, model: str, pack: Pack, folds: list[Fold]) -> None:
    """Every validation and test row holds every input the model reads at test time: a
    model is never scored on the blank stand-in of a missing image (a row holding only
    thermal cannot be tested on a visible-only protocol)."""
    entry = get_model_entry(model)
    ids = pack.samples["id"].astype(str).to_numpy()
    reads = {
        (name, read_modality(name, protocol.sources(condition)).group)
        for condition in (None, *protocol.conditions)
        for name in entry.reads_at_test
    }
    for name, group in sorted(reads):
        present = pack.present(group)
        for fold in folds:
            for part in ("validation", "test"):
                positions = getattr(fold, part)
                lacking = positions[~present[positions]]
                if len(lacking):
                    raise ProtocolError(
                        f"protocol {protocol.id}, fold {fold.index}: {len(lacking)} {part} "
                        f"row(s) lack the {name!r} input that {model!r} reads at test time "
                        f"(e.g. {ids[lacking[:5]].tolist()}); every {part} row must hold it"
                    )


def rows_holding(
    pack: Pack,
    positions: np.ndarray,
    inputs: tuple[str, ...],
    sources: dict[str, str] | None = None,
) -> np.ndarray:
    """The training positions whose row holds at least one of ``inputs`` (read as
    ``sources`` says) for training (:func:`emobench.engine.data.training_presence`); a model
    with no inputs keeps all."""
    from emobench.engine.data import training_presence

    if not inputs:
        return positions
    groups = {read_modality(n, sources).group for n in inputs}
    holds = np.zeros(len(positions), dtype=bool)
    for group in groups:
        holds |= training_presence(pack, group)[positions]
    return positions[holds]


def check_dataset(protocol: Protocol, pack: Pack) -> None:
    if pack.attrs["dataset"] != protocol.dataset:
        raise ProtocolError(
            f"protocol {protocol.id} is for dataset {protocol.dataset!r}; "
            f"{pack.path} holds {pack.attrs['dataset']!r}"
        )


def _check_sampling(protocol: Protocol, pack: Pack, key: str) -> None:
    frames = pack.item_shape(key)[0]
    wanted = int(protocol.sampling.get("frames", frames))
    stride = int(protocol.sampling.get("stride", 0))
    packed_stride = int(pack.array_attrs(key).get("stride", 0))
    if frames != wanted or stride != packed_stride:
        raise ProtocolError(
            f"protocol {protocol.id} samples {_sampling(wanted, stride)}, {pack.path} holds "
            f"{_sampling(frames, packed_stride)}: re-run `emobench prepare --frames {wanted}"
            + (f" --stride {stride}`" if stride else "`")
        )


def _sampling(frames: int, stride: int) -> str:
    return f"{frames} frames at stride {stride}" if stride else f"{frames} frames uniformly"
