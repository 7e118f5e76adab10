"""The ``emobench`` command line: thin — parse, call one function, render with rich.

Exit codes: 0 success; 1 a check failed (verify found corruption, regress found a number out
of tolerance); 2 bad input or usage (the message names the file and the problem).
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from emobench.errors import EmobenchError, ProtocolError
from emobench.prepare.options import with_step_options

app = typer.Typer(
    help="Verified packs, versioned protocols and honest leaderboards for true-emotion research.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
protocols_app = typer.Typer(help="List, show and validate protocol files.", no_args_is_help=True)
app.add_typer(protocols_app, name="protocols")
setup_app = typer.Typer(help="Build the model files a prepare step needs.", no_args_is_help=True)
app.add_typer(setup_app, name="setup")
masks_app = typer.Typer(help="Synthetic face masks: look before you prepare.", no_args_is_help=True)
app.add_typer(masks_app, name="masks")
pack_app = typer.Typer(help="Work with prepared packs: merge shards.", no_args_is_help=True)
app.add_typer(pack_app, name="pack")
results_app = typer.Typer(help="Join the results of jobs into one run.", no_args_is_help=True)
app.add_typer(results_app, name="results")
console = Console(stderr=True)
out = Console()


@contextmanager
def friendly_errors():
    try:
        yield
    except EmobenchError as err:
        console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


class ProgressLines:
    """Progress for a log (stderr is not a terminal, e.g. a batch job or ``nohup``): one
    plain line each time another tenth of the work is done, with the elapsed time, so a
    long run shows it is alive without filling the log with a redrawn bar. The clock starts
    at the first report (a command may open several before the first one's work begins)."""

    def __init__(self, description: str):
        self.description = description
        self.start: float | None = None
        self.tenths = 0

    def __call__(self, done: int, total: int, item: str = "") -> None:
        if self.start is None:
            self.start = time.perf_counter()
        if total <= 0:
            return
        tenths = min(10, done * 10 // total)
        if tenths <= self.tenths:
            return
        self.tenths = tenths
        elapsed = round(time.perf_counter() - self.start)
        what = f" · {item}" if item else ""
        console.print(
            f"{self.description}: {done}/{total}{what} ({elapsed // 60}:{elapsed % 60:02d})",
            highlight=False,
            soft_wrap=True,
        )


@contextmanager
def progress_bar(description: str, *, refresh_thread: bool = True):
    """A progress callback ``update(done, total, item)``: a live bar on a terminal,
    :class:`ProgressLines` otherwise. ``refresh_thread=False``: the bar is redrawn by the
    updates themselves (at most ten times a second) instead of by rich's refresh thread, for
    work that forks worker processes, which a running thread would make spawned instead
    (:mod:`emobench.prepare.workers`)."""
    if not console.is_terminal:
        yield ProgressLines(description)
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[item]}"),
        TimeElapsedColumn(),
        console=console,
        auto_refresh=refresh_thread,
    ) as bar:
        task = bar.add_task(description, total=None, item="")
        drawn = 0.0

        def update(done: int, total: int, item: str = "") -> None:
            nonlocal drawn
            bar.update(task, completed=done, total=total, item=str(item))
            now = time.perf_counter()
            if not refresh_thread and (now - drawn >= 0.1 or done >= total):
                bar.refresh()
                drawn = now

        yield update


def notice(text: str) -> None:
    """A sentence the library wants the user to see (e.g. that the miniature is used)."""
    console.print(f"[yellow]{escape(text)}[/]", soft_wrap=True)


def _say_miniature(what: str, dataset: str = "emer") -> None:
    from emobench.api import miniature_notice

    notice(miniature_notice(what, dataset))


# ---------------------------------------------------------------------------------------------
@setup_app.command("body-model")
def setup_body_model(
    wheel: Annotated[
        Path | None,
        typer.Option(help="A mediapipe-0.10.21 wheel on disk, instead of `pip download`."),
    ] = None,
) -> None:
    """Build MediaPipe's pose model for [bold]prepare --body-box pose[/] (once per machine).

    The pose models ship inside the mediapipe 0.10.21 wheel of the package registry; this
    downloads that wheel (nothing is installed), adds the input metadata MediaPipe's tasks API
    needs and writes one .task file under $EMOBENCH_HOME/models.
    """
    from emobench import api

    with friendly_errors(), progress_bar("setup body-model") as update:
        path = api.setup_body_model(wheel=wheel, progress=update)
    out.print(f"pose model ready: {path}", highlight=False, soft_wrap=True)


