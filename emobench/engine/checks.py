"""Does a model fit a protocol and a pack? Checked before any training, so a mismatch is one
clear message instead of a failure in the middle of a run."""

from __future__ import annotations

from emobench.errors import ProtocolError
from emobench.modalities import get_modality
from emobench.models.registry import ModelEntry, get_model_entry
from emobench.pack import Pack
from emobench.protocols import Protocol


def check_fit(protocol: Protocol, model: str, pack: Pack) -> ModelEntry:
    """The model's registry entry, once every check passed (else a ProtocolError):

    - the pack holds the protocol's dataset;
    - the protocol offers every input the model reads in training, and at test time every
      input it reads then (a visible-only test refuses a model that reads thermal);
    - the model supports the protocol's task, and gets the auxiliary label it trains on;
    - the pack stores each of those inputs, and frame clips sampled as the protocol says.
    """
    entry = get_model_entry(model)
    check_dataset(protocol, pack)
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
    modalities = [get_modality(i) for i in entry.inputs]
    absent = [m.key for m in modalities if m.key not in pack.keys]
    if absent:
        raise ProtocolError(f"{pack.path} lacks the array(s) {absent} that {model!r} needs")
    for m in modalities:
        if m.is_clip:
            _check_sampling(protocol, pack, m.key)
    return entry


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
