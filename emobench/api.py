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
    shard: str | None = None,
    notice: Notice = _quiet,
):
    """Prepare the raw dataset at ``src`` into the pack ``out``: the adapter reads the
    official layout, the registered prepare steps that apply run on every sample
    (``options``: their settings by option key, e.g. ``{"frames": 16}``), and the pack is
    written atomically. Returns the prepare report (skips, exclusions, digest).

    ``shard="k/n"`` prepares part k of n into ``<out stem>.shard-<k>of<n>.h5``, to be joined
    by :func:`pack_merge`. An interrupted prepare of the same pack is resumed (``notice``
    says so, or why it was started over)."""
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
        shard=shard,
        notice=notice,
    )


def pack_merge(shards: list[str | Path], out: str | Path, *, progress: Progress | None = None):
    """Join the shard packs of one ``prepare --shard k/n`` run into the pack ``out``, whose
    content digest is the one a single-process prepare gives. Shards that do not belong
    together (other dataset, settings or raw data, a part missing or given twice, samples
    missing) are refused, naming the files. Returns the merge report (digest, samples)."""
    from emobench.pack_merge import merge_packs

    return merge_packs(shards, out, progress=progress)


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
    seeds: list[int] | None = None,
    config: str = "small",
    folds: list[int] | None = None,
    epochs: int | None = None,
    select_on_test: bool = False,
    results: str | Path = "results",
    overrides: dict[str, Any] | None = None,
    probe: bool = False,
    jobs: int = 1,
    bootstrap: int | None = None,
    device: str = "cpu",
    amp: bool = False,
    labels: dict[str, Any] | None = None,
    progress: Progress | None = None,
    progress_synth: Progress | None = None,
    progress_prepare: Progress | None = None,
    notice: Notice = _quiet,
) -> EvaluateRun:
    """Run ``model`` under ``protocol`` (on the miniature when no ``pack`` is given) and write
    the results file and its predictions under ``results``.

    ``seeds`` (default: ``[seed]``) are one run group: every seed is run and the results file
    holds each seed's and the pooled figures. ``jobs`` > 1 runs the (seed, fold) parts in that
    many local processes. ``bootstrap``: resamples of the interval (default 1000; 0: none).
    ``labels``: keys added to the record (what ``reproduce`` says of the run).
    ``device``: ``cpu``, ``cuda`` or ``auto``; ``amp``: bfloat16 autocast on CUDA. Under
    ``torchrun`` the processes train each fold together and rank 0 alone writes the results
    file (:mod:`emobench.engine.distributed`)."""
    from emobench.engine.distributed import execution
    from emobench.engine.evaluators import evaluator_for
    from emobench.engine.jobs import plan_parts, run_parts
    from emobench.protocols import Protocol, load_protocol
    from emobench.results.intervals import RESAMPLES
    from emobench.results.merge import merge_parts
    from emobench.results.store import write_run

    proto = protocol if isinstance(protocol, Protocol) else load_protocol(protocol)
    if seeds and seed not in (0, *seeds):
        raise EmobenchError(f"give --seed {seed} or --seeds {seeds}, not both")
    seeds = sorted(set(seeds)) if seeds else [seed]
    if jobs < 1:
        raise EmobenchError(f"--jobs must be at least 1, got {jobs}")
    if len(seeds) > 1 and not proto.task_spec.trains_models:
        raise ProtocolError(
            f"protocol {proto.id} trains nothing, so seeds change nothing: give one seed"
        )
    if not proto.task_spec.trains_models:
        jobs = 1  # one part: nothing trained, no folds to share out
    run_on = execution(device, amp)  # under torchrun: joins the process group
    if run_on.distributed and jobs > 1:
        raise EmobenchError("--jobs runs parts in local processes: under torchrun give --jobs 1")
    evaluator = evaluator_for(proto)
    if pack is None:
        notice(miniature_notice("--pack", proto.dataset))
        pack = run_on.main_first(  # under torchrun, rank 0 builds it and the others read it
            miniature_pack_for,
            proto.dataset,
            progress_synth,
            progress_prepare,
            **evaluator.miniature_options(proto, model),
        )
    checked = open_checked(pack)
    fold_indices = evaluator.fold_indices(proto, checked) if jobs > 1 else []
    parts = run_parts(
        proto.task_spec.evaluator,
        proto,
        model,
        checked,
        plan_parts(fold_indices, seeds, folds, jobs),
        jobs=jobs,
        options={
            "config": config,
            "select_on_test": select_on_test,
            "epochs": epochs,
            "overrides": overrides,
            "probe": probe,
            "device": device,
            "amp": amp,
        },
        progress=progress,
    )
    record, predictions = merge_parts(
        proto, parts, n_resamples=RESAMPLES if bootstrap is None else bootstrap
    )
    record.update(labels or {})
    return EvaluateRun(record, run_on.main_only(write_run, results, record, predictions))