@masks_app.command("preview")
def masks_preview(
    image: Annotated[Path, typer.Option(help="A face image (JPEG, PNG ...).")],
    out_path: Annotated[Path, typer.Option("--out", help="PNG file to write.")],
) -> None:
    """Draw every mask style × coverage level on the face of IMAGE, as one PNG grid."""
    from emobench import api

    with friendly_errors():
        report = api.preview_masks(image, out_path)
    out.print(f"wrote {out_path}", highlight=False, soft_wrap=True)
    for (style, coverage), share in report.covered.items():
        _plain(f"{style} at {coverage}: covers {share:.0%} of the face area")


@app.command()
def synth(
    dataset: Annotated[str, typer.Argument(help="Dataset whose miniature to write, e.g. emer.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to create (must be empty).")],
    seed: Annotated[int, typer.Option(help="Seed; the same seed gives byte-identical files.")] = 0,
) -> None:
    """Write a deterministic miniature of DATASET in its official raw layout.

    Example: [bold]emobench synth emer --out raw/emer[/]
    """
    from emobench import api

    with friendly_errors(), progress_bar(f"synth {dataset}") as update:
        summary = api.synth(dataset, out_dir, seed=seed, progress=update)
    out.print(
        f"wrote the {dataset} miniature to {out_dir}: "
        + ", ".join(f"{k}={v}" for k, v in summary.items() if not isinstance(v, (list, dict)))
    )


@app.command()
@with_step_options
def prepare(
    dataset: Annotated[str, typer.Argument(help="Dataset adapter, e.g. emer.")],
    src: Annotated[Path | None, typer.Option(help="Raw dataset root (read-only).")] = None,
    out_path: Annotated[Path | None, typer.Option("--out", help="Pack to write.")] = None,
    compression: Annotated[str | None, typer.Option(help="HDF5 compression: lzf or gzip.")] = None,
    strict: Annotated[bool, typer.Option(help="Fail instead of skipping bad samples.")] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            help="Prepare part K of N, e.g. 3/8 (written beside --out); join the parts "
            "with `emobench pack merge`."
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Processes that decode and extract features.")
    ] = 1,
    columns: Annotated[
        str | None,
        typer.Option(help="Coding-sheet headers, e.g. true_emotion=Context,expression=Shown."),
    ] = None,
    layout: Annotated[
        str | None,
        typer.Option(
            help="Raw layout when a dataset has several (dfew: data_affine, clip_224x224_16f, "
            "clip_224x224); default: detected."
        ),
    ] = None,
    step_options: dict | None = None,
) -> None:
    """Turn a raw dataset into a verified pack (one HDF5 file). The options after --layout
    belong to the prepare steps (frames, faces, apex, eyes …) and are recorded in the pack.

    Example: [bold]emobench prepare emer --src raw/emer --out packs/emer.h5[/]
    Example: [bold]emobench prepare masked --src raw/masked --out packs/m.h5 --apex motion[/]
    Example: [bold]emobench prepare mafw --src raw/mafw --out packs/mafw-32x2.h5 --frames 32
    --stride 2[/]
    Example: [bold]emobench prepare dfew --src DFEW --out packs/dfew.h5 --shard 3/8[/]

    An interrupted prepare (even by kill -9) resumes when run
    again: the samples already written are re-hashed and kept.
    """
    from emobench import api

    with friendly_errors():
        if src is None:
            _say_miniature("--src", dataset)
            with progress_bar("synthesising miniature") as update:
                src = api.miniature_raw_for(dataset, update)
        with progress_bar(f"prepare {dataset}", refresh_thread=workers == 1) as update:
            report = api.prepare(
                dataset,
                src,
                out_path or Path("packs") / f"{dataset}.h5",
                options=step_options,
                compression=compression,
                strict=strict,
                columns=columns,
                layout=layout,
                progress=update,
                shard=shard,
                workers=workers,
                notice=notice,
            )
    if report.unused_options:
        notice(f"no prepare step that ran reads: {', '.join(report.unused_options)}")
    if report.unknown_label_columns:
        notice(f"label-sheet columns not used: {report.unknown_label_columns}")
    for line in report.notes:
        notice(line)
    if report.skipped:
        table = Table(title=f"{len(report.skipped)} skipped sample(s)")
        for column in ("sample", "file", "reason"):
            table.add_column(column, overflow="fold")
        for s in report.skipped:
            table.add_row(escape(s.sample_id), escape(s.path), escape(s.reason))
        console.print(table)
    for reason, count in report.excluded.items():
        _plain(f"excluded by the release's own rules: {count} × {reason}")
    if report.padded_clips:
        f = report.steps.get("frames", {})
        _plain(
            f"{report.padded_clips} clip(s) shorter than "
            f"{f.get('frames', 0) * max(f.get('stride', 0), 1)} frames were padded by "
            "repeating frames"
        )
    _plain(f"wrote {report.pack}: {report.n_samples} samples, digest {report.digest[:16]}")
    if report.shard is not None:
        final = out_path or Path("packs") / f"{dataset}.h5"
        _plain(
            f"shard {report.shard} of a release of {report.release_size} samples; when all "
            f"{report.shard.count} parts are done: emobench pack merge "
            f"{final.with_name(final.stem + '.shard-*' + final.suffix)} --out {final}"
        )


