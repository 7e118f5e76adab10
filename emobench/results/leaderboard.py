"""Leaderboards from results files: reported (literature) vs reproduced numbers, sorted by the
protocol's primary metric in its right direction, mean ± std over folds."""

from __future__ import annotations

import io

import pandas as pd

from emobench.metrics import METRICS
from emobench.protocols import Protocol
from emobench.results.store import Run, latest_runs


def leaderboard_table(protocol: Protocol, runs: list[Run]) -> pd.DataFrame:
    """One row per newest complete run (see ``latest_runs``); the partial runs left out are
    listed in ``table.attrs["partial"]`` (their files)."""
    rows = []
    for run in latest_runs(runs):
        seeds = run.seeds
        n_folds = len({str(f["fold"]) for f in run.record["folds"]})
        interval = (run.record.get("interval") or {}).get("metrics", {}).get(protocol.primary)
        reported = protocol.reported.get(run.model, {})
        row = {
            "model": run.model,
            "config": run.config,
            "selection": run.selection,
            "data": _data_label(run),
            "folds": n_folds,
            "seeds": ",".join(map(str, seeds)),
            "folds_x_seeds": f"{n_folds} × {len(seeds)}",
        }
        for m in protocol.metrics:
            row[f"{m}_mean"] = run.mean(m)
            row[f"{m}_std"] = run.std(m)
        row[f"{protocol.primary}_low"] = interval["low"] if interval else float("nan")
        row[f"{protocol.primary}_high"] = interval["high"] if interval else float("nan")
        value = reported.get(protocol.primary)
        row[f"reported_{protocol.primary}"] = value if value is not None else float("nan")
        row["reported_source"] = reported.get("source", "")
        row["pack_digest"] = run.record["pack"]["digest"][:12]
        row["file"] = str(run.path)
        rows.append(row)
    table = pd.DataFrame(rows)
    partial = [str(r.path) for r in runs if r.partial]
    if not table.empty:
        key = f"{protocol.primary}_mean"
        table = table.sort_values(
            key, ascending=not METRICS[protocol.primary].higher_is_better, kind="stable"
        ).reset_index(drop=True)
    table.attrs["partial"] = partial
    return table


def _data_label(run: Run) -> str:
    pack = run.record["pack"]
    return "miniature" if pack.get("miniature") else pack["dataset"]


def _fmt(mean: float, std: float) -> str:
    return f"{mean:.4f} ± {std:.4f}"


def _partial_note(table: pd.DataFrame) -> list[str]:
    partial = table.attrs.get("partial", [])
    if not partial:
        return []
    return [
        f"{len(partial)} partial run(s) (some folds only) left out: join the parts with "
        "`emobench results merge`: " + ", ".join(f"`{p}`" for p in partial)
    ]


def render_markdown(protocol: Protocol, table: pd.DataFrame) -> str:
    arrow = "↑" if METRICS[protocol.primary].higher_is_better else "↓"
    head = [f"# Leaderboard: {protocol.id} — {protocol.title}", ""]
    if table.empty:
        empty = [f"No results yet: run `emobench evaluate --protocol {protocol.name}`."]
        return "\n".join(head + empty + _partial_note(table)) + "\n"
    metric_cols = [
        METRICS[m].title + (f" {arrow}" if m == protocol.primary else "") for m in protocol.metrics
    ]
    header = [
        "#",
        "model",
        "config",
        "selection",
        "data",
        *metric_cols,
        f"95 % interval ({protocol.primary})",
        f"reported {protocol.primary}",
        "folds × seeds",
        "seeds",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, row in table.iterrows():
        selection = row["selection"]
        if selection == "test-oracle":
            selection = "**test-oracle** (selected on test)"
        reported = row[f"reported_{protocol.primary}"]
        cells = [
            str(i + 1),
            row["model"],
            row["config"],
            selection,
            row["data"],
            *[_fmt(row[f"{m}_mean"], row[f"{m}_std"]) for m in protocol.metrics],
            _interval(row, protocol.primary),
            "—" if pd.isna(reported) else f"{reported:.4f}",
            row["folds_x_seeds"],
            row["seeds"],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [
        "",
        f"Sorted by {METRICS[protocol.primary].title} ({arrow}); mean ± std "
        "(population std) over folds and seeds; the interval is a 95 % bootstrap of the test "
        "samples (— where the run has none).",
        *_partial_note(table),
    ]
    for model, rep in protocol.reported.items():
        note = f" — {rep['note']}" if rep.get("note") else ""
        notes.append(f"Reported {model}: {rep.get('source', '')}{note}")
    if (table["data"] == "miniature").any():
        notes.append(
            f"Rows marked `miniature` ran on the embedded synthetic {protocol.dataset} "
            "miniature, not on the real dataset: they check the pipeline, they are not paper "
            "numbers."
        )
    return "\n".join(head + lines + notes) + "\n"


def _interval(row: pd.Series, metric: str) -> str:
    low, high = row[f"{metric}_low"], row[f"{metric}_high"]
    return "—" if pd.isna(low) else f"[{low:.4f}, {high:.4f}]"


def render_csv(table: pd.DataFrame) -> str:
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    return buffer.getvalue()
