"""``emobench reproduce``: re-run the experiment a results file records, and compare.

The re-run takes everything from the file — protocol (at the recorded version: a protocol
whose version moved since is refused, naming both), model, config, overrides, seeds, epoch
override, selection mode, folds, probes — and a pack whose content digest equals the recorded
one (another pack is refused unless asked for, and then the new results say so). The verdict
compares every metric of the summary, old against new, within the tolerance of the model's
reference in the protocol file (or, for a model without one, the largest tolerance the
protocol's references state; a protocol without references asks for identical numbers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emobench.errors import EmobenchError, ProtocolError
from emobench.results.schema import record_problem


def read_results(path: str | Path) -> dict[str, Any]:
    """A results file's record, or a named error."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EmobenchError(f"{path}: no such results file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise EmobenchError(f"{path}: unreadable results file ({err})") from None
    problem = record_problem(record)
    if problem:
        raise EmobenchError(f"{path}: {problem}")
    return record


def protocol_as_recorded(record: dict[str, Any], path: Path) -> Any:
    """The protocol of the record, refused when its version moved since the run."""
    from emobench.protocols import load_protocol

    recorded = record["protocol"]
    protocol = load_protocol(recorded["name"])
    if int(protocol.version) != int(recorded["version"]):
        raise ProtocolError(
            f"{path} was run under {recorded['name']}@{recorded['version']}, but the protocol "
            f"is now {protocol.id} ({protocol.path}): the numbers are not comparable; check "
            "out the emobench version of the run to reproduce it"
        )
    return protocol


def tolerance_for(protocol: Any, model: str) -> tuple[float, str]:
    """(tolerance, where it comes from)."""
    if model in protocol.reference:
        return float(protocol.reference[model]["tolerance"]), f"[reference.{model}]"
    stated = [float(r["tolerance"]) for r in protocol.reference.values()]
    if stated:
        return max(stated), f"the largest tolerance of {protocol.name}'s references"
    return 0.0, f"{protocol.name} states no tolerance: identical numbers"


def rerun_options(record: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``api.evaluate`` that repeat the recorded run."""
    from emobench.results.merge import seeds_of

    folds = None
    if record.get("partial"):
        folds = sorted({f["fold"] for f in record["folds"]})
    return {
        "seeds": seeds_of(record),
        "config": record["model"]["config"],
        "overrides": dict(record["model"].get("overrides") or {}),
        "epochs": record.get("epochs_override"),
        "select_on_test": record["selection"] == "test-oracle",
        "folds": folds,
        "probe": "probe" in record,
        "bootstrap": int((record.get("interval") or {}).get("n_resamples", 0)),
        "device": recorded_device(record),
        "amp": bool((record["provenance"].get("hardware") or {}).get("amp")),
    }


def recorded_device(record: dict[str, Any]) -> str:
    """``cuda`` or ``cpu``: where the recorded run trained (``cuda:0 (name)`` → ``cuda``)."""
    device = str((record["provenance"].get("hardware") or {}).get("device", "cpu"))
    return "cuda" if device.startswith("cuda") else "cpu"


def results_root(path: Path, record: dict[str, Any]) -> Path:
    """Where a re-run goes: the results folder the file sits in
    (``<root>/<protocol>/<model>/<file>``), else the file's own folder."""
    if (
        path.parent.name == record["model"]["name"]
        and path.parent.parent.name == record["protocol"]["name"]
    ):
        return path.parent.parent.parent
    return path.parent


@dataclass(frozen=True)
class MetricChange:
    metric: str
    old: float
    new: float

    @property
    def delta(self) -> float:
        return self.new - self.old


@dataclass(frozen=True)
class Reproduction:
    original: Path
    rerun: Path
    protocol: str
    model: str
    same_pack: bool
    tolerance: float
    tolerance_from: str
    changes: list[MetricChange]

    same_split: bool = True
    notes: tuple[str, ...] = ()  # what differs in how the re-run ran (world size, threads)

    @property
    def ok(self) -> bool:
        return (
            bool(self.changes)
            and self.same_split
            and all(abs(c.delta) <= self.tolerance + 1e-12 for c in self.changes)
        )

    @property
    def identical(self) -> bool:
        return self.ok and all(c.delta == 0 for c in self.changes)


def changes_between(old: dict[str, Any], new: dict[str, Any]) -> list[MetricChange]:
    return [
        MetricChange(m, float(old["summary"][m]["mean"]), float(new["summary"][m]["mean"]))
        for m in old["summary"]
        if m in new["summary"]
    ]
