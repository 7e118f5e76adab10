"""Where results live: ``<results>/<protocol>/<model>/<run>.json`` plus ``<run>.predictions.csv``.

A results file is written atomically (temporary name, then rename), so a reader never sees a
half-written run.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from emobench.errors import EmobenchError
from emobench.results.schema import record_problem


@dataclass(frozen=True)
class Run:
    path: Path
    record: dict[str, Any]

    @property
    def model(self) -> str:
        return self.record["model"]["name"]

    @property
    def config(self) -> str:
        return self.record["model"]["config"]

    @property
    def selection(self) -> str:
        return self.record["selection"]

    @property
    def seeds(self) -> list[int]:
        """The seeds of the run (files from before ``seeds`` was written hold one)."""
        return [int(x) for x in self.record.get("seeds", [self.record["seed"]])]

    @property
    def partial(self) -> bool:
        """Whether some seed lacks some of the protocol's folds (a ``--folds`` job)."""
        return bool(self.record.get("partial", False))

    @property
    def on_other_pack(self) -> bool:
        """A ``reproduce --allow-other-pack`` re-run: not the experiment its row names."""
        return (self.record.get("reproduces") or {}).get("pack") == "other"

    @property
    def created(self) -> str:
        return self.record.get("created", "")

    @property
    def order(self) -> tuple[str, int]:
        """When it was written: the creation second, then the collision number ``write_run``
        gave files of the same second (``…-2``, ``…-3``; the first has none)."""
        match = re.search(r"T\d{6}[^-]*-(\d+)$", self.path.stem)
        return self.created, int(match.group(1)) if match else 1

    def mean(self, metric: str) -> float:
        return float(self.record["summary"][metric]["mean"])

    def std(self, metric: str) -> float:
        return float(self.record["summary"][metric]["std"])


def run_stem(record: dict[str, Any]) -> str:
    """``<config>-seed<s>[-test-oracle][-folds<k…>]-<time>``; several seeds read
    ``seeds<a>-<b>-<c>``, and a partial run names its folds."""
    oracle = "-test-oracle" if record["selection"] == "test-oracle" else ""
    stamp = record["created"][:19].replace(":", "").replace("-", "")
    seeds = [int(x) for x in record.get("seeds", [record["seed"]])]
    seed = f"seed{seeds[0]}" if len(seeds) == 1 else "seeds" + "-".join(map(str, seeds))
    folds = ""
    if record.get("partial"):
        folds = "-folds" + "-".join(sorted({str(f["fold"]) for f in record["folds"]}))
    return f"{record['model']['config']}-{seed}{oracle}{folds}-{stamp}"


def write_run(results_dir: str | Path, record: dict[str, Any], predictions: pd.DataFrame) -> Path:
    """Write a run as ``<results>/<protocol>/<model>/<stem>.json`` (a new stem per run)."""
    folder = Path(results_dir) / record["protocol"]["name"] / record["model"]["name"]
    folder.mkdir(parents=True, exist_ok=True)
    stem = run_stem(record)
    n = 1
    while (folder / f"{stem}.json").exists():
        n += 1
        stem = f"{run_stem(record)}-{n}"
    return write_record(folder / f"{stem}.json", record, predictions)


def write_record(path: Path, record: dict[str, Any], predictions: pd.DataFrame) -> Path:
    """Write ``record`` at ``path`` and its predictions beside it, each atomically, the
    predictions first (a results file never names predictions that are not there)."""
    if path.suffix != ".json":
        raise EmobenchError(f"{path}: a results file ends in .json")
    path.parent.mkdir(parents=True, exist_ok=True)
    pred_path = path.with_name(f"{path.stem}.predictions.csv")
    predictions.to_csv(pred_path.with_suffix(".tmp"), index=False)
    os.replace(pred_path.with_suffix(".tmp"), pred_path)
    record = {**record, "predictions": pred_path.name}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_runs(results_dir: str | Path, protocol: str | None = None) -> list[Run]:
    base = Path(results_dir)
    if not base.is_dir():
        return []
    pattern = f"{protocol}/*/*.json" if protocol else "*/*/*.json"
    runs = []
    for path in sorted(base.glob(pattern)):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise EmobenchError(f"{path}: unreadable results file ({err})") from err
        problem = record_problem(record)
        if problem:
            raise EmobenchError(f"{path}: {problem}")
        runs.append(Run(path, record))
    return runs


def latest_runs(runs: list[Run]) -> list[Run]:
    """The newest complete run per (model, config, selection, miniature-or-not); partial runs
    (some folds only) are parts to merge, and re-runs on another pack than the one they
    reproduce are checks of that pack: neither is a result."""
    newest: dict[tuple, Run] = {}
    kept = (r for r in runs if not r.partial and not r.on_other_pack)
    for run in sorted(kept, key=lambda r: r.order):
        key = (run.model, run.config, run.selection, run.record["pack"].get("miniature"))
        newest[key] = run
    return list(newest.values())
