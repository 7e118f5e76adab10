"""The HTML report: one self-contained page (inline CSS, inline SVG figures, a few lines of
inline JavaScript that sort the tables; nothing is fetched) built from the results files
only.

Per protocol: the leaderboard (mean ± std over folds and seeds, the bootstrap interval of
the primary metric, reported vs reproduced), each row's provenance in a ``<details>``, the
paired comparison of the top two rows, and per run its figures (metric per fold, confusion
matrix, ROC curves, robustness over the test conditions). Runs made with the checkpoint
chosen on the test fold, and runs made on the synthetic miniature, say so in their row.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emobench import __version__
from emobench.errors import EmobenchError
from emobench.metrics import METRICS
from emobench.protocols import Protocol, load_protocol
from emobench.results import plots
from emobench.results.leaderboard import leaderboard_table
from emobench.results.store import Run, load_runs


class NoResults(EmobenchError):
    """The results folder holds no results file: there is nothing to report."""


@dataclass(frozen=True)
class Report:
    """The page and what it holds."""

    html: str
    protocols: int  # protocol sections
    rows: int  # leaderboard rows over all sections


def build_report(protocols: list[str] | None, results: str | Path) -> Report:
    """The report over ``protocols`` (names or .toml paths; default: every protocol with
    results under ``results``). A named protocol without results gets a section saying so."""
    runs = load_runs(results)
    if not runs:
        raise NoResults(
            f"no results under {results}: run `emobench evaluate --protocol <name> "
            "--model <model>` first"
        )
    by_protocol: dict[str, list[Run]] = {}
    for run in runs:
        by_protocol.setdefault(run.record["protocol"]["name"], []).append(run)
    chosen = (
        [load_protocol(p) for p in protocols]
        if protocols
        else [load_protocol(name) for name in sorted(by_protocol)]
    )
    sections = [_protocol_section(p, by_protocol.get(p.name, [])) for p in chosen]
    return Report(
        _page("emobench report", results, chosen, sections),
        len(sections),
        sum(n for _, n in sections),
    )


def protocol_page(protocol: Protocol, results: str | Path) -> str:
    """The report page of one protocol (``leaderboard --format html``)."""
    section = _protocol_section(protocol, load_runs(results, protocol.name))
    return _page(f"emobench leaderboard: {protocol.id}", results, [protocol], [section])


def write_report(text: str, out: str | Path) -> Path:
    """Write ``text`` to ``out`` atomically (a temporary name beside it, then a rename)."""
    path = Path(out)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise EmobenchError(f"{path}: cannot write the report ({err})") from err
    return path


# --- one protocol --------------------------------------------------------------------------


def _protocol_section(protocol: Protocol, runs: list[Run]) -> tuple[str, int]:
    """The section's HTML and its number of leaderboard rows."""
    head = (
        f'<section class="protocol" id="{_anchor(protocol)}" '
        f'data-protocol="{escape(protocol.name)}">'
        f"<h2>{escape(protocol.id)} — {escape(protocol.title)}</h2>"
        f'<p class="meta">dataset <b>{escape(protocol.dataset)}</b> · task '
        f"<b>{escape(protocol.task)}</b> · primary metric <b>{escape(_title(protocol.primary))}"
        f"</b> ({'higher' if protocol.higher_is_better else 'lower'} is better) · paper "
        f"mapping <b>{escape(protocol.paper_mapping)}</b></p>"
    )
    table = leaderboard_table(protocol, runs)
    if table.empty:
        command = f"emobench evaluate --protocol {protocol.name} --model <model>"
        return (
            head + f'<p class="empty">No results yet: run <code>{escape(command)}</code>.</p>'
            "</section>",
            0,
        )
    by_file = {str(r.path): r for r in runs}
    ordered = [by_file[f] for f in table["file"]]
    parts = [
        head,
        _leaderboard(protocol, ordered),
        _comparison(protocol, ordered),
        _notes(protocol, ordered, table.attrs.get("partial", [])),
    ]
    parts += [_run_figures(protocol, run, i) for i, run in enumerate(ordered, 1)]
    parts.append("</section>")
    return "".join(parts), len(ordered)