@app.command()
def info(
    pack: Annotated[Path | None, typer.Argument(help="Pack file (default: the miniature).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Schema, sample and label counts, presence, folds and digest of a pack.

    Example: [bold]emobench info packs/emer.h5 --json[/]
    """
    from emobench import api

    with friendly_errors(), progress_bar("preparing pack") as update:
        data = api.info(pack, notice=notice, progress_prepare=update)
    if as_json:
        out.print_json(json.dumps(data, default=str))
        return
    put = _plain
    put(f"{data['path']}  schema {data['schema_version']}  {data['created_with']}")
    put(
        f"dataset {data['dataset']} ({data['variant']}), {data['n_samples']} samples, "
        f"{data['n_subjects']} subjects, digest {data['content_digest']}"
        + (" — prepared from the synthetic miniature" if data.get("miniature") else "")
    )
    put("arrays: " + ", ".join(f"{k} {v}" for k, v in data["arrays"].items()))
    partial = {g: n for g, n in data.get("present", {}).items() if n != data["n_samples"]}
    if partial:
        put("rows holding a group: " + ", ".join(f"{g} {n}" for g, n in partial.items()))
    put("steps: " + ", ".join(data["steps"]) if data["steps"] else "steps: none recorded")
    if data["folds"]:
        put("folds: " + ", ".join(f"{k}: {v}" for k, v in data["folds"].items()))
    for column, counts in data["labels"].items():
        put(f"{column}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for step, lines in data.get("audits", {}).items():
        for line in lines:
            put(f"{step}: {line}")
    for line in data.get("source_notes", []):
        put(f"note: {line}")
    if data["skipped"]:
        put(f"{len(data['skipped'])} sample(s) were skipped at prepare time")
    for reason, count in data["excluded"].items():
        put(f"excluded by the release's own rules: {count} × {reason}")


def _plain(text: str) -> None:
    """Print user and file text as it is (no rich markup: headers like ``[ms]`` survive)."""
    out.print(text, markup=False, highlight=False, soft_wrap=True)


@pack_app.command("merge")
def pack_merge(
    shards: Annotated[list[Path], typer.Argument(help="The shard packs (all N parts).")],
    out_path: Annotated[Path, typer.Option("--out", help="Pack to write.")],
) -> None:
    """Join the N shard packs of [bold]prepare --shard K/N[/] into one pack.

    The shards must be the parts of one prepare: same dataset,
    steps, settings and raw data; parts 1..N once each; every
    sample in exactly one part. They are re-hashed, and the
    merged pack's digest is the one a single-process prepare gives.

    Example: [bold]emobench pack merge packs/dfew.shard-*.h5 --out packs/dfew.h5[/]
    """
    from emobench import api

    with friendly_errors(), progress_bar("merging shards") as update:
        report = api.pack_merge(shards, out_path, progress=update)
    if report.skipped:
        _plain(f"{len(report.skipped)} sample(s) were skipped at prepare time (kept in the pack)")
    _plain(
        f"wrote {report.pack}: {report.n_samples} samples from {report.n_shards} shards, "
        f"digest {report.digest[:16]}"
    )


@app.command()
def verify(pack: Annotated[Path, typer.Argument(help="Pack file to re-hash.")]) -> None:
    """Re-hash every stored array and attribute; exit 1 if anything is corrupt.

    Example: [bold]emobench verify packs/emer.h5[/]
    """
    from emobench import api

    with friendly_errors(), progress_bar("verifying") as update:
        result = api.verify(pack, progress=update)
    if result.problems:
        for line in result.problems:
            console.print(f"[red]{escape(line)}[/]", soft_wrap=True)
        console.print(f"[bold red]{escape(str(pack))}: {len(result.problems)} problem(s)[/]")
        raise typer.Exit(1)
    _plain(
        f"{pack}: OK — {result.n_samples} samples, every array and attribute matches; "
        f"digest {result.digest}"
    )


# ---------------------------------------------------------------------------------------------
@protocols_app.command("list")
def protocols_list() -> None:
    """List every protocol (name@version) with its dataset, task, label and primary metric.

    Example: [bold]emobench protocols list[/]
    """
    from emobench.protocols import all_protocols

    with friendly_errors():
        table = Table(box=None, header_style="bold")
        for column in ("protocol", "dataset", "task", "label", "primary"):
            # names are never cut (80 columns): only a multilabel list wraps; titles are in
            # `emobench protocols show`
            table.add_column(column, no_wrap=column != "label", overflow="fold")
        for p in all_protocols():
            label = p.label if isinstance(p.label, str) else ", ".join(p.label)
            table.add_row(p.id, p.dataset, p.task, label, p.primary)
    out.print(table)


@protocols_app.command("show")
def protocols_show(name: Annotated[str, typer.Argument(help="Protocol name or .toml path.")]):
    """Print a protocol file.

    Example: [bold]emobench protocols show p3[/]
    """
    from emobench.protocols import load_protocol

    with friendly_errors():
        p = load_protocol(name)
    out.print(f"[bold]{p.id}[/] ({p.path})")
    out.print(Path(p.path).read_text(encoding="utf-8"), highlight=False, markup=False)


@protocols_app.command("validate")
def protocols_validate(
    names: Annotated[
        list[str] | None, typer.Argument(help="Names or paths (default: all).")
    ] = None,
):
    """Check protocol files before running them; exit 2 on the first invalid one.

    Example: [bold]emobench protocols validate protocols/emer/p3.toml[/]
    """
    from emobench.protocols import load_protocol, protocol_names

    with friendly_errors():
        for name in names or protocol_names():
            p = load_protocol(name)
            out.print(f"{p.id}: valid")


@app.command()
def models(
    flops: Annotated[
        bool,
        typer.Option(
            "--flops", help="Parameters and GFLOPs per clip of every clip model and config."
        ),
    ] = False,
) -> None:
    """List registered models, the inputs they consume and the tasks they support.

    Example: [bold]emobench models[/], [bold]emobench models --flops[/]
    """
    from emobench.models.registry import get_model_entry, model_names

    if flops:
        _complexity_table()
        return
    table = Table()
    for column in ("model", "inputs", "tasks", "summary"):
        table.add_column(column, no_wrap=column == "model", overflow="fold")
    for name in model_names():
        e = get_model_entry(name)
        table.add_row(name, ", ".join(e.inputs) or "—", ", ".join(e.tasks), e.summary)
    out.print(table)


def _complexity_table() -> None:
    from emobench.models.complexity import FLOP_CONVENTION, complexity_table

    table = Table(caption=f"GFLOPs per clip; {FLOP_CONVENTION}. –: not a clip model.")
    table.add_column("model", no_wrap=True)
    for column in ("config", "clip", "runs on"):
        table.add_column(column)
    table.add_column("params (M)", justify="right")
    table.add_column("GFLOPs", justify="right")
    for row in complexity_table():
        if row.flops is None:
            table.add_row(row.model, "–", "–", "–", "–", "–")
            continue
        table.add_row(
            row.model,
            row.config,
            f"{row.frames}×3×{row.side}²",
            f"{row.frames}×3×{row.model_side}²",
            f"{row.params / 1e6:.2f}",
            f"{row.gflops:.2f}" if row.gflops >= 1 else f"{row.gflops:.3f}",
        )
    out.print(table)


# ---------------------------------------------------------------------------------------------
@app.command()
def evaluate(
    protocol: Annotated[str, typer.Option(help="Protocol name (p1…p7) or .toml path.")],
    model: Annotated[
        str | None,
        typer.Option(
            help="Registered model (see `emobench models`); for a spotting protocol, the apex "
            "strategy. Default: the protocol's first reference model."
        ),
    ] = None,
    pack: Annotated[
        Path | None, typer.Option(help="Prepared pack (default: the miniature).")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed for every random choice.")] = 0,
    seeds: Annotated[
        str | None,
        typer.Option(
            help="Several seeds as one run group, e.g. 0,1,2: one results file with each "
            "seed's and the pooled figures (instead of --seed)."
        ),
    ] = None,
    config: Annotated[str, typer.Option(help="small (CPU seconds) or paper.")] = "small",
    folds: Annotated[
        str | None,
        typer.Option(help="Only these folds, e.g. 1,2: a partial result, for `results merge`."),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            min=1, help="Run the (seed, fold) parts in this many local processes (1 thread each)."
        ),
    ] = 1,
    bootstrap: Annotated[
        int,
        typer.Option(
            min=0, help="Bootstrap resamples of the 95 % interval (test samples); 0: none."
        ),
    ] = 1000,
    epochs: Annotated[int | None, typer.Option(min=1, help="Override the config's epochs.")] = None,
    select_on_test: Annotated[
        bool,
        typer.Option(
            "--select-on-test", help="Pick the epoch on the test fold (labelled test-oracle)."
        ),
    ] = False,
    results: Annotated[Path, typer.Option(help="Results folder.")] = Path("results"),
    probe: Annotated[
        bool,
        typer.Option(
            "--probe",
            help="Also fit linear probes on each fold's trained features (training part), "
            "scored by test UAR: for the protocol's label and its auxiliary one (how much of "
            "the displayed expression the true-emotion features carry).",
        ),
    ] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override one field of the model's config, KEY=VALUE (repeatable); "
            "recorded in the results file.",
        ),
    ] = None,
    device: Annotated[
        str,
        typer.Option(
            help="cpu, cuda or auto (cuda when torch sees a GPU). Under torchrun each "
            "process takes the GPU of its LOCAL_RANK.",
        ),
    ] = "cpu",
    amp: Annotated[
        bool,
        typer.Option("--amp", help="bfloat16 mixed precision (autocast) on CUDA; recorded."),
    ] = False,
) -> None:
    """Train and test a model under a protocol; write a results JSON and predictions.

    Example: [bold]emobench evaluate --protocol p3 --model emert --pack packs/emer.h5[/]
    Example: [bold]emobench evaluate --protocol masked-apex --model dsid --set hsic_weight=0.3[/]
    Example: [bold]emobench evaluate --protocol masked-apex-5fold --model dsid --probe[/]
    Example: [bold]emobench evaluate --protocol apex-spotting --model motion[/]
    Example: [bold]torchrun --nproc-per-node 2 -m emobench evaluate --protocol p3 --model emert[/]
    """
    from emobench import api
    from emobench.engine.distributed import launched_rank
    from emobench.protocols import load_protocol

    reports = launched_rank() == 0  # under torchrun, rank 0 alone reports (errors aside)
    say, bar = (notice, progress_bar) if reports else (_silent, _no_progress)
    with friendly_errors():
        proto = load_protocol(protocol)
        model = model or _default_model(proto)
        if select_on_test:
            say(
                "--select-on-test: the epoch is chosen on the test fold; results are labelled "
                "test-oracle and are optimistic."
            )
        with (
            bar("synthesising miniature") as p_synth,
            bar("preparing pack") as p_prep,
            bar(f"{proto.id} · {model}") as update,
        ):
            run = api.evaluate(
                proto,
                model,
                pack,
                seed=seed,
                seeds=parse_seeds(seeds),
                config=config,
                folds=parse_folds(folds),
                jobs=jobs,
                bootstrap=bootstrap,
                epochs=epochs,
                select_on_test=select_on_test,
                results=results,
                overrides=parse_overrides(set_ or []),
                probe=probe,
                device=device,
                amp=amp,
                progress=update,
                progress_synth=p_synth,
                progress_prepare=p_prep,
                notice=say,
            )
    if reports:
        _print_run(run.record, run.path)


def _silent(*_: object) -> None:
    """A notice or progress callback that shows nothing (a torchrun rank other than 0)."""


@contextmanager
def _no_progress(description: str):
    """:func:`progress_bar` for a process that reports nothing."""
    yield _silent


def _default_model(proto) -> str:
    if not proto.reference:
        raise ProtocolError(f"protocol {proto.id} has no reference model: give --model")
    return next(iter(proto.reference))


def parse_folds(text: str | None) -> list[int] | None:
    """``"1,2"`` → ``[1, 2]``; anything else than comma-separated whole numbers is an error."""
    if not text:
        return None
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise EmobenchError(f"--folds {text!r}: expected fold numbers such as 1,2") from None


def parse_seeds(text: str | None) -> list[int] | None:
    """``"0,1,2"`` → ``[0, 1, 2]``; anything but comma-separated whole numbers is an error."""
    if not text:
        return None
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise EmobenchError(f"--seeds {text!r}: expected seeds such as 0,1,2") from None
    if any(s < 0 for s in seeds):
        raise EmobenchError(f"--seeds {text!r}: seeds are whole numbers from 0")
    return seeds


def parse_overrides(items: list[str]) -> dict:
    """``KEY=VALUE`` strings → a dict; values are read as JSON when they parse (numbers,
    true/false, quoted strings), else kept as text."""
    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise EmobenchError(f"--set {item!r}: expected KEY=VALUE, e.g. --set hsic_weight=0.3")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _seeds_text(record: dict) -> str:
    from emobench.results.merge import seeds_of

    seeds = seeds_of(record)
    return f"seed {seeds[0]}" if len(seeds) == 1 else "seeds " + ",".join(map(str, seeds))


def _print_run(record: dict, path: Path) -> None:
    table = Table(  # no vertical rules: five metrics, fold and epoch fit in 80 columns
        title=f"{record['protocol']['id']} · {record['model']['name']} "
        f"({record['model']['config']}, {_seeds_text(record)}, "
        f"selection: {record['selection']})",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )
    metrics = list(record["summary"])
    several = record.get("seed", 0) is None
    # several seeds: one "fold/seed" cell, so that the table keeps to 80 columns
    first = "fold/seed" if several else "fold"
    table.add_column(first, no_wrap=True, min_width=len(first))
    for m in metrics:  # metric names are never cut: a column is as wide as its name
        table.add_column(m, justify="right", no_wrap=True, min_width=len(m))
    table.add_column("epoch", justify="right", no_wrap=True, min_width=len("epoch"))
    for f in record["folds"]:
        table.add_row(
            f"{f['fold']}/{f['seed']}" if several else str(f["fold"]),
            *[f"{f['test'][m]:.4f}" for m in metrics],
            str(f.get("best_epoch", "")),
        )
    for stat in ("mean", "std"):
        table.add_row(stat, *[f"{record['summary'][m][stat]:.4f}" for m in metrics], "")
    out.print(table)
    interval = record.get("interval")
    for m, bounds in (interval or {}).get("metrics", {}).items():
        _plain(
            f"{m}: {record['summary'][m]['mean']:.4f}, {interval['level']:.0%} bootstrap "
            f"interval [{bounds['low']:.4f}, {bounds['high']:.4f}] "
            f"({interval['n_resamples']} resamples of {interval['n_samples']} test samples)"
        )
    if record.get("partial"):
        _plain("partial result (some folds only): join the parts with `emobench results merge`")
    _print_conditions(record)
    probe = record.get("probe")
    for key, what in (probe or {}).get("reads", {}).items():
        value, chance = probe[key], probe["chance"][key]
        out.print(
            f"linear probe of the features → {what}: test UAR {value['mean']:.4f} ± "
            f"{value['std']:.4f} (chance {chance:.3f}; fit on each fold's training part)",
            highlight=False,
        )
    _plain(f"results: {path}  ({record['wall_time_s']:.1f} s)")


def _print_conditions(record: dict) -> None:
    """The same checkpoints tested under each of the protocol's test conditions."""
    conditions = record.get("conditions") or {}
    if not conditions:
        return
    metrics = list(record["summary"])
    table = Table(title="test conditions (same checkpoints, test rows read otherwise)")
    table.add_column("condition", no_wrap=True)
    for m in metrics:
        table.add_column(m, justify="right", no_wrap=True, min_width=len(m))
    table.add_row("as trained", *[f"{record['summary'][m]['mean']:.4f}" for m in metrics])
    for name, summary in conditions.items():
        table.add_row(name, *[f"{summary[m]['mean']:.4f}" for m in metrics])
    out.print(table)


@app.command()
def leaderboard(
    protocol: Annotated[str, typer.Option(help="Protocol name.")],
    fmt: Annotated[str, typer.Option("--format", help="md, csv or html.")] = "md",
    results: Annotated[Path, typer.Option(help="Results folder.")] = Path("results"),
    output: Annotated[Path | None, typer.Option("--output", help="Write to this file.")] = None,
) -> None:
    """Reported vs reproduced numbers, sorted by the primary metric.

    Example: [bold]emobench leaderboard --protocol p3 --format md[/]
    """
    from emobench import api

    with friendly_errors():
        text = api.leaderboard(protocol, fmt=fmt, results=results)
        if output:
            try:
                output.write_text(text, encoding="utf-8")
            except OSError as err:
                raise EmobenchError(f"{output}: cannot write the leaderboard ({err})") from err
    if output:
        _plain(f"wrote {output}")
    else:
        sys.stdout.write(text)


@app.command()
def report(
    out_file: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path(
        "report.html"
    ),
    protocol: Annotated[
        list[str] | None,
        typer.Option(help="Protocol(s) to include; default: every protocol with results."),
    ] = None,
    results: Annotated[Path, typer.Option(help="Results folder.")] = Path("results"),
) -> None:
    """One self-contained HTML page (inline plots, sortable tables, provenance; it fetches
    nothing): the leaderboards and per-run figures of the results files.

    Example: [bold]emobench report --out report.html --protocol p3[/]
    """
    from emobench import api
    from emobench.results.report import NoResults

    counts: list[int] = []
    with friendly_errors():
        try:
            path = api.report(
                out_file, protocol, results, counted=lambda p, r: counts.extend((p, r))
            )
        except NoResults as err:  # nothing to report: a failed check (exit 1), not bad input
            console.print(
                f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(1) from None
    _plain(str(path))
    n_protocols, n_rows = counts
    _plain(
        f"{n_protocols} protocol{'' if n_protocols == 1 else 's'}, "
        f"{n_rows} row{'' if n_rows == 1 else 's'}"
    )


@app.command()
def regress(
    protocol: Annotated[list[str] | None, typer.Option(help="Protocol(s); default: all.")] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(help="Only these models' reference numbers; default: every model."),
    ] = None,
    results: Annotated[Path, typer.Option(help="Results folder.")] = Path("results"),
    rerun: Annotated[bool, typer.Option(help="Re-run even when a results file exists.")] = False,
) -> None:
    """Compare reproduced numbers with each protocol's reference; exit 1 if one leaves its
    tolerance. Missing runs are evaluated on the miniature first.

    Example: [bold]emobench regress --protocol p3 --model emert --model majority[/]
    """
    from emobench import api

    with friendly_errors():
        checks = api.regress(
            protocol, model, results=results, rerun=rerun, progress_for=ProgressLines, notice=notice
        )
    # one table per protocol, so model and metric names fit whole in an 80-column log
    for protocol_id in dict.fromkeys(c.protocol for c in checks):
        table = Table(title=f"{protocol_id}: reference numbers", title_justify="left")
        for column in ("model", "metric", "reference", "reproduced", "delta", "tol", ""):
            table.add_column(
                column, no_wrap=True, justify="left" if column in ("model", "metric") else "right"
            )
        for c in (c for c in checks if c.protocol == protocol_id):
            table.add_row(
                c.model,
                c.metric,
                f"{c.reference:.4f}",
                "missing" if c.reproduced is None else f"{c.reproduced:.4f}",
                "" if c.delta is None else f"{c.delta:+.4f}",
                f"{c.tolerance:.4f}",
                "[green]ok[/]" if c.ok else "[bold red]FAIL[/]",
            )
        out.print(table)
    failed = [c for c in checks if not c.ok]
    if not checks:
        which = "protocols and models" if model else "protocols"
        console.print(f"[yellow]no reference numbers found for the selected {which}[/]")
    if failed:
        console.print(f"[bold red]{len(failed)} number(s) left their tolerance[/]")
        raise typer.Exit(1)
    out.print(f"{len(checks)} number(s) within tolerance")


# ---------------------------------------------------------------------------------------------
SEVERITY_STYLES = {"error": "bold red", "warning": "yellow"}


@app.command()
def doctor(
    dataset: Annotated[str, typer.Argument(help="Dataset adapter, e.g. emer.")],
    src: Annotated[
        Path | None, typer.Option(help="Raw dataset root (read-only; default: the miniature).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    columns: Annotated[
        str | None,
        typer.Option(help="Coding-sheet headers, e.g. true_emotion=Context,expression=Shown."),
    ] = None,
    layout: Annotated[
        str | None,
        typer.Option(help="Raw layout when a dataset has several (as for prepare)."),
    ] = None,
) -> None:
    """Check a raw release before prepare: videos and frames decode whole, sheet and files
    agree, folds are subject-disjoint, no clip is duplicated across folds, eye exports are
    plausible; label counts per fold. Nothing under --src is written. Exit 1 on any error.

    Example: [bold]emobench doctor emer --src raw/emer[/]
    Example: [bold]emobench doctor dfew --src raw/dfew --json[/]
    """
    from emobench import api

    with (
        friendly_errors(),
        progress_bar("synthesising miniature") as p_synth,
        progress_bar(f"doctor {dataset}") as update,
    ):
        report = api.doctor(
            dataset,
            src,
            layout=layout,
            columns=columns,
            progress=update,
            progress_synth=p_synth,
            notice=notice,
        )
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
    else:
        _print_doctor(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_doctor(report) -> None:
    source = "the embedded miniature (synthetic)" if report.miniature else report.src
    out.print(  # wrapped at the screen's width (a long path folds, names stay whole)
        f"{report.dataset} at {source}: {report.n_samples} samples, {report.n_skipped} "
        f"skipped; checks: {', '.join(report.checks)}",
        markup=False,
        highlight=False,
        overflow="fold",
    )
    problems = [f for f in report.findings if f.severity != "info"]
    if problems:
        table = Table(show_lines=True)
        table.add_column("check", overflow="fold", min_width=len("near-duplicates"))
        table.add_column("severity", overflow="fold", min_width=len("warning"))
        table.add_column("file", overflow="fold", ratio=1)
        table.add_column("problem", overflow="fold", ratio=2)
        for f in problems:
            style = SEVERITY_STYLES[f.severity]
            table.add_row(
                escape(f.check), f"[{style}]{f.severity}[/]", escape(f.file), escape(f.problem)
            )
        out.print(table)
    for f in report.findings:  # information reads better as lines than in a narrow column
        if f.severity == "info":
            where = f" {f.file}:" if f.file else ""
            out.print(f"info {f.check}:{where} {f.problem}", markup=False, highlight=False)
    counts = report.counts
    summary = ", ".join(f"{n} {severity}(s)" for severity, n in counts.items())
    verdict = "[bold red]FAIL[/]" if counts["error"] else "[green]OK[/]"
    out.print(f"{verdict} {escape(summary)}", highlight=False)


@app.command()
def compare(
    model_a: Annotated[str, typer.Argument(help="First model (the difference is a − b).")],
    model_b: Annotated[str, typer.Argument(help="Second model.")],
    protocol: Annotated[str, typer.Option(help="Protocol name.")],
    metric: Annotated[
        str | None, typer.Option(help="Metric (default: the protocol's primary).")
    ] = None,
    results: Annotated[Path, typer.Option(help="Results folder.")] = Path("results"),
    bootstrap: Annotated[int, typer.Option(min=1, help="Bootstrap resamples.")] = 1000,
) -> None:
    """Pair two models on the same folds, seeds and test samples: the mean paired difference
    with its 95 % bootstrap interval (test samples resampled) and a sign count.

    Example: [bold]emobench compare --protocol p3 emert face-only[/]
    """
    from emobench import api

    with friendly_errors():
        c = api.compare(
            protocol, model_a, model_b, metric=metric, results=results, n_resamples=bootstrap
        )
    seeds = ",".join(map(str, c.seeds))
    _plain(f"{c.protocol} · {c.metric} · paired on {c.n_pairs} (fold, seed) units, seeds {seeds}")
    _plain(f"  {c.model_a}: {c.mean_a:.4f}   ({c.run_a})")
    _plain(f"  {c.model_b}: {c.mean_b:.4f}   ({c.run_b})")
    _plain(
        f"  difference {c.model_a} − {c.model_b}: {c.difference:+.4f}, {c.level:.0%} interval "
        f"[{c.low:+.4f}, {c.high:+.4f}] ({c.n_resamples} paired resamples of "
        f"{c.n_samples} test samples)"
    )
    undefined = f", {c.metric} undefined in {c.undefined}" if c.undefined else ""
    _plain(
        f"  {c.model_a} better in {c.wins} of {c.n_pairs} units, worse in {c.losses}, "
        f"tied in {c.ties}{undefined}"
    )
    verdict = "excludes 0" if c.excludes_zero else "includes 0: no clear difference"
    _plain(f"  the interval {verdict}")


@app.command()
def reproduce(
    results_file: Annotated[Path, typer.Argument(help="A results .json file.")],
    pack: Annotated[
        Path | None,
        typer.Option(help="Pack to run on (default: the recorded one, or the miniature)."),
    ] = None,
    allow_other_pack: Annotated[
        bool,
        typer.Option(
            "--allow-other-pack", help="Run on a pack of other content; the result says so."
        ),
    ] = False,
    results: Annotated[
        Path | None, typer.Option(help="Results folder (default: the original's).")
    ] = None,
) -> None:
    """Re-run a results file's experiment and print old vs new per metric; exit 1 beyond the
    protocol's tolerance.

    Example: [bold]emobench reproduce results/p3/emert/small-seed0-20261202T101500.json[/]
    """
    from emobench import api

    with (
        friendly_errors(),
        progress_bar("synthesising miniature") as p_synth,
        progress_bar("preparing pack") as p_prep,
        progress_bar(f"reproducing {results_file.name}") as update,
    ):
        rep = api.reproduce(
            results_file,
            pack=pack,
            allow_other_pack=allow_other_pack,
            results=results,
            progress=update,
            progress_synth=p_synth,
            progress_prepare=p_prep,
            notice=notice,
        )
    table = Table(title=f"{rep.protocol} · {rep.model}: recorded vs re-run")
    for column in ("metric", "recorded", "re-run", "delta"):
        table.add_column(column, justify="left" if column == "metric" else "right", no_wrap=True)
    for c in rep.changes:
        table.add_row(c.metric, f"{c.old:.4f}", f"{c.new:.4f}", f"{c.delta:+.4f}")
    out.print(table)
    _plain(f"re-run: {rep.rerun}")
    _plain(f"tolerance {rep.tolerance:g} ({rep.tolerance_from})")
    if not rep.same_pack:
        _plain("on another pack than the recorded one (--allow-other-pack)")
    if not rep.same_split:
        _plain("[FAIL] the re-run's split digest differs from the recorded one")
    for line in rep.notes:
        _plain(line)
    if rep.identical:
        _plain("identical numbers")
    elif rep.ok:
        _plain("within tolerance")
    else:
        _plain("[FAIL] beyond tolerance")
        raise typer.Exit(1)


@results_app.command("merge")
def results_merge(
    files: Annotated[
        list[Path], typer.Argument(help="Partial results files, or folders holding them.")
    ],
    out_file: Annotated[Path, typer.Option("--out", help="The joined results .json file.")],
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples; 0: none.")] = 1000,
) -> None:
    """Join the results of fold or seed jobs into one run, after checking that they are parts
    of the same run (protocol@version, config, overrides, split and pack digests).

    Example: [bold]emobench results merge results/p3/emert/ --out merged/p3-emert.json[/]
    """
    from emobench import api

    with friendly_errors():
        record = api.merge_results(files, out_file, n_resamples=bootstrap)
    _print_run(record, out_file)


if __name__ == "__main__":
    app()
