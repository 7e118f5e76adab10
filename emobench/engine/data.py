"""What the engine feeds a model: pack samples as batches (DESIGN §4.5, ``models/base.py``).

Every input is converted by its modality (:mod:`emobench.modalities`); this module only
decides which rows and which inputs, reads them checked against their stored digest, and
z-scores the inputs a modality marks ``standardise`` with statistics of the training part
alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from emobench.errors import ProtocolError
from emobench.modalities import MODALITIES, Modality, get_modality
from emobench.models.registry import ModelSpec
from emobench.pack import Pack, flag_column
from emobench.protocols import Protocol


@dataclass(frozen=True)
class FeatureScaler:
    """z-scoring of a feature sequence with statistics of the training part only."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, windows: np.ndarray) -> FeatureScaler:
        flat = windows.reshape(-1, windows.shape[-1]).astype(np.float64)
        std = flat.std(axis=0)
        return cls(
            flat.mean(axis=0).astype(np.float32), np.where(std > 1e-8, std, 1.0).astype(np.float32)
        )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std


def training_presence(pack: Pack, group: str) -> np.ndarray:
    """Which rows' ``group`` training may read: the rows that hold it, less those whose
    ``/samples`` column ``train_<group>`` is false. An unpaired pack keeps the visible images
    of a subject whose training role is thermal, for the folds that test that subject, and
    marks them ``train_visible = False`` so that no fold trains on them."""
    present = pack.present(group)
    column = f"train_{group}"
    if column in pack.samples.columns:
        present = present & flag_column(pack.samples[column])
    return present


def read_modality(name: str, sources: dict[str, str] | None = None) -> Modality:
    """The modality input ``name`` is read from: its own, or the one a protocol's
    ``input_sources`` maps it to (the body stream under a one-stream model's ``face``)."""
    return get_modality((sources or {}).get(name, name))


def fit_scalers(
    pack: Pack,
    inputs: tuple[str, ...],
    train: np.ndarray,
    sources: dict[str, str] | None = None,
) -> dict[str, FeatureScaler]:
    """One scaler per input whose modality is standardised, fit on the training rows that
    hold it for training (each row checked against its stored digest)."""
    scalers = {}
    for name in inputs:
        modality = read_modality(name, sources)
        if not modality.standardise:
            continue
        usable = training_presence(pack, modality.group)
        rows = [p for p in train if usable[p]]
        if not rows:
            raise ProtocolError(
                f"{pack.path}: no training row holds {name!r}, whose features are z-scored "
                "with training statistics"
            )
        scalers[name] = FeatureScaler.fit(
            np.stack([pack.get_verified(modality.key, int(p)) for p in rows])
        )
    return scalers


# The raw arrays one fold keeps in memory, all its datasets together: a miniature fits
# whole (the EMER miniature is 58 MB, DFEW's 42 MB); a real pack is read from HDF5 (and the
# page cache) each epoch, so the peak memory of a run does not grow with its dataset.
CACHE_BYTES = 64 << 20


class ArrayCache:
    """Raw arrays by (key, row), up to ``budget`` bytes, and the (key, row) already checked
    against their stored digest, shared by the datasets of one fold (training, selection, test
    and robustness conditions read the same rows): an array is verified once per fold, kept
    or not."""

    def __init__(self, budget: int = CACHE_BYTES):
        self.budget = budget
        self.arrays: dict[tuple[str, int], np.ndarray] = {}
        self.used = 0
        self.verified: set[tuple[str, int]] = set()

    def get(self, key: str, pos: int) -> np.ndarray | None:
        return self.arrays.get((key, pos))

    def keep(self, key: str, pos: int, array: np.ndarray) -> None:
        if self.used + array.nbytes <= self.budget:
            self.arrays[(key, pos)] = array
            self.used += array.nbytes


