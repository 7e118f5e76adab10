"""Regression checks: the reference numbers in each protocol file (``[reference.<model>]``,
reproduced on the embedded miniature) against the newest matching results file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from emobench.metrics import METRICS
from emobench.protocols import Protocol
from emobench.results.store import Run


@dataclass(frozen=True)
class Check:
    protocol: str
    model: str
    metric: str
    reference: float
    tolerance: float
    reproduced: float | None
    results_file: str

    @property
    def delta(self) -> float | None:
        return None if self.reproduced is None else self.reproduced - self.reference

    @property
    def ok(self) -> bool:
        return self.reproduced is not None and abs(self.delta) <= self.tolerance + 1e-12


def reference_seeds(reference: dict) -> list[int]:
    """The seeds a reference was measured with: ``seeds = [0, 1, 2]`` or ``seed = 0``."""
    return [int(s) for s in reference.get("seeds", [reference.get("seed", 0)])]


def matching_run(runs: list[Run], model: str, reference: dict) -> Run | None:
    """Newest complete, validation-selected miniature run of this model with the
    reference's config and seeds."""
    candidates = [
        r
        for r in runs
        if r.model == model
        and r.config == reference.get("config", "small")
        and r.seeds == reference_seeds(reference)
        and not r.partial
        and r.selection != "test-oracle"
        and r.record["pack"].get("miniature")
        and r.record.get("epochs_override") is None
    ]
    return max(candidates, key=lambda r: r.order) if candidates else None


def check_protocol(
    protocol: Protocol,
    runs: list[Run],
    run_missing: Callable[[str, dict], Run] | None = None,
    models: list[str] | None = None,
) -> list[Check]:
    """One check per reference number of ``protocol`` (only ``models``' when given)."""
    checks = []
    for model, reference in sorted(protocol.reference.items()):
        if models and model not in models:
            continue
        run = matching_run(runs, model, reference)
        if run is None and run_missing is not None:
            run = run_missing(model, reference)
        for metric, value in reference.items():
            if metric not in METRICS:
                continue
            checks.append(
                Check(
                    protocol=protocol.id,
                    model=model,
                    metric=metric,
                    reference=float(value),
                    tolerance=float(reference["tolerance"]),
                    reproduced=None if run is None else run.mean(metric),
                    results_file="" if run is None else str(run.path),
                )
            )
    return checks