def _leaderboard(protocol: Protocol, runs: list[Run]) -> str:
    arrow = "↑" if protocol.higher_is_better else "↓"
    primary = protocol.primary
    columns = [
        ("#", "num"),
        ("model", "text"),
        ("config", "text"),
        ("selection", "text"),
        ("data", "text"),
        *[(_title(m) + (f" {arrow}" if m == primary else ""), "num") for m in protocol.metrics],
        (f"95 % interval ({primary})", "num"),
        ("folds × seeds", "num"),
        (f"reported {primary}", "num"),
        ("reproduced − reported", "num"),
    ]
    header = "".join(
        f'<th data-type="{kind}" title="sort by {escape(name)}">{escape(name)}</th>'
        for name, kind in columns
    )
    rows = []
    for i, run in enumerate(runs, 1):
        record = run.record
        oracle = run.selection == "test-oracle"
        miniature = bool(record["pack"].get("miniature"))
        selection = escape(run.selection) + (
            ' <span class="badge oracle">test-oracle: selected on test</span>' if oracle else ""
        )
        data = escape(record["pack"].get("dataset", "")) + (
            ' <span class="badge miniature">miniature</span>' if miniature else ""
        )
        cells = [
            _cell(str(i), i),
            _cell(escape(run.model), run.model),
            _cell(escape(run.config), run.config),
            _cell(selection, run.selection),
            _cell(data, ("miniature " if miniature else "") + record["pack"].get("dataset", "")),
        ]
        for m in protocol.metrics:
            mean, std = _summary(record, m)
            text = "—" if mean is None else f"{mean:.4f} ± {std:.4f}"
            cells.append(_cell(text, mean, css="num"))
        low_high = _interval(record, primary)
        cells.append(
            _cell(
                "—" if low_high is None else f"[{low_high[0]:.4f}, {low_high[1]:.4f}]",
                None if low_high is None else low_high[0],
                css="num",
            )
        )
        n_folds, seeds = _n_folds(record), run.seeds
        cells.append(_cell(f"{n_folds} × {len(seeds)}", n_folds * len(seeds), css="num"))
        reported = protocol.reported.get(run.model, {})
        value = reported.get(primary)
        source = str(reported.get("source", ""))
        cells.append(
            _cell(
                "—" if value is None else f"{float(value):.4f}",
                value,
                css="num",
                title=source + (f" — {reported['note']}" if reported.get("note") else ""),
            )
        )
        mean = _summary(record, primary)[0]
        delta = None if value is None or mean is None else mean - float(value)
        cells.append(_cell("—" if delta is None else f"{delta:+.4f}", delta, css="num"))
        css = "run test-oracle" if oracle else "run"
        rows.append(
            f'<tr class="{css}" data-file="{escape(str(run.path))}">{"".join(cells)}</tr>'
            f'<tr class="provenance"><td colspan="{len(columns)}">{_provenance(run)}</td></tr>'
        )
    return (
        '<div class="table-wrap">'
        f'<table class="leaderboard" data-protocol="{escape(protocol.name)}">'
        f"<thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _cell(text: str, value: Any, *, css: str = "", title: str = "") -> str:
    """A table cell: ``text`` is HTML (already escaped), ``value`` what it sorts by."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        value = ""
    attrs = f' data-value="{escape(str(value))}"'
    if css:
        attrs += f' class="{css}"'
    if title:
        attrs += f' title="{escape(title)}"'
    return f"<td{attrs}>{text}</td>"


def _provenance(run: Run) -> str:
    record = run.record
    prov = record.get("provenance", {})
    pack = record["pack"]
    model = record["model"]
    items = [
        ("protocol", record["protocol"].get("id", record["protocol"]["name"])),
        ("split digest", record.get("split_digest", "—")),
        ("pack digest", pack.get("digest", "—")),
        ("pack", pack.get("path", "—")),
        (
            "pack content",
            f"{pack.get('dataset', '')} · {pack.get('variant', '')} · "
            f"{pack.get('n_samples', '?')} samples · miniature: "
            f"{'yes' if pack.get('miniature') else 'no'}",
        ),
        ("emobench", f"{prov.get('emobench', '—')} · git commit {prov.get('git_commit', '—')}"),
        ("model", f"{run.model} · config {run.config}"),
        ("overrides", _json(model.get("overrides", {}))),
        ("epochs override", str(record.get("epochs_override"))),
        ("selection", run.selection),
        ("seeds", ", ".join(str(s) for s in run.seeds)),
        ("libraries", _pairs(prov.get("libraries", {}))),
        ("hardware", _pairs(prov.get("hardware", {}))),
        ("wall time", f"{record['wall_time_s']:.1f} s" if "wall_time_s" in record else "—"),
        ("created", record.get("created", "—")),
        ("results file", str(run.path)),
        ("predictions", record.get("predictions", "—")),
    ]
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in items)
    settings = model.get("settings")
    config = (
        f"<dt>model settings</dt><dd><pre>{escape(_json(settings, indent=1))}</pre></dd>"
        if settings
        else ""
    )
    summary = (
        f"provenance · {escape(run.model)} · {escape(run.config)} · "
        f"{escape(record.get('created', ''))}"
    )
    return f"<details><summary>{summary}</summary><dl>{rows}{config}</dl></details>"


def _comparison(protocol: Protocol, runs: list[Run]) -> str:
    """The paired comparison of the two top rows on the primary metric, or why there is none."""
    if len(runs) < 2:
        return ""
    from emobench.results.compare import compare_runs

    a, b = runs[0], runs[1]
    try:
        c = compare_runs(protocol, a, b, protocol.primary)
    except EmobenchError as err:
        text = f"not comparable: {err}"
    else:
        text = (
            f"{c.model_a} − {c.model_b} on {_title(c.metric)}: {c.difference:+.4f} "
            f"({c.mean_a:.4f} vs {c.mean_b:.4f}; {c.level * 100:g} % interval "
            f"[{c.low:+.4f}, {c.high:+.4f}]); {c.model_a} better in {c.wins}, worse in "
            f"{c.losses}, tied in {c.ties}"
            + (f", {_title(c.metric)} undefined in {c.undefined}" if c.undefined else "")
            + f" of {c.n_pairs} (fold, seed) pairs; {c.n_samples} test samples"
        )
    return (
        f'<p class="comparison"><b>Paired comparison of the top two rows</b> '
        f"({escape(_label(a))} vs {escape(_label(b))}): {escape(text)}</p>"
    )


def _notes(protocol: Protocol, runs: list[Run], partial: list[str]) -> str:
    notes = [
        "Mean ± population std over every fold and seed; the interval is the 95 % "
        "bootstrap interval of the primary metric's mean (— where the results file has "
        "none). Click a column header to sort."
    ]
    for model, rep in protocol.reported.items():
        note = f" — {rep['note']}" if rep.get("note") else ""
        notes.append(f"Reported {model}: {rep.get('source', '')}{note}")
    if any(r.record["pack"].get("miniature") for r in runs):
        notes.append(
            f"Rows marked miniature ran on the embedded synthetic {protocol.dataset} "
            "miniature, not on the real dataset: they check the pipeline, they are not paper "
            "numbers."
        )
    if any(r.selection == "test-oracle" for r in runs):
        notes.append(
            "Rows marked test-oracle chose their checkpoint on the test fold: an optimistic "
            "upper bound, not comparable with validation-selected rows."
        )
    if partial:
        notes.append(
            f"{len(partial)} partial run(s) (some folds only) left out: join the parts with "
            "`emobench results merge`: " + ", ".join(partial)
        )
    return '<ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>"


# --- figures of one run --------------------------------------------------------------------


def _run_figures(protocol: Protocol, run: Run, rank: int) -> str:
    prefix = re.sub(r"[^A-Za-z0-9_-]", "_", f"{protocol.name}-{rank}")
    figures = [_fold_figure(protocol, run, prefix)]
    for name in protocol.task_spec.figures:  # what the task declares it can draw
        figures.append(TASK_FIGURES[name](protocol, run, prefix))
    if protocol.conditions and run.record.get("conditions"):
        figures.append(_robustness_figure(protocol, run, prefix))
    return (
        f'<section class="run-figures" data-model="{escape(run.model)}">'
        f"<h3>#{rank} {escape(_label(run))}</h3>"
        f'<div class="figures">{"".join(f for f in figures if f)}</div></section>'
    )


def _figure(name: str, svg: str, caption: str) -> str:
    """``svg`` is matplotlib's output (trusted); ``caption`` is plain text."""
    return (
        f'<figure data-plot="{escape(name)}">{svg}<figcaption>{escape(caption)}'
        "</figcaption></figure>"
    )


def _fold_figure(protocol: Protocol, run: Run, prefix: str) -> str:
    metric = protocol.primary
    default_seed = run.seeds[0]
    values: dict[int, list[tuple[int, float]]] = {}
    for entry in run.record["folds"]:
        value = entry.get("test", {}).get(metric)
        if value is not None:
            seed = entry.get("seed", default_seed)
            values.setdefault(int(seed), []).append((entry["fold"], float(value)))
    if not values:
        return ""
    svg = plots.fold_plot(values, _title(metric), f"{prefix}-folds")
    return _figure(
        "folds",
        svg,
        f"{_title(metric)} per test fold"
        + (" (one marker per seed)" if len(values) > 1 else f" (seed {next(iter(values))})"),
    )


def _confusion_figure(protocol: Protocol, run: Run, prefix: str) -> str:
    matrices = [e["confusion"] for e in run.record["folds"] if e.get("confusion") is not None]
    if not matrices:
        return ""
    matrix = np.sum([np.asarray(m, dtype=np.int64) for m in matrices], axis=0)
    classes = list(protocol.classes)
    if len(classes) != matrix.shape[0]:
        classes = [str(k) for k in range(matrix.shape[0])]
    svg = plots.confusion_plot(matrix, classes, f"{prefix}-confusion")
    return _figure(
        "confusion",
        svg,
        f"Confusion matrix summed over {len(matrices)} fold entries (rows: true class, "
        "columns: predicted)",
    )


def _roc_figure(protocol: Protocol, run: Run, prefix: str) -> str:
    name = run.record.get("predictions")
    path = run.path.parent / name if name else None
    if path is None or not path.is_file():
        return ""
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise EmobenchError(f"{path}: unreadable predictions file ({err})") from err
    try:
        targets, _, scores = protocol.task_spec.arrays_from_predictions(protocol, frame)
    except EmobenchError as err:
        return (
            f'<p class="missing">No ROC curves: {escape(str(path))}: '
            f"{escape(str(err))}.</p>"
        )
    if scores is None or not len(targets):
        return ""
    svg = plots.roc_plot(np.asarray(targets), np.asarray(scores), protocol.label, f"{prefix}-roc")
    return _figure(
        "roc",
        svg,
        f"ROC curve per label over every test prediction ({len(targets)} rows of "
        f"{path.name}; AUC in brackets)",
    )


# The figures a task can declare (``Task.figures``), by name.
TASK_FIGURES = {"confusion": _confusion_figure, "roc": _roc_figure}


def _robustness_figure(protocol: Protocol, run: Run, prefix: str) -> str:
    metric = protocol.primary
    conditions = run.record["conditions"]
    names, values = ["main test"], [_summary(run.record, metric)[0]]
    for condition in protocol.conditions:
        value = conditions.get(condition, {}).get(metric, {}).get("mean")
        if value is not None:
            names.append(condition)
            values.append(float(value))
    if len(names) < 2 or values[0] is None:
        return ""
    svg = plots.robustness_plot(names, values, _title(metric), f"{prefix}-robustness")
    return _figure(
        "robustness",
        svg,
        f"{_title(metric)} of the main test and of each test condition, mean over folds: "
        + ", ".join(f"{n} {v:.4f}" for n, v in zip(names, values, strict=True)),
    )


# --- record fields -------------------------------------------------------------------------


def _n_folds(record: dict[str, Any]) -> int:
    return len({str(e["fold"]) for e in record["folds"]})


def _summary(record: dict[str, Any], metric: str) -> tuple[float | None, float | None]:
    entry = (record.get("summary") or {}).get(metric)
    if not entry or entry.get("mean") is None:
        return None, None
    return float(entry["mean"]), float(entry.get("std") or 0.0)


def _interval(record: dict[str, Any], metric: str) -> tuple[float, float] | None:
    entry = (record.get("interval") or {}).get("metrics", {}).get(metric)
    if not entry or entry.get("low") is None:
        return None
    return float(entry["low"]), float(entry["high"])


def _label(run: Run) -> str:
    extra = " · miniature" if run.record["pack"].get("miniature") else ""
    return f"{run.model} · {run.config} · {run.selection}{extra}"


def _title(metric: str) -> str:
    return METRICS[metric].title if metric in METRICS else metric


def _anchor(protocol: Protocol) -> str:
    return "protocol-" + re.sub(r"[^A-Za-z0-9_-]", "_", protocol.name)


def _json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, sort_keys=True, default=str)