class PackDataset(Dataset):
    """Samples of a pack as the batches described in ``emobench.models.base``.

    Every array is checked against its stored digest when it is first read, so a run never
    trains or tests on bytes that differ from what the pack's digest names. Raw arrays are then
    kept in ``cache`` while its budget lasts (training reads every sample once per epoch;
    re-reading HDF5 each time costs about a fifth of a small model's epoch); the datasets of
    one fold share one (default: a cache of their own). Each DataLoader worker holds its own
    copy. A row that lacks an input's group gets zeros and
    ``<input>_present = False`` (the key exists only when the pack has such rows).
    ``training``: presence as training may read it (:func:`training_presence`).
    ``sources``: input → the input whose array it reads (:func:`read_modality`).
    """

    def __init__(
        self,
        pack: Pack,
        positions: np.ndarray,
        inputs: tuple[str, ...],
        targets: np.ndarray,
        aux_targets: np.ndarray | None = None,
        scalers: dict[str, FeatureScaler] | None = None,
        cache: ArrayCache | None = None,
        training: bool = False,
        sources: dict[str, str] | None = None,
    ):
        self.pack = pack
        self.positions = np.asarray(positions)
        self.inputs = inputs
        self.modalities: dict[str, Modality] = {n: read_modality(n, sources) for n in inputs}
        self.targets = targets
        self.aux = aux_targets
        self.scalers = scalers or {}
        self.cache = cache if cache is not None else ArrayCache()
        self._present = {
            n: training_presence(pack, m.group) if training else pack.present(m.group)
            for n, m in self.modalities.items()
        }
        self._partial = {n: not p[self.positions].all() for n, p in self._present.items()}
        self._blank: dict[str, np.ndarray] = {}

    def _array(self, key: str, pos: int) -> np.ndarray:
        cached = self.cache.get(key, pos)
        if cached is not None:
            return cached
        if (key, pos) in self.cache.verified:
            array = self.pack.get(key, pos)
        else:
            array = self.pack.get_verified(key, pos)
            self.cache.verified.add((key, pos))
        self.cache.keep(key, pos, array)
        return array

    def _blank_for(self, name: str) -> np.ndarray:
        if name not in self._blank:
            m = self.modalities[name]
            first = int(np.flatnonzero(self.pack.present(m.group))[0])
            self._blank[name] = m.blank(self.pack.get(m.key, first))
        return self._blank[name]

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        pos = int(self.positions[i])
        item: dict[str, torch.Tensor] = {}
        for name, modality in self.modalities.items():
            present = bool(self._present[name][pos])
            if present:
                item[name] = modality.sample_tensor(
                    self._array(modality.key, pos), self.scalers.get(name)
                )
            else:  # the blank stand-in stays zeros (not z-scored)
                item[name] = modality.sample_tensor(self._blank_for(name))
            if self._partial[name]:
                item[f"{name}_present"] = torch.tensor(present)
        item["target"] = torch.as_tensor(self.targets[i])
        if self.aux is not None:
            item["aux_target"] = torch.as_tensor(self.aux[i])
        return item


def model_spec(
    protocol: Protocol,
    pack: Pack,
    config: str,
    overrides: dict | None,
    inputs: tuple[str, ...] = (),
) -> ModelSpec:
    """The shapes a model is built for: from the protocol and the pack's arrays.

    ``shapes`` holds the per-sample shape of every registered input the pack stores (an
    input the protocol reads from another's array has that array's shape); ``frame_size``
    is the stored side of its pictures (those of ``inputs`` first)."""
    stored = {n: m for n, m in MODALITIES.items() if m.key in pack.keys}
    for name, source in protocol.input_sources.items():
        if source in stored:
            stored[name] = stored[source]
    shapes = {n: pack.item_shape(m.key) for n, m in stored.items()}
    visual = [n for n in inputs if n in stored and stored[n].is_visual] + [
        n for n, m in stored.items() if m.is_visual
    ]
    return ModelSpec(
        task=protocol.task,
        num_outputs=protocol.num_outputs,
        config=config,
        frames=int(protocol.sampling.get("frames", 8)),
        frame_size=int(shapes[visual[0]][1]) if visual else 0,  # ((T or 1), H, W, C)
        shapes=shapes,
        aux_classes=len(protocol.aux_classes) if protocol.aux_label else 0,
        overrides=dict(overrides or {}),
    )
