"""The library behind every command: one function per ``emobench`` command, which the CLI
only parses for and renders, and which tests and notebooks call directly.

Functions that fall back to the embedded miniature when no data is given call ``notice``
with a sentence saying so (the CLI prints it), and take ``progress(done, total, what)``
callbacks for long work.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from emobench.errors import EmobenchError, ProtocolError
from emobench.pack import Pack

if TYPE_CHECKING:  # protocols pull in scikit-learn: imported by the functions that need them
    from emobench.protocols import Protocol

Progress = Callable[[int, int, str], None]
Notice = Callable[[str], None]


def _quiet(*_: Any) -> None:
    return None


def miniature_notice(what: str, dataset: str) -> str:
    return (
        f"No {what} given: using the embedded {dataset} miniature (synthetic data in the "
        f"official layout, built by `emobench synth {dataset}`; not the real dataset)."
    )


def synth(
    dataset: str, out: str | Path, *, seed: int = 0, progress: Progress | None = None
) -> dict[str, Any]:
    """Write the deterministic miniature of ``dataset`` in its official raw layout."""
    from emobench.datasets.registry import write_miniature

    return write_miniature(dataset, Path(out), seed=seed, progress=progress)


def setup_body_model(*, wheel: str | Path | None = None, progress: Progress | None = None) -> Path:
    """Build MediaPipe's pose-landmarker model (for ``prepare --body-box pose``) from the
    ``mediapipe==0.10.21`` wheel of the package registry, or from ``wheel`` on disk, into
    ``$EMOBENCH_HOME/models``; returns its path (at once when it is already built)."""
    from emobench.prepare.body_model import setup_body_model as build

    return build(wheel=Path(wheel) if wheel else None, progress=progress)


def preview_masks(image: str | Path, out: str | Path) -> Any:
    """Draw every mask style at every coverage level on the face of ``image``, as one PNG
    grid at ``out`` (what ``prepare --mask`` would draw)."""
    from emobench.prepare.mask_preview import preview_masks as draw

    return draw(Path(image), Path(out))


def miniature_raw_for(dataset: str, progress: Progress | None = None) -> Path:
    """The raw miniature folder of ``dataset`` (synthesised on first use, then cached)."""
    from emobench.miniature import miniature_raw

    return miniature_raw(dataset, progress)


def prepare(
    dataset: str,
    src: str | Path,
    out: str | Path,
    *,
    options: dict[str, Any] | None = None,
    compression: str | None = None,
    strict: bool = False,
    columns: str | dict[str, str] | None = None,
    layout: str | None = None,
    workers: int = 1,
    progress: Progress | None = None,
):
    """Prepare the raw dataset at ``src`` into the pack ``out``: the adapter reads the
    official layout, the registered prepare steps that apply run on every sample
    (``options``: their settings by option key, e.g. ``{"frames": 16}``), and the pack is
    written atomically. Returns the prepare report (skips, exclusions, digest)."""
    from emobench.datasets.coding_sheet import parse_column_mapping
    from emobench.prepare.pipeline import prepare_dataset

    mapping = parse_column_mapping(columns) if isinstance(columns, str) else columns
    return prepare_dataset(
        dataset,
        src,
        out,
        options={k: v for k, v in (options or {}).items() if v is not None},
        compression=compression,
        strict=strict,
        columns=mapping,
        layout=layout,
        workers=workers,
        progress=progress,
    )


def miniature_pack_for(
    dataset: str,
    progress_synth: Progress | None = None,
    progress_prepare: Progress | None = None,
    **options: Any,
) -> Path:
    """The prepared miniature pack of ``dataset`` (built on first use, then cached)."""
    from emobench.miniature import miniature_pack

    return miniature_pack(dataset, progress_synth, progress_prepare, **options)


def info(
    pack: str | Path | None = None,
    *,
    notice: Notice = _quiet,
    progress_prepare: Progress | None = None,
) -> dict[str, Any]:
    """Schema, sample and label counts, presence, folds and digest of a pack (default: the
    EMER miniature, prepared on first use)."""
    if pack is None:
        notice(miniature_notice("pack", "emer"))
        pack = miniature_pack_for("emer", progress_prepare=progress_prepare)
    p = Pack(pack)
    data = p.info()
    samples = p.samples
    label_columns = p.label_columns or [c for c in samples if c not in ("id", "subject", "fold")]
    data["labels"] = {  # class-name labels: counts per class (numeric labels have no classes)
        c: {str(k): int(v) for k, v in samples[c].value_counts().sort_index().items()}
        for c in label_columns
        if c in samples and not pd.api.types.is_numeric_dtype(samples[c])
    }
    data["folds"] = (
        {str(k): int(v) for k, v in samples["fold"].value_counts().sort_index().items()}
        if "fold" in samples
        else {}
    )
    data["audits"] = {step: lines for step, (lines, _) in step_audits(p).items() if lines}
    return data


def step_audits(p: Pack) -> dict[str, tuple[list[str], list[str]]]:
    """Each recorded prepare step's audit of the pack: (lines for info, problems)."""
    from emobench.prepare.step import STEPS

    return {
        name: STEPS.get(name).audit(p, settings)
        for name, settings in p.steps.items()
        if name in STEPS
    }


@dataclass(frozen=True)
class Verification:
    n_samples: int
    digest: str
    problems: list[str]  # one line per problem; empty when the pack is intact


