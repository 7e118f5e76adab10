"""Where a fold trains: one process or several under ``torchrun``, on the CPU or a GPU
(DESIGN §4.5) — without the model knowing which.

:func:`execution` reads what ``torchrun`` sets (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``), joins the process group (gloo on the CPU, NCCL on CUDA) and
returns an :class:`Execution`, which the fold runner (:mod:`emobench.engine.loop`) asks for
its loaders, its optimizers and its predictions. In one process every one of these is what
the runner used before (the same ``DataLoader``, the model's own optimizers, no copies), so a
single-process run is unchanged bit for bit.

Under ``torchrun`` with N processes (ranks):

- **Batches.** Every rank draws the single-process epoch order (the same seeded generator, the
  same random sampler and batch boundaries) and keeps the strided part ``batch[rank::N]`` of
  each batch: the ranks' parts are disjoint and their union is the single-process batch, so
  an epoch is the single-process epoch with each batch split N ways. A rank whose part of a
  short last batch would be empty reads the batch's first row with weight 0.
- **Gradients.** Each optimizer the model declares is wrapped; its ``step()`` first sums, over
  the ranks, every rank's gradients of that optimizer's parameters weighted by the rank's
  share of the batch's rows, then steps. For a loss that is a mean over the batch's rows this
  is the single-process gradient. Parameters start equal (broadcast from rank 0) and get the
  same averaged gradients, so they stay equal on every rank.
- **Buffers.** After each epoch the floating buffers (BatchNorm running statistics) are
  averaged over the ranks, so every rank validates the same model.
- **Predictions.** Validation, test and test-condition rows are split into contiguous shards,
  one per rank, and the model outputs are all-gathered in rank order: every rank holds every
  prediction, scores the same numbers and selects the same epoch. Rank 0 alone writes the
  results file (:meth:`Execution.main_only`) and builds the miniature first
  (:meth:`Execution.main_first`).

Why optimizer wrapping and not ``DistributedDataParallel``: DDP reduces gradients from
autograd hooks during the backward pass of a forward run through its wrapper, once per
forward. ``train_step`` calls the model itself (not a wrapper), and the alternating models
run several backward passes over different parameter sets from one forward (the
discriminators' update, then the networks'), some skipped when a batch holds no row of an
input. Every ``train_step`` does call ``step()`` on the optimizers it updates, and each
optimizer knows exactly the parameters it is about to change — so the reduction sits there.
A model may skip an update on one rank and not on another (its part of the batch holds no row
of an input): an update opened by ``zero_grad()`` and not stepped is reduced with that rank's
zero contribution when the rank moves on to its next update or ends its ``train_step``, and
stepped on every rank when any rank had gradients, so the ranks' collective calls always pair
up and their parameters stay equal. The contract is that every rank calls ``zero_grad()``/
``step()`` of its optimizers in the same order, which holds for each model's ``train_step``.

What is guaranteed: disjoint parts whose union is each single-process batch; equal parameters
and buffers on every rank at every validation; identical predictions and selected epoch on
every rank; one results file. What is not: bitwise equality with a single-process run. The
mean over a batch becomes a weighted sum of per-rank means (another float summation order);
BatchNorm normalises with the statistics of each rank's part in training, not the whole
batch's, and its averaged running variance lacks the spread between the ranks' means;
dropout draws its masks per rank; loss terms that couple rows (HSIC, alignment, a mean over
the rows that hold one input) are computed per part; gradient clipping in ``train_step`` acts
on each rank's gradients before the average. The differences grow with training: a model
without BatchNorm or dropout stays within float rounding of the single-process run.

CUDA: the model and every batch move to ``cuda:LOCAL_RANK``; ``amp`` runs ``train_step`` and
prediction under ``torch.autocast`` in bfloat16, which needs no gradient scaler (a float16
scaler would have to scale the loss inside the model's ``train_step``).
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler, Subset

from emobench.errors import EmobenchError
from emobench.modalities import to_model_inputs

T = TypeVar("T")
Optimizers = list[tuple[Any, Any]]  # (optimizer, scheduler or None), as models declare them

DEVICES = ("cpu", "cuda", "auto")
EXIT_WAIT = datetime.timedelta(seconds=10)  # how long a leaving rank waits for its peers


def launched_rank() -> int:
    """This process's rank as ``torchrun`` set it (0 outside ``torchrun``): who reports."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def _launched_world() -> int:
    text = os.environ.get("WORLD_SIZE", "1")
    try:
        world = int(text)
    except ValueError:
        raise EmobenchError(f"WORLD_SIZE={text!r}: expected a whole number of processes") from None
    if world < 1:
        raise EmobenchError(f"WORLD_SIZE={world}: expected at least 1 process")
    return world


