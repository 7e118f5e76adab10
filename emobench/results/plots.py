"""The report's figures, drawn with matplotlib (Agg, no display) and returned as inline SVG
text, so that the HTML report is one self-contained file: metric per fold, confusion
matrix, ROC curves per label and the robustness curve over a protocol's test conditions.

Text stays SVG ``<text>`` (no glyph outlines, no web fonts: the browser draws it with a
local sans-serif font), and every ``id`` in a figure carries the figure's own prefix, so
that several figures inlined in one page never share a clip path or marker id.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen before pyplot loads)
import numpy as np  # noqa: E402

STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "emobench",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
SIZE = (4.2, 3.0)  # inches: two figures side by side in the report's column


def svg_text(fig: plt.Figure, prefix: str) -> str:
    """The figure as one ``<svg>`` element (no XML prologue), its ids prefixed by ``prefix``;
    the figure is closed."""
    buffer = io.StringIO()
    try:
        fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    finally:
        plt.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    ids = set(re.findall(r'\bid="([^"]+)"', text))
    if ids:
        pattern = re.compile(
            r'(\bid="|url\(#|href="#)(' + "|".join(map(re.escape, ids)) + r')(?=["\)])'
        )
        text = pattern.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", text)
    return text


def _figure(size: tuple[float, float] = SIZE) -> tuple[plt.Figure, plt.Axes]:
    """A new figure with one axes (called inside ``plt.rc_context(STYLE)``)."""
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    return fig, ax


def fold_plot(values: dict[int, list[tuple[Any, float]]], metric: str, prefix: str) -> str:
    """``values``: per seed, its (fold, metric value) pairs; one marker per fold and seed,
    folds on x in their order (a fold is a number, or ``all`` for a run without folds), the
    seeds' markers side by side."""
    with plt.rc_context(STYLE):
        fig, ax = _figure()
        seeds = sorted(values)
        width = 0.5 / max(len(seeds), 1)
        folds = list(dict.fromkeys(f for pairs in values.values() for f, _ in pairs))
        at = {f: k for k, f in enumerate(folds)}
        for k, seed in enumerate(seeds):
            pairs = sorted(values[seed], key=lambda p: at[p[0]])
            offset = (k - (len(seeds) - 1) / 2) * width if len(seeds) > 1 else 0.0
            ax.plot(
                [at[f] + offset for f, _ in pairs],
                [v for _, v in pairs],
                marker="o",
                linestyle="" if len(folds) == 1 else ":",
                label=f"seed {seed}",
            )
        ax.set_xticks(range(len(folds)), [str(f) for f in folds])
        ax.set_xlabel("fold")
        ax.set_ylabel(metric)
        if len(seeds) > 1:
            ax.legend(frameon=False, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        return svg_text(fig, prefix)


def confusion_plot(matrix: np.ndarray, classes: Sequence[str], prefix: str) -> str:
    """Counts summed over folds: rows the true class, columns the predicted one."""
    n = len(classes)
    with plt.rc_context(STYLE):
        fig, ax = _figure((max(3.2, 0.45 * n + 1.6), max(2.8, 0.4 * n + 1.4)))
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(n), classes, rotation=45, ha="right")
        ax.set_yticks(range(n), classes)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        top = matrix.max() if matrix.size else 0
        for i in range(n):
            for j in range(n):
                ax.text(
                    j,
                    i,
                    str(int(matrix[i, j])),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if top and matrix[i, j] > top / 2 else "black",
                )
        ax.spines[:].set_visible(False)
        return svg_text(fig, prefix)


def roc_plot(targets: np.ndarray, scores: np.ndarray, labels: Sequence[str], prefix: str) -> str:
    """One ROC curve per label (``targets``: 0/1 matrix, ``scores``: the label scores); a
    label without both a positive and a negative test sample has no curve and says so."""
    from sklearn.metrics import auc, roc_curve

    with plt.rc_context(STYLE):
        fig, ax = _figure((4.6, 3.4))
        for k, label in enumerate(labels):
            y = targets[:, k]
            if y.min() == y.max():
                ax.plot([], [], " ", label=f"{label} (no curve: one class)")
                continue
            fpr, tpr, _ = roc_curve(y, scores[:, k])
            ax.plot(fpr, tpr, linewidth=1.2, label=f"{label} ({auc(fpr, tpr):.2f})")
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend(frameon=False, fontsize=7, loc="lower right")
        return svg_text(fig, prefix)


def robustness_plot(names: Sequence[str], values: Sequence[float], metric: str, prefix: str) -> str:
    """The primary metric of the main test and of each test condition, in the protocol's
    order of conditions."""
    with plt.rc_context(STYLE):
        fig, ax = _figure()
        x = np.arange(len(names))
        ax.plot(x, values, marker="o")
        for xi, v in zip(x, values, strict=True):
            ax.annotate(f"{v:.3f}", (xi, v), textcoords="offset points", xytext=(0, 5), ha="center")
        ax.set_xticks(x, names, rotation=20, ha="right")
        ax.set_ylabel(metric)
        ax.margins(y=0.2)
        ax.grid(axis="y", alpha=0.3)
        return svg_text(fig, prefix)
