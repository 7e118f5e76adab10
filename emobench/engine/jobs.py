"""A run as independent parts: each seed of ``--seeds`` — and, with ``--jobs N`` > 1, each
fold of each seed — is evaluated on its own, in this process or in N local processes of
one torch thread each, and the parts are merged into one run
(:mod:`emobench.results.merge`).

A fold's result does not depend on where it runs: the fold loop reseeds every random number
generator from (seed, fold) before it builds the model, so parts run apart equal the same
folds run together in one process with the same number of torch threads.

Worker processes are forked when this process runs no other thread (Linux): they start with
everything imported, where a spawned worker first spends seconds importing torch and
scikit-learn, longer than a miniature's fold trains (figures in CHANGELOG). A fork is
safe here as it is for torch's own DataLoader workers: each worker sets one torch thread
before any work, so no OpenMP parallel region runs in it, and it reopens the pack (HDF5
handles are per process, see :meth:`emobench.pack.Pack.file`). Where another thread runs
(MediaPipe's pool after a miniature was drawn in this process, pytest-xdist's), a fork could
copy a lock that thread holds, so the workers are spawned. Prepare's ``--workers`` decide
for themselves, counting native threads too (:mod:`emobench.prepare.workers`): OpenCV's own
thread pool, which ``threading`` cannot see, hangs a child forked while it runs.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import pandas as pd

from emobench.errors import ProtocolError
from emobench.pack import Pack

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Part:
    seed: int
    folds: list[Any] | None  # None: every fold of the protocol (or those asked for)

    @property
    def name(self) -> str:
        folds = "" if self.folds is None else ", fold " + ", ".join(map(str, self.folds))
        return f"seed {self.seed}{folds}"


def plan_parts(
    fold_indices: list[Any], seeds: list[int], folds: list[Any] | None, jobs: int
) -> list[Part]:
    """One part per seed; with several jobs, one part per (seed, fold), so that N processes
    share even a single seed's folds."""
    if jobs <= 1:
        return [Part(seed, folds) for seed in seeds]
    chosen = [f for f in fold_indices if folds is None or f in folds]
    if not chosen:
        raise ProtocolError(f"no fold among {folds}; the protocol has {fold_indices}")
    return [Part(seed, [fold]) for seed in seeds for fold in chosen]


def _scaled(progress: Progress | None, k: int, n: int) -> Progress | None:
    """``progress`` of part ``k`` of ``n`` as a share of the whole run."""
    if progress is None or n == 1:
        return progress

    def report(done: int, total: int, item: str) -> None:
        progress(k * total + done, n * total, f"{item} (part {k + 1}/{n})")

    return report


def _run_part(
    evaluator: str, protocol: Any, model: str, pack: str, part: Part, options: dict[str, Any]
) -> tuple[dict[str, Any], pd.DataFrame]:
    from emobench.engine.evaluators import EVALUATORS

    return EVALUATORS.get(evaluator).run(
        protocol, model, Pack(pack), seed=part.seed, folds=part.folds, **options
    )


def start_method() -> str:
    """``fork`` when this process runs only its main thread and the platform forks, else
    ``spawn`` (see the module docstring)."""
    can_fork = "fork" in multiprocessing.get_all_start_methods()
    return "fork" if can_fork and threading.active_count() == 1 else "spawn"


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def run_parts(
    evaluator: str,
    protocol: Any,
    model: str,
    pack: Pack,
    parts: list[Part],
    *,
    jobs: int = 1,
    options: dict[str, Any] | None = None,
    progress: Progress | None = None,
    method: str | None = None,
) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """Every part's (record, predictions), in the order of ``parts``. ``method``: how worker
    processes start (default :func:`start_method`)."""
    from emobench.engine.evaluators import EVALUATORS

    options = dict(options or {})
    if jobs <= 1 or len(parts) == 1:
        runner = EVALUATORS.get(evaluator)
        return [
            runner.run(
                protocol,
                model,
                pack,
                seed=part.seed,
                folds=part.folds,
                progress=_scaled(progress, k, len(parts)),
                **options,
            )
            for k, part in enumerate(parts)
        ]
    done: dict[int, tuple[dict[str, Any], pd.DataFrame]] = {}
    context = multiprocessing.get_context(method or start_method())
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_one_thread) as pool:
        futures = {
            pool.submit(_run_part, evaluator, protocol, model, str(pack.path), part, options): k
            for k, part in enumerate(parts)
        }
        for future in as_completed(futures):
            k = futures[future]
            done[k] = future.result()
            if progress:
                progress(len(done), len(parts), f"{parts[k].name} done")
    return [done[k] for k in range(len(parts))]