def _resolve_device(device: str, amp: bool) -> torch.device:
    if device not in DEVICES:
        raise EmobenchError(f"--device {device!r}: expected one of {', '.join(DEVICES)}")
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if cuda and not torch.cuda.is_available():
        built = f"CUDA {torch.version.cuda}" if torch.version.cuda else "without CUDA (CPU only)"
        raise EmobenchError(
            f"--device cuda: torch sees no CUDA GPU (torch {torch.__version__}, built {built}); "
            "use --device cpu, or --device auto to take a GPU only when there is one"
        )
    if amp and not cuda:
        raise EmobenchError(
            "--amp (bfloat16 mixed precision) runs on a CUDA GPU only: add --device cuda"
        )
    if not cuda:
        return torch.device("cpu")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if local >= torch.cuda.device_count():
        raise EmobenchError(
            f"LOCAL_RANK={local} but torch sees {torch.cuda.device_count()} CUDA GPU(s): "
            "start at most one process per GPU (torchrun --nproc-per-node)"
        )
    return torch.device("cuda", local)


def _join_process_group(device: torch.device) -> None:
    """Join the group ``torchrun`` described in the environment (once per process)."""
    if dist.is_initialized():
        if device.type == "cpu" and dist.get_backend() == "nccl":
            raise EmobenchError(
                "the process group runs NCCL, which cannot reduce CPU tensors: use --device cuda"
            )
        return
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise EmobenchError(
            f"WORLD_SIZE={os.environ['WORLD_SIZE']} is set but {', '.join(missing)} is not: "
            "start several processes with torchrun (e.g. torchrun --nproc-per-node 2 -m "
            "emobench evaluate ...), or unset WORLD_SIZE for one process"
        )
    if device.type == "cuda":
        torch.cuda.set_device(device)
    _bind_no_default_group()
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    atexit.register(_leave_process_group)


def _bind_no_default_group() -> None:
    """Import ``torch.distributed.nn`` while no process group exists.

    Its functions take the default group as a default argument, bound when the module is
    first imported. Imported after ``init_process_group`` (``torch._dynamo`` imports it, and
    building the first optimizer imports ``torch._dynamo``), they hold the group for good:
    ``destroy_process_group`` then cannot free it, gloo's worker threads outlive it, and one
    of them can drop its last collective's tensors while the interpreter shuts down, which
    kills the process by SIGABRT after its work is done (CHANGELOG, 2026-12-08).
    """
    import torch.distributed.nn  # noqa: F401


def _leave_process_group() -> None:
    """At exit: wait (at most :data:`EXIT_WAIT`) until every rank is here, then leave the group.

    Ranks that left one by one could die by SIGABRT inside gloo's teardown after their work was
    done, so a finished run exited as failed; leaving together made that rarer (CHANGELOG,
    2026-12-02) before its cause was found (:func:`_bind_no_default_group`). The ranks meet in
    the group's key-value store, whose wait gives up on every rank (gloo's
    ``monitored_barrier`` gives up on rank 0 only): a rank that failed while its peers are
    blocked in a collective leaves after the wait, and torchrun then stops the rest. The store
    is read through torch's ``_get_default_store``, the one the group was built on.
    """
    if not dist.is_initialized():
        return
    try:
        with contextlib.suppress(RuntimeError):  # the wait timed out: a peer failed or left
            store = dist.distributed_c10d._get_default_store()
            store.set(f"emobench/left/{dist.get_rank()}", "1")
            every = [f"emobench/left/{r}" for r in range(dist.get_world_size())]
            store.wait(every, EXIT_WAIT)
    finally:
        dist.destroy_process_group()


def execution(device: str = "cpu", amp: bool = False) -> Execution:
    """Where this process trains: ``device`` is ``cpu``, ``cuda`` or ``auto`` (CUDA when torch
    sees a GPU); ``amp`` runs bfloat16 autocast on CUDA. Under ``torchrun`` (``WORLD_SIZE`` >
    1) the process joins the group on the first call; later calls reuse it."""
    resolved = _resolve_device(device, amp)
    if _launched_world() == 1 and not dist.is_initialized():
        return Execution(resolved, amp, rank=0, world_size=1, backend=None)
    _join_process_group(resolved)
    world = dist.get_world_size()
    return Execution(
        resolved,
        amp,
        rank=dist.get_rank(),
        world_size=world,
        backend=str(dist.get_backend()) if world > 1 else None,
    )


