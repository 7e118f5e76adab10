"""Two models compared on the same test samples: the mean paired difference of a metric over
their shared (fold, seed) units, its bootstrap interval, and a sign count.

Runs pair only when they are the same experiment but for the model: the same protocol@version,
split digest, pack digest and seeds, both complete and both selected on validation (a
test-oracle run is compared only with another one). What differs is named in the error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from emobench.errors import EmobenchError
from emobench.results.intervals import RESAMPLES, paired_difference, unit_predictions
from emobench.results.store import Run

PAIRED_ON = (
    ("protocol@version", lambda r: r.record["protocol"]["id"]),
    ("split digest", lambda r: r.record["split_digest"]),
    ("pack digest", lambda r: r.record["pack"]["digest"]),
    ("seeds", lambda r: r.seeds),
    ("selection", lambda r: r.selection),
    ("epochs override", lambda r: r.record.get("epochs_override")),
)


@dataclass(frozen=True)
class Comparison:
    protocol: str
    metric: str
    model_a: str
    model_b: str
    run_a: Path
    run_b: Path
    seeds: list[int]
    mean_a: float
    mean_b: float
    difference: float  # a − b: mean over (fold, seed) units of the paired difference
    low: float
    high: float
    level: float
    n_resamples: int
    wins: int  # units where a is better than b, in the metric's direction
    losses: int
    ties: int
    undefined: int  # units where the metric is NaN for either run
    n_pairs: int  # (fold, seed) units
    n_samples: int  # tested samples the bootstrap resamples

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def predictions_of(run: Run) -> pd.DataFrame:
    """The per-sample test predictions written beside a results file."""
    path = run.path.parent / run.record.get("predictions", "")
    if not run.record.get("predictions") or not path.is_file():
        raise EmobenchError(f"{run.path}: its predictions file {path.name!r} is missing")
    try:
        return pd.read_csv(path)
    except (OSError, pd.errors.ParserError) as err:
        raise EmobenchError(f"{path}: unreadable predictions ({err})") from err


def pairing_problem(a: Run, b: Run) -> str | None:
    """Why two runs cannot be paired, or None."""
    for run in (a, b):
        if run.partial:
            return f"{run.path} is partial (some folds only)"
    for what, read in PAIRED_ON:
        if read(a) != read(b):
            return f"{what} differs ({a.path}: {read(a)}; {b.path}: {read(b)})"
    return None


def paired_runs(runs: list[Run], model_a: str, model_b: str) -> tuple[Run, Run]:
    """The newest pair of complete runs of the two models that can be paired (validation
    selection preferred); the error names what keeps the newest runs apart."""
    newest_first = sorted((r for r in runs if not r.partial), key=lambda r: r.order, reverse=True)
    of_a = [r for r in newest_first if r.model == model_a]
    of_b = [r for r in newest_first if r.model == model_b]
    for model, found in ((model_a, of_a), (model_b, of_b)):
        if not found:
            raise EmobenchError(f"no complete results of {model}: run `emobench evaluate` first")
    for selection in ("validation", "test-oracle"):
        for a in (r for r in of_a if r.selection == selection):
            for b in of_b:
                if pairing_problem(a, b) is None:
                    return a, b
    raise EmobenchError(
        f"no run of {model_a} pairs with a run of {model_b}: {pairing_problem(of_a[0], of_b[0])}"
    )


def compare_runs(
    protocol: Any,
    a: Run,
    b: Run,
    metric: str | None = None,
    *,
    n_resamples: int = RESAMPLES,
) -> Comparison:
    """Run ``a`` against run ``b`` on ``metric`` (default: the protocol's primary)."""
    metric = metric or protocol.primary
    if metric not in protocol.metrics:
        raise EmobenchError(
            f"protocol {protocol.id} does not score {metric!r}; it scores {list(protocol.metrics)}"
        )
    problem = pairing_problem(a, b)
    if problem:
        raise EmobenchError(f"these runs cannot be paired: {problem}")
    diff = paired_difference(
        unit_predictions(protocol, predictions_of(a), str(a.path)),
        unit_predictions(protocol, predictions_of(b), str(b.path)),
        metric,
        n_resamples=n_resamples,
    )
    return Comparison(
        protocol=protocol.id,
        metric=metric,
        model_a=a.model,
        model_b=b.model,
        run_a=a.path,
        run_b=b.path,
        seeds=a.seeds,
        mean_a=diff.mean_a,
        mean_b=diff.mean_b,
        difference=diff.difference,
        low=diff.low,
        high=diff.high,
        level=diff.level,
        n_resamples=diff.n_resamples,
        wins=diff.wins,
        losses=diff.losses,
        ties=diff.ties,
        undefined=diff.undefined,
        n_pairs=diff.wins + diff.losses + diff.ties + diff.undefined,
        n_samples=diff.n_samples,
    )