def leaderboard(protocol: str, *, fmt: str = "md", results: str | Path = "results") -> str:
    """The protocol's leaderboard from the results files, as Markdown, CSV or HTML text (the
    report's page restricted to that protocol)."""
    from emobench.protocols import load_protocol
    from emobench.results.leaderboard import leaderboard_table, render_csv, render_markdown
    from emobench.results.store import load_runs

    if fmt not in ("md", "csv", "html"):
        raise EmobenchError(f"--format must be md, csv or html, not {fmt!r}")
    proto = load_protocol(protocol)
    if fmt == "html":
        from emobench.results.report import protocol_page

        return protocol_page(proto, results)
    table = leaderboard_table(proto, load_runs(results, proto.name))
    return render_markdown(proto, table) if fmt == "md" else render_csv(table)


def report(
    out: str | Path,
    protocols: list[str] | None = None,
    results: str | Path = "results",
    *,
    counted: Callable[[int, int], None] | None = None,
) -> Path:
    """Write the HTML report of ``protocols`` (default: every protocol with results under
    ``results``) to ``out``, atomically; one self-contained file that fetches nothing.
    ``counted(protocols, rows)`` hears how many protocol sections and leaderboard rows it
    holds. Raises ``NoResults`` when ``results`` holds no results file."""
    from emobench.results.report import build_report, write_report

    page = build_report(protocols, results)
    path = write_report(page.html, out)
    if counted:
        counted(page.protocols, page.rows)
    return path


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
    from emobench.results.regress import check_protocol, reference_seeds
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
                seeds=reference_seeds(reference),
                config=str(reference.get("config", "small")),
                results=results,
                progress=progress_for(f"{proto.id} · {model}") if progress_for else None,
                notice=notice,
            )
            return Run(run.path, json.loads(run.path.read_text(encoding="utf-8")))

        runs = [] if rerun else load_runs(results, proto.name)
        checks += check_protocol(proto, runs, run_missing, models=models)
    return checks


def doctor(
    dataset: str,
    src: str | Path | None = None,
    *,
    layout: str | None = None,
    columns: str | dict[str, str] | None = None,
    progress: Progress | None = None,
    progress_synth: Progress | None = None,
    notice: Notice = _quiet,
):
    """Check the raw release of ``dataset`` at ``src`` before ``prepare`` (default: the
    embedded miniature): every registered doctor check that applies, read-only. Returns the
    :class:`~emobench.doctor.report.DoctorReport`; a folder that is missing or not the
    dataset's layout is an EmobenchError naming it."""
    from emobench.datasets.coding_sheet import parse_column_mapping
    from emobench.datasets.registry import get_adapter
    from emobench.doctor.report import run_doctor

    get_adapter(dataset)  # an unknown name is refused before a miniature is looked for
    miniature = src is None
    if miniature:
        notice(miniature_notice("--src", dataset))
        src = miniature_raw_for(dataset, progress_synth)
    mapping = parse_column_mapping(columns) if isinstance(columns, str) else columns
    return run_doctor(
        dataset, Path(src), layout=layout, columns=mapping, miniature=miniature, progress=progress
    )


def compare(
    protocol: str,
    model_a: str,
    model_b: str,
    *,
    metric: str | None = None,
    results: str | Path = "results",
    n_resamples: int | None = None,
):
    """The paired comparison of the newest pairable runs of two models under ``protocol``
    (:class:`emobench.results.compare.Comparison`)."""
    from emobench.protocols import load_protocol
    from emobench.results.compare import compare_runs, paired_runs
    from emobench.results.intervals import RESAMPLES
    from emobench.results.store import load_runs

    proto = load_protocol(protocol)
    runs = load_runs(results, proto.name)
    if not runs:
        raise EmobenchError(
            f"no results of protocol {proto.name} under {results}: run `emobench evaluate "
            f"--protocol {proto.name} --model {model_a}` (and {model_b}) first"
        )
    a, b = paired_runs(runs, model_a, model_b)
    return compare_runs(
        proto, a, b, metric, n_resamples=RESAMPLES if n_resamples is None else n_resamples
    )


