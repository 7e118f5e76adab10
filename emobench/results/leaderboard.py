"""Leaderboards from results files: reported (literature) vs reproduced numbers, sorted by the
protocol's primary metric in its right direction, mean ± std over folds."""

from __future__ import annotations

import io

import pandas as pd

from emobench.metrics import METRICS
from emobench.protocols import Protocol
from emobench.results.store import Run, latest_runs


def leaderboard_table(protocol: Protocol, runs: list[Run]) -> pd.DataFrame:
    rows = []
    for run in latest_runs(runs):
        reported = protocol.reported.get(run.model, {})
        row = {
            "model": run.model,
            "config": run.config,
            "selection": run.selection,
            "data": _data_label(run),
            "folds": len(run.record["folds"]),
            "seed": run.record["seed"],
        }
        for m in protocol.metrics:
            row[f"{m}_mean"] = run.mean(m)
            row[f"{m}_std"] = run.std(m)
        value = reported.get(protocol.primary)
        row[f"reported_{protocol.primary}"] = value if value is not None else float("nan")
        row["reported_source"] = reported.get("source", "")
        row["pack_digest"] = run.record["pack"]["digest"][:12]
        row["file"] = str(run.path)
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    key = f"{protocol.primary}_mean"
    return table.sort_values(
        key, ascending=not METRICS[protocol.primary].higher_is_better, kind="stable"
    ).reset_index(drop=True)


def _data_label(run: Run) -> str:
    pack = run.record["pack"]
    return "miniature" if pack.get("miniature") else pack["dataset"]


def _fmt(mean: float, std: float) -> str:
    return f"{mean:.4f} ± {std:.4f}"


def render_markdown(protocol: Protocol, table: pd.DataFrame) -> str:
    arrow = "↑" if METRICS[protocol.primary].higher_is_better else "↓"
    head = [f"# Leaderboard: {protocol.id} — {protocol.title}", ""]
    if table.empty:
        return (
            "\n".join(
                head + [f"No results yet: run `emobench evaluate --protocol {protocol.name}`."]
            )
            + "\n"
        )
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
        f"reported {protocol.primary}",
        "folds",
        "seed",
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
            "—" if pd.isna(reported) else f"{reported:.4f}",
            str(row["folds"]),
            str(row["seed"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [
        "",
        f"Sorted by {METRICS[protocol.primary].title} ({arrow}); mean ± std "
        "(population std) over folds.",
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


def render_csv(table: pd.DataFrame) -> str:
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    return buffer.getvalue()