def _pairs(mapping: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in mapping.items()) or "—"


# --- the page ------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
color:#1d232a;background:#fafafa}
header,main{max-width:1400px;margin:0 auto;padding:0 24px}
header{padding-top:18px}h1{font-size:22px;margin:0 0 4px}
h2{font-size:18px;margin:0 0 4px}h3{font-size:15px;margin:18px 0 6px}
.meta,.generated{color:#58626d;margin:2px 0 10px}
nav ul{display:flex;flex-wrap:wrap;gap:6px 18px;padding:0;list-style:none}
section.protocol{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:16px 18px;
margin:18px 0}
table.leaderboard{border-collapse:collapse;width:100%;font-size:13px}
.table-wrap{overflow-x:auto}
table.leaderboard th{background:#eef1f4;text-align:left;padding:6px 8px;cursor:pointer;
user-select:none;vertical-align:bottom;min-width:3em;border-bottom:2px solid #c8ced6}
table.leaderboard th[aria-sort=ascending]::after{content:" ▲"}
table.leaderboard th[aria-sort=descending]::after{content:" ▼"}
table.leaderboard td{padding:5px 8px;border-top:1px solid #e4e7eb;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.test-oracle td{background:#fff4e5}
tr.provenance td{border-top:none;padding-top:0;white-space:normal}
details summary{cursor:pointer;color:#3d6fa5;font-size:12px}
details dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:6px 0 10px;
font-size:12px}
details dt{color:#58626d}details dd{margin:0;word-break:break-all}
details pre{margin:0;font-size:11px;white-space:pre-wrap}
.badge{display:inline-block;border-radius:10px;padding:0 7px;font-size:11px;font-weight:600;
margin-left:4px}
.badge.oracle{background:#d9480f;color:#fff}.badge.miniature{background:#e7f0fb;color:#1c5aa6}
.comparison{background:#f3f6f9;border-left:3px solid #3d6fa5;padding:6px 10px;margin:12px 0}
.notes{color:#58626d;font-size:12px;padding-left:18px}
.empty{font-style:italic}
.figures{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
figure{margin:0;background:#fff;border:1px solid #e4e7eb;border-radius:6px;padding:6px;
max-width:100%}
figure svg{display:block;max-width:100%;height:auto}
figcaption{font-size:12px;color:#58626d;max-width:420px}
"""

# numeric columns sort on data-value as numbers (empty cells last), others as text; each
# leaderboard row moves together with its provenance row
SCRIPT = """
document.querySelectorAll("table.leaderboard").forEach(function (table) {
  var heads = table.querySelectorAll("th");
  heads.forEach(function (th, col) {
    th.addEventListener("click", function () {
      var up = th.getAttribute("aria-sort") !== "ascending";
      heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.from(body.querySelectorAll("tr.run")).map(function (r) {
        return [r, r.nextElementSibling];
      });
      var num = th.dataset.type === "num";
      rows.sort(function (a, b) {
        var x = a[0].cells[col].dataset.value, y = b[0].cells[col].dataset.value;
        if (x === "" || y === "") { return (x === "") - (y === ""); }
        var c = num ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
        return up ? c : -c;
      });
      rows.forEach(function (pair) { body.appendChild(pair[0]); body.appendChild(pair[1]); });
    });
  });
});
"""


def _page(
    title: str, results: str | Path, protocols: list[Protocol], sections: list[tuple[str, int]]
) -> str:
    nav = "".join(
        f'<li><a href="#{_anchor(p)}">{escape(p.id)}</a> ({n} row{"" if n == 1 else "s"})</li>'
        for p, (_, n) in zip(protocols, sections, strict=True)
    )
    generated = (
        f"Generated {time.strftime('%Y-%m-%d %H:%M:%S %z')} by emobench {__version__} from "
        f"the results files under {Path(results)}."
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # nothing may be fetched: the page is one file, read offline
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f'<header><h1>{escape(title)}</h1><p class="generated">{escape(generated)}</p>'
        f"<nav><ul>{nav}</ul></nav></header><main>"
        + "".join(html for html, _ in sections)
        + f"</main><script>{SCRIPT}</script></body></html>\n"
    )