def verify(pack: str | Path, *, progress: Progress | None = None) -> Verification:
    """Re-hash every array and attribute of a pack. A pack that cannot be opened, or whose
    damage crashes the HDF5 library (it runs in a child process), is one problem."""
    from emobench.isolated import ChildCrashed, call_isolated

    if not Path(pack).is_file():
        Pack(pack)  # the named error for a missing pack or a folder (bad input, not damage)
    try:
        return call_isolated(_verify, str(pack), progress=progress, what=f"reading {pack}")
    except ChildCrashed as err:
        return Verification(0, "", [str(err)])


def _verify(path: str, progress: Progress | None = None) -> Verification:
    from emobench.errors import PackError

    try:
        p = Pack(path)
    except PackError as err:  # the file exists: damaged, foreign or of another schema
        return Verification(0, "", [str(err)])
    try:
        problems = p.verify(progress)
        if not problems:  # the steps' own checks (the unpairing audit) on intact content
            problems = [x for _, found in step_audits(p).values() for x in found]
    except Exception as err:  # a structure damaged in a way verify did not foresee
        problems = [f"{path}: unreadable ({type(err).__name__}: {err})"]
    return Verification(len(p), p.digest, problems)


def open_checked(pack: str | Path) -> Pack:
    """The pack, once its structure, table, hashes and attributes were read in a child
    process and found to give its content digest (so damage is a named error, never a crash
    of the process that trains)."""
    from emobench.errors import PackCorrupt
    from emobench.isolated import ChildCrashed, call_isolated

    try:
        call_isolated(_check, str(pack), what=f"reading {pack}")
    except ChildCrashed as err:
        raise PackCorrupt(str(err)) from None
    return Pack(pack)


def _check(path: str, progress: Progress | None = None) -> None:
    Pack(path).check_digest()


@dataclass(frozen=True)
class EvaluateRun:
    record: dict[str, Any]
    path: Path  # the results file


def evaluate(
    protocol: str | Protocol,
    model: str,
    pack: str | Path | None = None,
    *,
    seed: int = 0,
    config: str = "small",
    folds: list[int] | None = None,
    epochs: int | None = None,
    select_on_test: bool = False,
    results: str | Path = "results",
    overrides: dict[str, Any] | None = None,
    probe: bool = False,
    progress: Progress | None = None,
    progress_synth: Progress | None = None,
    progress_prepare: Progress | None = None,
    notice: Notice = _quiet,
) -> EvaluateRun:
    """Run ``model`` under ``protocol`` (on the miniature when no ``pack`` is given) and write
    the results file and its predictions under ``results``."""
    from emobench.engine.evaluators import evaluator_for
    from emobench.protocols import Protocol, load_protocol
    from emobench.results.store import write_run

    proto = protocol if isinstance(protocol, Protocol) else load_protocol(protocol)
    evaluator = evaluator_for(proto)
    if pack is None:
        notice(miniature_notice("--pack", proto.dataset))
        pack = miniature_pack_for(
            proto.dataset,
            progress_synth,
            progress_prepare,
            **evaluator.miniature_options(proto, model),
        )
    record, predictions = evaluator.run(
        proto,
        model,
        open_checked(pack),
        config=config,
        seed=seed,
        select_on_test=select_on_test,
        folds=folds,
        epochs=epochs,
        overrides=overrides,
        progress=progress,
        probe=probe,
    )
    return EvaluateRun(record, write_run(results, record, predictions))


def leaderboard(protocol: str, *, fmt: str = "md", results: str | Path = "results") -> str:
    """The protocol's leaderboard from the results files, as Markdown or CSV text."""
    from emobench.protocols import load_protocol
    from emobench.results.leaderboard import leaderboard_table, render_csv, render_markdown
    from emobench.results.store import load_runs

    if fmt not in ("md", "csv"):
        raise EmobenchError(f"--format must be md or csv, not {fmt!r}")
    proto = load_protocol(protocol)
    table = leaderboard_table(proto, load_runs(results, proto.name))
    return render_markdown(proto, table) if fmt == "md" else render_csv(table)


def regress(
    protocols: list[str] | None = None,
    models: list[str] | None = None,
    *,
    results: str | Path = "results",
    rerun: bool = False,
    progress_for: Callable[[str], Progress] | None = None,
    notice: Notice = _quiet,
) -> list:
    """One check per reference number of the chosen protocols (default: all) and models;
    a reference without a matching results file is first evaluated on the miniature
    (``progress_for(what)`` gives a fresh progress callback for each such run)."""
    from emobench.protocols import all_protocols, load_protocol
    from emobench.results.regress import check_protocol
    from emobench.results.store import Run, load_runs

    protos = [load_protocol(p) for p in protocols] if protocols else all_protocols()
    unmatched = sorted(set(models or ()) - {m for p in protos for m in p.reference})
    if unmatched:
        raise ProtocolError(
            f"no reference numbers for model(s) {', '.join(unmatched)} in protocol(s) "
            f"{', '.join(p.name for p in protos)}"
        )
    checks = []
    for proto in protos:
        if not proto.reference:
            continue

        def run_missing(model: str, reference: dict, proto: Protocol = proto) -> Run:
            run = evaluate(
                proto,
                model,
                seed=int(reference.get("seed", 0)),
                config=str(reference.get("config", "small")),
                results=results,
                progress=progress_for(f"{proto.id} · {model}") if progress_for else None,
                notice=notice,
            )
            return Run(run.path, json.loads(run.path.read_text(encoding="utf-8")))

        runs = [] if rerun else load_runs(results, proto.name)
        checks += check_protocol(proto, runs, run_missing, models=models)
    return checks