def reproduce(
    results_file: str | Path,
    *,
    pack: str | Path | None = None,
    allow_other_pack: bool = False,
    results: str | Path | None = None,
    progress: Progress | None = None,
    progress_synth: Progress | None = None,
    progress_prepare: Progress | None = None,
    notice: Notice = _quiet,
):
    """Re-run what ``results_file`` records on a pack of the recorded content digest (the
    miniature is rebuilt when the run was made on it) and compare every metric
    (:class:`emobench.results.reproduce.Reproduction`). The new results file goes beside
    the old one (or under ``results``) and names the file it reproduces."""
    from emobench.engine.evaluators import evaluator_for
    from emobench.results.reproduce import (
        Reproduction,
        changes_between,
        protocol_as_recorded,
        read_results,
        rerun_options,
        results_root,
        tolerance_for,
    )

    path = Path(results_file)
    record = read_results(path)
    proto = protocol_as_recorded(record, path)
    model = record["model"]["name"]
    recorded = record["pack"]
    if pack is None and recorded.get("miniature"):
        notice(
            f"The run read the embedded {proto.dataset} miniature: using it (built by "
            f"`emobench synth {proto.dataset}` when missing; synthetic, not the real dataset)."
        )
        pack = miniature_pack_for(
            proto.dataset,
            progress_synth,
            progress_prepare,
            **evaluator_for(proto).miniature_options(proto, model),
        )
    elif pack is None:
        pack = recorded["path"]
        if not Path(pack).is_file():
            raise EmobenchError(f"{path} read the pack {pack}, which is not there: give --pack")
    digest = Pack(pack).digest
    same = digest == recorded["digest"]
    if not same and not allow_other_pack:
        raise EmobenchError(
            f"{pack} holds other content (digest {digest[:16]}…) than the pack the run read "
            f"(digest {recorded['digest'][:16]}…): refusing to compare; "
            "--allow-other-pack re-runs anyway and labels the result"
        )
    if not same:
        notice(f"--allow-other-pack: {pack} is not the pack the run read; the result says so.")
    world = int((record["provenance"].get("hardware") or {}).get("world_size") or 1)
    notes = []
    if world > 1:
        notes.append(f"the run trained in {world} torchrun processes; the re-run in one")
        notice(f"{path} trained under torchrun with {world} processes: re-running in one.")
    run = evaluate(
        proto,
        model,
        pack,
        results=results if results is not None else results_root(path, record),
        labels={
            "reproduces": {
                "file": str(path),
                "pack": "same" if same else "other",
                "recorded_pack_digest": recorded["digest"],
            }
        },
        progress=progress,
        **rerun_options(record),
    )
    tolerance, source = tolerance_for(proto, model)
    return Reproduction(
        original=path,
        rerun=run.path,
        protocol=proto.id,
        model=model,
        same_pack=same,
        tolerance=tolerance,
        tolerance_from=source,
        changes=changes_between(record, run.record),
        same_split=run.record["split_digest"] == record["split_digest"],
        notes=tuple(notes),
    )


def merge_results(
    files: list[str | Path], out: str | Path, *, n_resamples: int | None = None
) -> dict[str, Any]:
    """Join partial results files (``--folds`` or seed jobs) of one run into ``out``: they
    must agree on protocol@version, config, overrides, split and pack digests, and hold no
    (fold, seed) twice. Returns the joined record."""
    from emobench.results.compare import predictions_of
    from emobench.results.intervals import RESAMPLES
    from emobench.results.merge import merge_parts
    from emobench.results.reproduce import protocol_as_recorded
    from emobench.results.store import write_record

    runs = _results_files(files)
    paths = [r.path for r in runs]
    proto = protocol_as_recorded(runs[0].record, paths[0])
    record, predictions = merge_parts(
        proto,
        [(r.record, predictions_of(r)) for r in runs],
        names=[str(p) for p in paths],
        n_resamples=RESAMPLES if n_resamples is None else n_resamples,
    )
    record["merged_from"] = [str(p) for p in paths]
    write_record(Path(out), record, predictions)
    return record


def _results_files(items: list[str | Path]):
    """The runs of the results files named, and of the partial results files of the folders
    named (a complete run in the same folder is a result of its own, not a part); each file
    is read once."""
    from emobench.results.reproduce import read_results
    from emobench.results.store import Run

    runs: list[Run] = []
    for item in items:
        item = Path(item)
        if item.is_dir():
            found = [Run(p, read_results(p)) for p in sorted(item.glob("*.json"))]
            runs += [r for r in found if r.record.get("partial")]
        elif item.is_file():
            runs.append(Run(item, read_results(item)))
        else:
            raise EmobenchError(f"{item}: no such results file or folder")
    if not runs:
        raise EmobenchError(f"no results files in {', '.join(map(str, items))}")
    return runs
