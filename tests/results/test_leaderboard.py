"""Leaderboards: sorted by the protocol's primary metric in its direction, ties kept in run
order, the newest run per row, test-oracle and miniature rows labelled."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from emobench.protocols import load_protocol
from emobench.results.leaderboard import leaderboard_table, render_csv, render_markdown


def classification_run(run, model, uar, *, war=0.5, created="2025-01-01T00:00:00+0000", **kw):
    return run("p3", model, war=war, uar=uar, wf1=0.4, created=created, name=f"{model}.json", **kw)


def regression_run(run, model, mae, *, ccc=0.5, created="2025-01-01T00:00:00+0000"):
    return run("p5", model, mae=mae, rmse=2 * mae, ccc=ccc, created=created, name=f"{model}.json")


def table_rows(markdown: str) -> list[list[str]]:
    """The body rows of the markdown table, as cells."""
    rows = [line for line in markdown.splitlines() if line.startswith("| ")][1:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in rows]


def test_higher_is_better_primary_sorts_descending(run) -> None:
    protocol = load_protocol("p3")  # primary UAR, higher is better
    runs = [
        # WAR sorts the other way round: the table must follow the primary metric, not WAR
        classification_run(run, "a", 0.50, war=0.9),
        classification_run(run, "b", 0.80, war=0.1),
        classification_run(run, "c", 0.65, war=0.5),
    ]
    table = leaderboard_table(protocol, runs)
    assert list(table["model"]) == ["b", "c", "a"]
    assert list(table["uar_mean"]) == [0.80, 0.65, 0.50]
    markdown = render_markdown(protocol, table)
    assert [(r[0], r[1]) for r in table_rows(markdown)] == [("1", "b"), ("2", "c"), ("3", "a")]
    assert "UAR (macro recall) ↑" in markdown and "↓" not in markdown


def test_lower_is_better_primary_sorts_ascending(run) -> None:
    protocol = load_protocol("p5")  # primary MAE, lower is better
    runs = [
        regression_run(run, "a", 0.30, ccc=0.9),
        regression_run(run, "b", 0.10, ccc=0.1),
        regression_run(run, "c", 0.20, ccc=0.5),
    ]
    table = leaderboard_table(protocol, runs)
    assert list(table["model"]) == ["b", "c", "a"]
    markdown = render_markdown(protocol, table)
    assert [r[1] for r in table_rows(markdown)] == ["b", "c", "a"]
    assert "MAE ↓" in markdown and "Sorted by MAE (↓)" in markdown


@pytest.mark.parametrize("protocol_name", ["p3", "p5"])
def test_ties_keep_the_order_of_the_runs(run, protocol_name) -> None:
    """Many tied rows (a sort that is not stable reorders ties once there are more than a
    handful): within a tie, rows stay in the order of their runs' creation."""
    protocol = load_protocol(protocol_name)
    rng = np.random.default_rng(0)
    values = rng.choice([0.2, 0.4, 0.6], size=60)
    runs = []
    for i, value in enumerate(values):
        created = f"2025-01-01T00:{i // 60:02d}:{i % 60:02d}+0000"
        model = f"m{i:02d}"
        if protocol_name == "p3":
            runs.append(classification_run(run, model, value, created=created))
        else:
            runs.append(regression_run(run, model, value, created=created))
    runs.reverse()  # the order given does not matter; creation time does
    table = leaderboard_table(protocol, runs)
    descending = protocol_name == "p3"
    expected = sorted(
        ((v, f"m{i:02d}") for i, v in enumerate(values)),
        key=lambda pair: -pair[0] if descending else pair[0],
    )  # Python's sort is stable: ties stay in m00, m01, ... order
    assert list(table["model"]) == [model for _, model in expected]


def test_newest_run_per_model_config_selection_and_data(run) -> None:
    protocol = load_protocol("p3")
    old = classification_run(run, "a", 0.9, created="2025-01-01T00:00:00+0000")
    new = classification_run(run, "a", 0.3, created="2025-02-01T00:00:00+0000")
    paper = classification_run(run, "a", 0.5, config="paper")
    table = leaderboard_table(protocol, [new, old, paper])
    assert sorted(zip(table["config"], table["uar_mean"], strict=True)) == [
        ("paper", 0.5),
        ("small", 0.3),  # the newer run replaces the older one, although it scores lower
    ]


def test_test_oracle_rows_are_marked(run) -> None:
    protocol = load_protocol("p3")
    runs = [
        classification_run(run, "a", 0.9, selection="test-oracle"),
        classification_run(run, "b", 0.5),
    ]
    markdown = render_markdown(protocol, leaderboard_table(protocol, runs))
    selection = {row[1]: row[3] for row in table_rows(markdown)}
    assert selection == {"a": "**test-oracle** (selected on test)", "b": "validation"}


def test_miniature_rows_are_labelled_and_noted(run) -> None:
    protocol = load_protocol("p3")
    mini = classification_run(run, "a", 0.7)
    real = classification_run(run, "b", 0.6, miniature=False, dataset="emer")
    table = leaderboard_table(protocol, [mini, real])
    assert dict(zip(table["model"], table["data"], strict=True)) == {"a": "miniature", "b": "emer"}
    note = "Rows marked `miniature` ran on the embedded synthetic emer miniature"
    assert note in render_markdown(protocol, table)
    assert note not in render_markdown(protocol, leaderboard_table(protocol, [real]))


def test_reported_numbers_come_from_the_protocol(run) -> None:
    protocol = load_protocol("dfew")
    reported = protocol.reported["mae-dfer"]["uar"]
    runs = [
        run("dfew", "mae-dfer", war=0.5, uar=0.4, name="x.json", dataset="dfew"),
        run("dfew", "face-only", war=0.5, uar=0.3, name="y.json", dataset="dfew"),
    ]
    table = leaderboard_table(protocol, runs)
    assert table.loc[0, "reported_uar"] == reported
    assert np.isnan(table.loc[1, "reported_uar"])
    cells = {row[1]: row for row in table_rows(render_markdown(protocol, table))}
    assert f"{reported:.4f}" in cells["mae-dfer"] and "—" in cells["face-only"]
    assert "0.4000 ± 0.0100" in cells["mae-dfer"]  # mean ± std of the summary


def test_csv_holds_the_table(run) -> None:
    protocol = load_protocol("p3")
    runs = [classification_run(run, "a", 0.5), classification_run(run, "b", 0.8)]
    table = leaderboard_table(protocol, runs)
    parsed = pd.read_csv(io.StringIO(render_csv(table)))
    assert list(parsed.columns) == list(table.columns)
    assert list(parsed["model"]) == ["b", "a"]
    assert list(parsed["uar_mean"]) == [0.8, 0.5]


def test_empty_leaderboard_says_how_to_fill_it() -> None:
    protocol = load_protocol("p3")
    table = leaderboard_table(protocol, [])
    assert table.empty
    assert "No results yet: run `emobench evaluate --protocol p3`" in render_markdown(
        protocol, table
    )