@dataclass(frozen=True)
class Execution:
    """One process's place in a run: its device, whether it autocasts, its rank among
    ``world_size`` processes and the process group's backend (``None`` in one process)."""

    device: torch.device
    amp: bool
    rank: int
    world_size: int
    backend: str | None

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self) -> dict[str, Any]:
        """What the results file records of it (under ``provenance.hardware``)."""
        name = str(self.device)
        if self.device.type == "cuda":
            name += f" ({torch.cuda.get_device_name(self.device)})"
        return {
            "device": name,
            "amp": "bfloat16" if self.amp else None,
            "world_size": self.world_size,
            "backend": self.backend,
        }

    # -- the model and its inputs ---------------------------------------------------------
    def place(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model on this device; under ``torchrun``, with rank 0's parameters and
        buffers on every rank."""
        if self.device.type != "cpu":
            model = model.to(self.device)
        if self.distributed:
            with torch.no_grad():
                for tensor in itertools.chain(model.parameters(), model.buffers()):
                    dist.broadcast(tensor.data, src=0)
        return model

    def inputs(self, raw: dict[str, Any]) -> dict[str, Any]:
        """A loader batch as the model reads it, on this device."""
        batch = to_model_inputs(raw)
        if self.device.type == "cpu":
            return batch
        return {
            k: v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()
        }

    def autocast(self) -> contextlib.AbstractContextManager:
        """bfloat16 autocast on CUDA when ``amp`` is on; otherwise nothing."""
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    # -- loaders --------------------------------------------------------------------------
    def train_feed(
        self, dataset: Dataset, batch_size: int, generator: torch.Generator
    ) -> TrainFeed:
        """The shuffled training batches of this rank (all of them in one process)."""
        pin = self.device.type == "cuda"
        if not self.distributed:
            loader = DataLoader(
                dataset, batch_size=batch_size, shuffle=True, generator=generator, pin_memory=pin
            )
            return TrainFeed(self, loader, None)
        parts = RankBatches(
            BatchSampler(RandomSampler(dataset, generator=generator), batch_size, False),
            self.rank,
            self.world_size,
        )
        loader = DataLoader(dataset, batch_sampler=parts, generator=generator, pin_memory=pin)
        return TrainFeed(self, loader, parts)

    def loader(self, dataset: Dataset, batch_size: int = 64) -> DataLoader:
        """The rows of ``dataset`` this rank predicts, in order: all of them in one process,
        a contiguous shard under ``torchrun`` (:func:`emobench.engine.predict.predict`
        gathers the shards)."""
        pin = self.device.type == "cuda"
        if not self.distributed:
            return DataLoader(dataset, batch_size=batch_size, pin_memory=pin)
        n = len(dataset)  # type: ignore[arg-type]
        lo, hi = n * self.rank // self.world_size, n * (self.rank + 1) // self.world_size
        return DataLoader(Subset(dataset, range(lo, hi)), batch_size=batch_size, pin_memory=pin)

    # -- collectives ----------------------------------------------------------------------
    def averaging(self, optimizers: Optimizers, feed: TrainFeed) -> Optimizers:
        """The model's optimizers, each reducing its gradients over the ranks before it
        steps (the same list in one process)."""
        if not self.distributed:
            return optimizers
        feed.averagers = [AveragedOptimizer(opt, feed) for opt, _ in optimizers]
        return [(avg, sched) for avg, (_, sched) in zip(feed.averagers, optimizers, strict=True)]

    def sync_buffers(self, model: torch.nn.Module) -> None:
        """Average the model's floating buffers (BatchNorm running statistics) over the
        ranks, so each validates the same model."""
        if not self.distributed:
            return
        with torch.no_grad():
            for buffer in model.buffers():
                if buffer.is_floating_point():
                    dist.all_reduce(buffer.data)
                    buffer.data.div_(self.world_size)

    def gather(self, part: T) -> list[T]:
        """Every rank's ``part`` (picklable; tensors on the CPU), in rank order."""
        if not self.distributed:
            return [part]
        parts: list[Any] = [None] * self.world_size
        dist.all_gather_object(parts, part)
        return parts

    def main_only(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on rank 0 alone (writing the results file); every rank
        returns rank 0's result, or raises when rank 0 failed."""
        if not self.distributed:
            return fn(*args, **kwargs)
        return self._from_main(fn, args, kwargs, then_everywhere=False)

    def main_first(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn`` on rank 0, then on the other ranks (building a cached miniature once)."""
        if not self.distributed:
            return fn(*args, **kwargs)
        return self._from_main(fn, args, kwargs, then_everywhere=True)

    def _from_main(self, fn: Callable[..., T], args: Any, kwargs: Any, then_everywhere: bool) -> T:
        message: list[Any] = [None]
        failure: BaseException | None = None
        if self.is_main:
            try:
                message = [("ok", fn(*args, **kwargs))]
            except BaseException as err:  # the other ranks must hear of it, not wait
                failure = err
                message = [("failed", f"{type(err).__name__}: {err}")]
        dist.broadcast_object_list(message, src=0)
        (status, value) = message[0]
        if failure is not None:
            raise failure
        if status == "failed":
            raise EmobenchError(f"rank 0 failed, so rank {self.rank} stops: {value}")
        return fn(*args, **kwargs) if then_everywhere and not self.is_main else value


class RankBatches(Sampler[list[int]]):
    """Rank ``rank``'s strided part ``batch[rank::world_size]`` of every batch ``batches``
    yields; a part that would be empty is the batch's first row, weighted 0 (:meth:`weights`)."""

    def __init__(self, batches: BatchSampler, rank: int, world_size: int):
        self.batches = batches
        self.rank = rank
        self.world_size = world_size

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches:
            part = batch[self.rank :: self.world_size]
            yield part if part else batch[:1]

    def __len__(self) -> int:
        return len(self.batches)

    def weights(self) -> list[float]:
        """This rank's share of each batch's rows, in batch order (they sum to 1 over the
        ranks)."""
        n, size = len(self.batches.sampler), self.batches.batch_size  # type: ignore[arg-type]
        sizes = [min(size, n - start) for start in range(0, n, size)]
        return [len(range(self.rank, s, self.world_size)) / s for s in sizes]


class TrainFeed:
    """One epoch's training batches for this rank at each iteration, as model inputs on the
    device; under ``torchrun`` it tells the averaged optimizers each batch's weight and closes
    every update a rank skipped once the model's ``train_step`` has returned (:meth:`done`)."""

    def __init__(self, run_on: Execution, loader: DataLoader, parts: RankBatches | None):
        self.run_on = run_on
        self.loader = loader
        self.parts = parts
        self.weight = 1.0
        self.averagers: list[AveragedOptimizer] = []

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self.parts is None:
            for raw in self.loader:
                yield self.run_on.inputs(raw)
            return
        for raw, weight in zip(self.loader, self.parts.weights(), strict=True):
            self.weight = weight
            yield self.run_on.inputs(raw)

    def done(self) -> None:
        """After each ``train_step``: reduce (and step) the updates this rank opened with
        ``zero_grad()`` and skipped, as the ranks that did step them expect."""
        for averager in self.averagers:
            averager.settle()


class AveragedOptimizer:
    """An optimizer whose ``step()`` first sums every rank's gradients of its parameters,
    each weighted by that rank's share of the batch (the feed's ``weight``). Everything
    else (``param_groups``, ``state``, ``state_dict``) is the wrapped optimizer's."""

    def __init__(self, optimizer: torch.optim.Optimizer, feed: TrainFeed):
        self.optimizer = optimizer
        self.feed = feed
        self.pending = False  # zero_grad() opened an update that step() has not closed

    def __getattr__(self, name: str) -> Any:
        return getattr(self.optimizer, name)

    def _settle_others(self) -> None:
        for other in self.feed.averagers:
            if other is not self:
                other.settle()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self._settle_others()
        self.settle()
        self.optimizer.zero_grad(set_to_none=set_to_none)
        self.pending = True

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        if closure is not None:
            raise EmobenchError(
                "under torchrun an optimizer step cannot take a closure: the gradients it "
                "recomputes would not be averaged over the ranks"
            )
        self._settle_others()
        self.pending = False
        if self._reduce(self.feed.weight):
            return self.optimizer.step()
        return None

    def settle(self) -> None:
        """Close an update this rank skipped: reduce with its gradients (none: zeros) and
        step like the ranks that had gradients."""
        if not self.pending:
            return
        self.pending = False
        if self._reduce(self.feed.weight):
            self.optimizer.step()

    def _reduce(self, weight: float) -> bool:
        """Weighted sum of the ranks' gradients into each parameter's ``grad``; a parameter
        no rank had a gradient for keeps none. ``True`` when any rank had a gradient."""
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        by_kind: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
        for p in params:
            if p.grad is not None and p.grad.is_sparse:
                raise EmobenchError("under torchrun, sparse gradients are not averaged")
            by_kind.setdefault((p.device, p.dtype), []).append(p)
        any_grad = False
        for (device, dtype), group in by_kind.items():
            pieces = [
                (p.grad.reshape(-1) * weight)
                if p.grad is not None
                else torch.zeros(p.numel(), device=device, dtype=dtype)
                for p in group
            ]
            has = torch.tensor(
                [float(p.grad is not None) for p in group], device=device, dtype=dtype
            )
            flat = torch.cat([*pieces, has])
            dist.all_reduce(flat)
            counts = flat[-len(group) :].tolist()
            offset = 0
            for p, count in zip(group, counts, strict=True):
                n = p.numel()
                if count > 0:
                    summed = flat[offset : offset + n].view_as(p)
                    if p.grad is None:
                        p.grad = summed.clone()
                    else:
                        p.grad.copy_(summed)
                    any_grad = True
                offset += n
        return any_grad
