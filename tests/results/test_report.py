"""The HTML report read as text (no browser): its sections, rows, badges, figures,
provenance and escaping, over real runs made on the miniatures, plus ``leaderboard --format
html`` and the error on an empty results folder."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emobench import api
from emobench.cli import app
from emobench.errors import EmobenchError
from emobench.results.report import NoResults
from emobench.results.store import load_runs


def real_results(root: Path, emer_pack: Path, emoreact_pack: Path, levels_pack: Path) -> Path:
    """Real runs under ``root/results`` (made once; a second call finds them): on p3 the
    majority baseline selected on validation and on the test fold; on emoreact-face
    (multilabel: ROC curves) majority and TSN trained one epoch with two seeds; majority on
    emoreact-mask-robustness (test conditions: a robustness curve)."""
    results = root / "results"
    if (root / "done").exists():
        return results
    shutil.rmtree(results, ignore_errors=True)
    quick = {"results": results, "bootstrap": 200}
    api.evaluate("p3", "majority", emer_pack, **quick)
    api.evaluate("p3", "majority", emer_pack, select_on_test=True, **quick)
    api.evaluate("emoreact-face", "majority", emoreact_pack, **quick)
    api.evaluate("emoreact-face", "tsn", emoreact_pack, epochs=1, seeds=[0, 1], **quick)
    api.evaluate("emoreact-mask-robustness", "majority", levels_pack, **quick)
    (root / "done").touch()
    return results


@pytest.fixture(scope="session")
def report_results(tmp_path_factory, emer_pack, emoreact_pack, emoreact_levels_pack) -> Path:
    return real_results(
        tmp_path_factory.getbasetemp() / "report-runs",
        emer_pack,
        emoreact_pack,
        emoreact_levels_pack,
    )


@pytest.fixture(scope="module")
def page(report_results, tmp_path_factory) -> str:
    out = api.report(tmp_path_factory.mktemp("report") / "report.html", results=report_results)
    return out.read_text(encoding="utf-8")


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside each ``<tr>``."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.rows: list[tuple[dict[str, str], str]] = []
        self._row: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attributes))
        if tag == "tr":
            self.rows.append((attributes, ""))
            self._row = []

    def handle_endtag(self, tag):
        if tag == "tr" and self._row is not None:
            attrs, _ = self.rows[-1]
            self.rows[-1] = (attrs, "".join(self._row))
            self._row = None

    def handle_data(self, data):
        if self._row is not None:
            self._row.append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())
        ]

    def run_rows(self) -> dict[str, tuple[str, str]]:
        """Per results file: (class of its leaderboard row, the row's text)."""
        return {
            a["data-file"]: (a["class"], text)
            for a, text in self.rows
            if "run" in a.get("class", "").split()
        }


def test_sections_rows_and_figures(page, report_results):
    doc = Elements(page)
    sections = {a["data-protocol"] for a in doc.find("section") if "data-protocol" in a}
    assert sections == {"p3", "emoreact-face", "emoreact-mask-robustness"}
    runs = load_runs(report_results)
    assert set(doc.run_rows()) == {str(r.path) for r in runs}
    assert len(doc.find("tr", **{"class": "provenance"})) == len(runs)
    plots = [a["data-plot"] for a in doc.find("figure")]
    # p3: two runs, each with its folds and its confusion matrix; emoreact-face: two runs
    # with folds and ROC; the robustness protocol: folds, ROC and the robustness curve
    assert plots.count("folds") == 5 and plots.count("confusion") == 2
    assert plots.count("roc") == 3 and plots.count("robustness") == 1
    # the two rows of p3 differ in their selection, those of emoreact-face in their seeds:
    # the paired comparison says why there is none
    for protocol, differs in (("p3", "selection"), ("emoreact-face", "seeds")):
        section = re.search(rf'data-protocol="{protocol}">.*?</section>', page, re.S).group(0)
        assert re.search(rf'class="comparison">.*not comparable: .*{differs} differs', section)
    assert page.count("<svg") == len(plots) and page.count("<figcaption>") == len(plots)
    # nothing to fetch: every link and reference points inside the page
    assert "<link" not in page and "@import" not in page and "url(http" not in page
    assert all(a.get(k, "#").startswith("#") for _, a in doc.tags for k in ("src", "href"))


def test_rows_say_what_they_are(page, report_results):
    rows = Elements(page).run_rows()
    runs = {str(r.path): r for r in load_runs(report_results)}
    for path, (css, text) in rows.items():
        run = runs[path]
        oracle = run.selection == "test-oracle"
        assert ("test-oracle" in css.split()) == oracle
        assert ("test-oracle: selected on test" in text) == oracle
        assert "miniature" in text  # every run here was made on a miniature
        folds = {f["fold"] for f in run.record["folds"]}
        assert f"{len(folds)} × {len(run.record['seeds'])}" in text
        interval = run.record["interval"]["metrics"][run.record["primary"]]
        assert f"[{interval['low']:.4f}, {interval['high']:.4f}]" in text
        mean = run.record["summary"][run.record["primary"]]
        assert f"{mean['mean']:.4f} ± {mean['std']:.4f}" in text
    assert sum("test-oracle" in css.split() for css, _ in rows.values()) == 1


def test_provenance_and_robustness(page, report_results):
    run = load_runs(report_results, "emoreact-mask-robustness")[0]
    robust = run.record
    details = re.findall(r"<details>.*?</details>", page, flags=re.S)
    assert len(details) == len(load_runs(report_results))
    block = next(d for d in details if str(run.path) in d)
    for value in (
        robust["split_digest"],
        robust["protocol"]["id"],
        robust["pack"]["digest"],
        robust["pack"]["path"],
        robust["provenance"]["git_commit"],
        robust["created"],
        robust["predictions"],
    ):
        assert value in block
    caption = re.search(r'data-plot="robustness".*?<figcaption>(.*?)</figcaption>', page, re.S)
    for condition in ("chin_only", "nose_exposed", "full"):  # the protocol's order
        value = robust["conditions"][condition]["roc_auc_micro"]["mean"]
        assert f"{condition} {value:.4f}" in caption.group(1)
    names = re.findall(r"([\w ]+) -?\d\.\d{4}", caption.group(1).split(": ", 1)[1])
    names = [n.strip() for n in names]
    assert names == ["main test", "chin_only", "nose_exposed", "full"]


@pytest.fixture(scope="module")
def edited_results(report_results, tmp_path_factory) -> Path:
    """A copy of the emoreact-face run with hand-edited fields: a model name that is HTML,
    then the same run as ``tsn`` (which has a reported number) on a real dataset without an
    interval."""
    source = load_runs(report_results, "emoreact-face")[0]
    root = tmp_path_factory.mktemp("edited")
    for model, edit in (
        ("<script>alert('x')</script>", {}),
        ("tsn", {"pack": {**source.record["pack"], "miniature": False}, "interval": None}),
    ):
        record = {**source.record, **edit, "model": {**source.record["model"], "name": model}}
        folder = root / "emoreact-face" / re.sub(r"\W", "_", model)
        folder.mkdir(parents=True)
        shutil.copy(source.path.parent / record["predictions"], folder)
        (folder / source.path.name).write_text(json.dumps(record), encoding="utf-8")
    return root


def test_text_is_escaped_and_reported_numbers_shown(edited_results, tmp_path):
    page = api.report(tmp_path / "r.html", results=edited_results).read_text(encoding="utf-8")
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    rows = Elements(page).run_rows()
    tsn = next(text for path, (_, text) in rows.items() if Path(path).parent.name == "tsn")
    majority = load_runs(edited_results, "emoreact-face")[0].record
    mean = majority["summary"]["roc_auc_micro"]["mean"]
    assert "0.7690" in tsn and f"{mean - 0.769:+.4f}" in tsn  # reported 0.769 in the protocol
    assert "miniature" not in tsn and "—" in tsn  # real data, no interval
    # the same run twice pairs with itself: no difference, every (fold, seed) pair a tie
    comparison = re.search(r'<p class="comparison">(.*?)</p>', page, re.S).group(1)
    assert "on ROC AUC (micro): +0.0000" in comparison and "tied in 1 of 1" in comparison


def test_named_protocol_without_results(report_results, tmp_path):
    page = api.report(tmp_path / "r.html", ["p3", "p1"], results=report_results).read_text(
        encoding="utf-8"
    )
    p1 = re.search(r'<section class="protocol" id="protocol-p1".*?</section>', page, re.S)
    assert "No results yet" in p1.group(0)
    assert "emobench evaluate --protocol p1 --model &lt;model&gt;" in p1.group(0)
    assert 'data-protocol="emoreact-face"' not in page


def test_leaderboard_html(report_results):
    page = api.leaderboard("p3", fmt="html", results=report_results)
    doc = Elements(page)
    assert {a["data-protocol"] for a in doc.find("section") if "data-protocol" in a} == {"p3"}
    assert len(doc.run_rows()) == 2
    with pytest.raises(EmobenchError, match="md, csv or html"):
        api.leaderboard("p3", fmt="pdf", results=report_results)


def test_cli_report_and_empty_results(report_results, tmp_path):
    runner = CliRunner()
    out = tmp_path / "sub" / "r.html"
    result = runner.invoke(app, ["report", "--out", str(out), "--results", str(report_results)])
    assert result.exit_code == 0, result.output
    assert str(out) in result.output and "3 protocols, 5 rows" in result.output
    assert out.is_file() and list(out.parent.iterdir()) == [out]  # no temporary file left
    empty = tmp_path / "empty"
    with pytest.raises(NoResults, match=f"no results under {re.escape(str(empty))}"):
        api.report(tmp_path / "x.html", results=empty)
    result = runner.invoke(
        app, ["report", "--out", str(tmp_path / "x.html"), "--results", str(empty)]
    )
    assert result.exit_code == 1 and "emobench evaluate" in result.output
    assert not (tmp_path / "x.html").exists()


def test_a_run_without_folds_is_drawn(record, tmp_path):
    """A spotting run's one fold is ``all``, not a number (the report once crashed on it)."""
    means = {"apex_within2": 0.5, "apex_within1": 0.3, "apex_within3": 0.6, "apex_mae": 2.5}
    spotting = record("apex-spotting", "motion", dataset="masked", folds=1, **means)
    spotting["folds"][0]["fold"] = "all"
    folder = tmp_path / "results" / "apex-spotting" / "motion"
    folder.mkdir(parents=True)
    (folder / "none-seed0-20260101T000000.json").write_text(json.dumps(spotting))
    html = api.report(tmp_path / "r.html", results=tmp_path / "results").read_text()
    assert 'data-plot="folds"' in html and "apex-spotting@1" in html
