"""One run from its parts: the seeds of ``--seeds``, the folds of ``--folds`` jobs, or results
files written by separate jobs (``emobench results merge``).

Parts join only when they are parts of the same run: the same protocol@version, split
digest, pack digest, model, config, overrides, epoch override and selection mode — each
mismatch is an error that names it and the files. A (fold, seed) may appear in one part only.
The joined record keeps every fold entry (each with its seed), pools the summary over all of
them, summarises each seed on its own (``per_seed``), and adds the bootstrap interval of the
metrics from the joined test predictions (:mod:`emobench.results.intervals`). A run that
lacks some of the protocol's folds for some seed is ``partial``: it is kept, and named so, but
leaderboards, comparisons and ``regress`` do not take it for a result.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd

from emobench.errors import EmobenchError
from emobench.results.intervals import RESAMPLES, bootstrap_interval, unit_predictions
from emobench.results.schema import summarise

# What must agree between parts of one run: (name, how to read it from a record).
AGREE = (
    ("protocol@version", lambda r: r["protocol"]["id"]),
    ("split digest", lambda r: r["split_digest"]),
    ("pack digest", lambda r: r["pack"]["digest"]),
    ("model", lambda r: r["model"]["name"]),
    ("config", lambda r: r["model"]["config"]),
    ("overrides", lambda r: r["model"].get("overrides", {})),
    ("epochs override", lambda r: r.get("epochs_override")),
    ("selection", lambda r: r["selection"]),
    ("linear probes", lambda r: "probe" in r),
)


def seeds_of(record: dict[str, Any]) -> list[int]:
    """The seeds a record holds (files written before ``seeds`` existed hold one)."""
    return [int(s) for s in record.get("seeds", [record["seed"]])]


def _fold_entries(record: dict[str, Any]) -> list[dict[str, Any]]:
    default = seeds_of(record)[0]
    return [{**f, "seed": f.get("seed", default)} for f in record["folds"]]


def check_parts(records: list[dict[str, Any]], names: list[str]) -> None:
    """Raise a named error unless the records are parts of one run (``names``: where each
    came from, for the message)."""
    for what, read in AGREE:
        values = [read(r) for r in records]
        if any(v != values[0] for v in values[1:]):
            shown = "; ".join(f"{n}: {v}" for n, v in zip(names, values, strict=True))
            raise EmobenchError(f"these results are not parts of one run: {what} differs ({shown})")
    seen: dict[tuple, str] = {}
    for record, name in zip(records, names, strict=True):
        for entry in _fold_entries(record):
            key = (str(entry["fold"]), entry["seed"])
            if key in seen:
                raise EmobenchError(
                    f"fold {key[0]} of seed {key[1]} is in both {seen[key]} and {name}"
                )
            seen[key] = name


def merge_parts(
    protocol: Any,
    parts: list[tuple[dict[str, Any], pd.DataFrame]],
    *,
    names: list[str] | None = None,
    n_resamples: int = RESAMPLES,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The record and predictions of the run whose parts are ``parts`` (each a record and
    its predictions). ``n_resamples=0`` leaves the interval out."""
    if not parts:
        raise EmobenchError("no results to merge")
    records = [r for r, _ in parts]
    names = names or [f"part {k + 1}" for k in range(len(parts))]
    check_parts(records, names)
    frames = []
    for (record, frame), seeds in zip(parts, (seeds_of(r) for r, _ in parts), strict=True):
        frame = frame.copy()
        if "seed" not in frame:
            frame.insert(frame.columns.get_loc("id"), "seed", seeds[0])
        frames.append(frame)
    predictions = pd.concat(frames, ignore_index=True)
    # by seed, then in the protocol's fold order (as text, fold 10 would sort before 2)
    position = {str(f): k for k, f in enumerate(records[0].get("protocol_folds") or [])}
    entries = sorted(
        (e for r in records for e in _fold_entries(r)),
        key=lambda e: (e["seed"], position.get(str(e["fold"]), len(position)), str(e["fold"])),
    )
    seeds = sorted({e["seed"] for e in entries})
    order = ["seed", "fold"] if "fold" in predictions else ["seed"]
    predictions = predictions.sort_values(order, kind="stable").reset_index(drop=True)
    first = records[0]
    record = {
        **first,
        "seeds": seeds,
        "seed": seeds[0] if len(seeds) == 1 else None,
        "folds": entries,
        "summary": summarise([e["test"] for e in entries]),
        "per_seed": {
            str(s): summarise([e["test"] for e in entries if e["seed"] == s]) for s in seeds
        },
        "aux_summary": summarise([e["aux_test"] for e in entries if e.get("aux_test")]),
        "wall_time_s": round(sum(float(r["wall_time_s"]) for r in records), 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if any("conditions" in e for e in entries):
        record["conditions"] = {
            name: summarise([e["conditions"][name] for e in entries])
            for name in entries[0]["conditions"]
        }
    if any("probe" in e for e in entries):
        probe = summarise([e["probe"] for e in entries if "probe" in e])
        record["probe"] = {**probe, **{k: first["probe"][k] for k in ("reads", "chance")}}
    protocol_folds = first.get("protocol_folds")
    if protocol_folds is not None:
        held = {s: {str(e["fold"]) for e in entries if e["seed"] == s} for s in seeds}
        want = {str(f) for f in protocol_folds}
        record["partial"] = any(held[s] != want for s in seeds)
    if len(parts) > 1:
        record["parts"] = [
            {
                "from": name,
                "seeds": seeds_of(r),
                "folds": sorted({str(f["fold"]) for f in r["folds"]}),
                "created": r.get("created"),
                "git_commit": r["provenance"].get("git_commit"),
                "wall_time_s": r["wall_time_s"],
            }
            for r, name in zip(records, names, strict=True)
        ]
    record.pop("interval", None)
    if n_resamples > 0:
        samples = unit_predictions(protocol, predictions, what=", ".join(names))
        record["interval"] = bootstrap_interval(
            samples, [protocol.primary], n_resamples=n_resamples
        )
    return record, predictions
