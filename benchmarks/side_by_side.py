"""What every benchmark script shares: best-of-N timing, the loader-vs-training measurement and
the ratio table. Scripts import it as a sibling (``python benchmarks/bench_x.py`` puts this
folder on ``sys.path``). torch and the engine are imported inside the functions that use them:
a benchmark's spawned worker processes import its script again, and should not pay for
torch."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from emobench.pack import Pack


@dataclass(frozen=True)
class Row:
    """One measurement: ours against the reference, and the goal for their ratio."""

    name: str
    ours: float
    reference: float
    unit: str
    goal: float
    higher_is_better: bool = True  # False: the ratio must stay at or below the goal
    informational: bool = False  # printed, but does not decide the exit code

    @property
    def ratio(self) -> float:
        return self.ours / self.reference

    @property
    def met(self) -> bool:
        return self.ratio >= self.goal if self.higher_is_better else self.ratio <= self.goal


def best_of(
    repeats: int, fn: Callable[[], object], before: Callable[[], object] | None = None
) -> float:
    """The shortest wall time of ``repeats`` calls, so page-cache and first-touch effects do
    not decide the verdict. ``before``: run untimed ahead of each call (benchmarks that
    write files pass :func:`settled`)."""
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def settled() -> None:
    """Write back every dirty page (``sync``) before a timed call that writes files: the
    kernel throttles a writer once the dirty pages of earlier runs pass its threshold
    (``vm.dirty_background_ratio``), which made a pack's last writes several times slower
    than its first while earlier runs' files were still being written back (figures in
    CHANGELOG)."""
    os.sync()


def loader_vs_training(
    pack: Pack, protocol_name: str, model_name: str, config: str, repeats: int
) -> Row:
    """Samples/s of the engine's loader over fold 1's training part against samples/s of the
    model's training step on the same, pre-loaded batches."""
    import torch
    from torch.utils.data import DataLoader

    from emobench.engine import PackDataset, model_spec, to_model_inputs
    from emobench.engine.data import fit_scalers
    from emobench.models.registry import create_model, get_model_entry
    from emobench.protocols import load_protocol

    protocol = load_protocol(protocol_name)
    positions, targets = protocol.targets(pack.samples)
    fold = protocol.folds(pack.samples, positions)[0]
    by_pos = dict(zip(positions.tolist(), targets.tolist(), strict=True))
    t = np.array([by_pos[int(p)] for p in fold.train])
    inputs = get_model_entry(model_name).inputs
    scalers = fit_scalers(pack, inputs, fold.train)
    model = create_model(model_name, model_spec(protocol, pack, config, None, inputs))
    dataset = PackDataset(pack, fold.train, inputs, t, None, scalers)
    loader = DataLoader(
        dataset,
        batch_size=model.train_config.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    batches = list(loader)

    def load_epoch() -> None:
        for _ in loader:
            pass

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def train_epoch() -> None:
        model.train()
        for raw in batches:  # pre-loaded: the training step alone
            batch = to_model_inputs(raw)
            loss = model.loss(model(batch), batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    t_load = best_of(repeats, load_epoch)
    t_train = best_of(repeats, train_epoch)
    return Row(
        f"loader vs {model_name} ({config}) training on {protocol_name} fold 1",
        len(dataset) / t_load,
        len(dataset) / t_train,
        "samples/s",
        10.0,
    )


def verified_first_read(pack: Pack, inputs: tuple[str, ...], repeats: int) -> Row:
    """What ``evaluate`` pays to check what it reads: every sample's arrays read and checked
    against their stored digest (``Pack.get_verified``, as the loader does on a sample's
    first read) against the same reads unchecked (``Pack.get``)."""
    from emobench.modalities import get_modality

    keys = [get_modality(i).key for i in inputs]
    positions = range(len(pack))

    def checked() -> None:
        for p in positions:
            for key in keys:
                pack.get_verified(key, p)

    def unchecked() -> None:
        for p in positions:
            for key in keys:
                pack.get(key, p)

    return Row(
        f"digest-checked reads vs unchecked reads ({'+'.join(inputs)})",
        len(pack) / best_of(repeats, checked),
        len(pack) / best_of(repeats, unchecked),
        "samples/s",
        0.5,
        informational=True,
    )


def report(rows: list[Row], footer: str = "") -> int:
    """Print the ratio table, each measurement's name on a line of its own and its figures on
    the next (so that long names stay whole in an 80-column log); the exit code is 1 when a
    non-informational goal is missed."""
    head = f"{'ours':>10} {'reference':>10} {'unit':>9} {'ratio':>7} {'goal':>6}"
    print(f"measurement\n    {head}")
    failed = False
    for row in rows:
        failed |= not row.met and not row.informational
        verdict = "" if row.informational else ("ok" if row.met else "BELOW GOAL")
        sign = ">=" if row.higher_is_better else "<="
        print(row.name)
        print(
            f"    {row.ours:10.1f} {row.reference:10.1f} {row.unit:>9} "
            f"{row.ratio:7.2f} {sign + str(row.goal):>6} {verdict}".rstrip()
        )
    if footer:
        print(footer)
    return 1 if failed else 0
