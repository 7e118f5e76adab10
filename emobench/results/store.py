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
from emobench.results.schema import SCHEMA


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
    oracle = "-test-oracle" if record["selection"] == "test-oracle" else ""
    stamp = record["created"][:19].replace(":", "").replace("-", "")
    return f"{record['model']['config']}-seed{record['seed']}{oracle}-{stamp}"


def write_run(results_dir: str | Path, record: dict[str, Any], predictions: pd.DataFrame) -> Path:
    folder = Path(results_dir) / record["protocol"]["name"] / record["model"]["name"]
    folder.mkdir(parents=True, exist_ok=True)
    stem = run_stem(record)
    n = 1
    while (folder / f"{stem}.json").exists():
        n += 1
        stem = f"{run_stem(record)}-{n}"
    pred_path = folder / f"{stem}.predictions.csv"
    predictions.to_csv(pred_path.with_suffix(".tmp"), index=False)
    os.replace(pred_path.with_suffix(".tmp"), pred_path)
    record = {**record, "predictions": pred_path.name}
    path = folder / f"{stem}.json"
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
        if record.get("schema") != SCHEMA:
            raise EmobenchError(f"{path}: not an emobench results file (schema missing)")
        runs.append(Run(path, record))
    return runs


def latest_runs(runs: list[Run]) -> list[Run]:
    """The newest run per (model, config, selection, miniature-or-not)."""
    newest: dict[tuple, Run] = {}
    for run in sorted(runs, key=lambda r: r.order):
        key = (run.model, run.config, run.selection, run.record["pack"].get("miniature"))
        newest[key] = run
    return list(newest.values())
