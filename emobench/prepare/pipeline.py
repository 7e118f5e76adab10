"""``emobench prepare``: adapter → registered prepare steps → pack.

The registered steps (:mod:`emobench.prepare.step`) each say which samples they apply to; for
each sample the pipeline runs the ones that do, in their declared order, and stores what they
return. The pack's ``steps`` attribute records every step that ran (and the steps those use),
each with its settings: ``{"frames": {"frames": 8, "size": 112, "stride": 0}, ...}``.

A sample whose media fail (missing, undecodable, cut short, unusable gaze — or any unexpected
error of a step) is skipped with the file and the reason, and listed in the pack and on
screen; ``strict=True`` turns any skip into failure before the pack is finished. Rows a release
itself marks as outside the task (DFEW's label 0, "not single-labelled") are not skips: the
adapter counts them in ``excluded``, which is reported and stored in the pack's ``excluded``
attribute. The raw folder is only ever read.

Interrupted prepares resume: the pack writer keeps a journal of the samples it finished (see
:mod:`emobench.pack`), one entry per sample in the adapter's order — its row, or its skip —
so that a rerun of the same command re-hashes and keeps them and carries on with the next
sample; a partial pack made with other settings, samples or raw data is started over, and the
pack finished either way is the one an uninterrupted run writes. ``shard="k/n"`` prepares one
part of the release (:mod:`emobench.prepare.shards`) into its own pack, which records what
``emobench pack merge`` needs to rebuild the whole one.

Settings come from three places, later ones winning: each settings dataclass's defaults, the
adapter's own defaults (``default_frames``: 16 for the in-the-wild video datasets), and the
options given (``prepare_dataset(..., options={"frames": 32, "stride": 2})``, by option name
with ``_`` for ``-``; see :mod:`emobench.prepare.options`). An adapter's own options
(``columns``, ``layout``) are checked against what its constructor accepts.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emobench.datasets.registry import MINIATURE_MARKER, get_adapter
from emobench.datasets.sample import Sample, Skip
from emobench.errors import EmobenchError, InputError, Interrupted
from emobench.malloc_settings import keep_large_blocks
from emobench.pack import PackWriter, ShardRecord, array_digest, check_writable, ids_digest
from emobench.prepare.shards import ShardSpec
from emobench.prepare.step import (
    STEPS,
    PrepareStep,
    active_transforms,
    option_fields,
    option_key,
    ordered_steps,
)
from emobench.prepare.workers import SampleWorkers, WorkerDied

COMPRESSIONS = (None, "lzf", "gzip")  # HDF5 filters every h5py build has


@dataclass
class PrepareReport:
    pack: Path
    digest: str
    n_samples: int
    skipped: list[Skip]
    padded_clips: int
    unknown_label_columns: list[str]
    restarted: bool
    excluded: dict[str, int] = field(default_factory=dict)  # reason → rows left out by design
    steps: dict[str, dict] = field(default_factory=dict)  # step → settings, as in the pack
    unused_options: list[str] = field(default_factory=list)  # given, but no step that ran reads
    notes: list[str] = field(default_factory=list)  # what the adapter had to guess (encodings)
    resumed: int = 0  # samples kept from an interrupted earlier run of the same prepare
    shard: ShardSpec | None = None  # the part of the release this pack holds
    release_size: int = 0  # samples of the whole release (a shard holds about 1/n of them)


class StrictModeError(EmobenchError):
    def __init__(self, skips: list[Skip]):
        self.skips = skips
        lines = "\n".join(f"  {s.path}: {s.sample_id}: {s.reason}" for s in skips[:20])
        more = f"\n  ... and {len(skips) - 20} more" if len(skips) > 20 else ""
        super().__init__(f"--strict: {len(skips)} sample(s) would be skipped:\n{lines}{more}")


# ----------------------------------------------------------------------------------------------
# Settings.


def step_settings(
    dataset: str,
    settings: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The settings of every registered step for ``dataset``: ``settings[step]`` (an instance
    of that step's settings class) or its defaults, then the adapter's defaults (unless the
    instance was given), then ``options`` (``None`` values are options not given). An unknown
    step or option, or a value out of range, is an EmobenchError naming it."""
    adapter_cls = get_adapter(dataset)
    settings = dict(settings or {})
    given = {k: v for k, v in (options or {}).items() if v is not None}
    unknown_steps = sorted(set(settings) - set(STEPS.names()))
    if unknown_steps:
        raise EmobenchError(
            f"unknown prepare step(s) {unknown_steps}; known: {', '.join(STEPS.names())}"
        )
    known = {option_key(f) for step in ordered_steps() for f in option_fields(step.settings)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise EmobenchError(
            f"unknown prepare option(s) {unknown}; known: {', '.join(sorted(known))}"
        )
    resolved: dict[str, Any] = {}
    for step in ordered_steps():
        base = settings.get(step.name)
        changes = {} if base is not None else dict(step.dataset_defaults(adapter_cls))
        for f in option_fields(step.settings):
            if option_key(f) in given:
                changes[f.name] = given[option_key(f)]
        try:
            resolved[step.name] = dataclasses.replace(base or step.settings(), **changes)
        except (TypeError, ValueError) as err:
            raise EmobenchError(f"{step.name} settings: {err}") from err
    return resolved


def default_frames(dataset: str) -> int:
    """Frames per clip ``emobench prepare`` samples when ``--frames`` is not given."""
    return int(step_settings(dataset)["frames"].frames)


def _check_compression(compression: str | None) -> None:
    if compression not in COMPRESSIONS:
        raise EmobenchError(
            f"--compression must be lzf or gzip (or not given for none), got {compression!r}"
        )


# ----------------------------------------------------------------------------------------------
# Adapters and their options.


def adapter_options(adapter_cls: type) -> tuple[str, ...]:
    """The options an adapter accepts: its constructor's keyword parameters after the root.
    The constructor is the declaration, so the list cannot drift from what it takes."""
    params = list(inspect.signature(adapter_cls).parameters.values())[1:]
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return tuple(p.name for p in params if p.kind in kinds)


def open_adapter(dataset: str, root: Path, **options: Any) -> Any:
    """The adapter of ``dataset`` on ``root`` with the options given (``None`` or empty: not
    given). An option the adapter does not accept is refused, naming it and what it accepts."""
    adapter_cls = get_adapter(dataset)
    given = {k: v for k, v in options.items() if v is not None and v != {}}
    accepted = adapter_options(adapter_cls)
    refused = [k for k in given if k not in accepted]
    if refused:
        takes = ", ".join(f"--{a}" for a in accepted) if accepted else "no options of its own"
        raise EmobenchError(
            f"dataset {dataset!r} does not accept "
            + ", ".join(f"--{k}" for k in refused)
            + f" (it takes {takes})"
        )
    return adapter_cls(root, **given)


# ----------------------------------------------------------------------------------------------
# One sample.

# (step name, its settings, the settings of the steps it uses)
Plan = tuple[tuple[str, Any, dict[str, Any]], ...]


def _plan(sample: Sample, steps: list[PrepareStep], settings: Mapping[str, Any]) -> Plan:
    """The steps that apply to ``sample``, each with the settings of the steps it uses — for
    a step that decodes frames, also those of every active frame transform."""
    transforms = active_transforms(settings)
    return tuple(
        (
            s.name,
            settings[s.name],
            {u: settings[u] for u in s.uses} | (transforms if s.decodes_frames else {}),
        )
        for s in steps
        if s.applies(sample)
    )


def _step_file(root: Path, sample: Sample, step: PrepareStep) -> str:
    """The file a failing step read (what its skip names)."""
    paths = [str(root / sample.media[k]) for k in step.media if k in sample.media]
    return paths[0] if paths else str(root)


def prepare_sample(root: Path, sample: Sample, plan: Plan) -> tuple[dict, bool, dict]:
    """All pack arrays of one sample, whether its clip was padded, and its extra table
    columns, by running the planned steps in order. Raises InputError naming the file — also
    for an unexpected error inside a step, which names the step and the error."""
    arrays: dict[str, np.ndarray] = {}
    row: dict[str, Any] = {}
    padded = False
    for name, settings, used in plan:
        step = STEPS.get(name)
        try:
            out = step.run(root, sample, settings, used)
        except InputError:
            raise
        except Exception as err:  # a step's bug or a library's surprise: a skip, not a crash
            problem = f"the {name} step failed: {type(err).__name__}: {err}"
            raise InputError(_step_file(root, sample, step), problem) from err
        arrays.update(out.arrays)
        row.update(out.row)
        padded = padded or out.padded
    return arrays, padded, row


def _prepare_job(job: tuple) -> tuple:
    """Worker side of prepare: one sample's arrays (with their digests by the algorithm
    ``hashed`` names, when it names one, so that worker processes, not the writing one, hash
    them), or the file and problem that skip it. Takes and returns plain tuples so that it
    crosses process boundaries."""
    root, sid, subject, source, media, labels, annotations, plan, hashed = job
    sample = Sample(sid, subject, source, media, labels, annotations)
    try:
        arrays, padded, extra = prepare_sample(root, sample, plan)
    except InputError as err:
        return None, (err.path, err.problem)
    digests = (
        {key: array_digest(value, hashed) for key, value in arrays.items()} if hashed else None
    )
    return (arrays, padded, extra, digests), None


def _jobs(root: Path, samples: list[Sample], plans: list[Plan], hashed: str | None):
    for s, plan in zip(samples, plans, strict=True):
        yield (
            root,
            s.id,
            s.subject,
            s.source,
            dict(s.media),
            dict(s.labels),
            dict(s.annotations),
            plan,
            hashed,
        )


def _row(sample: Sample) -> dict:
    return {"id": sample.id, "subject": sample.subject, **sample.labels, **sample.annotations}


# ----------------------------------------------------------------------------------------------
# The dataset.


def prepare_dataset(
    dataset: str,
    src: str | Path,
    out: str | Path,
    settings: Mapping[str, Any] | None = None,
    *,
    options: Mapping[str, Any] | None = None,
    compression: str | None = None,
    miniature: bool = False,
    strict: bool = False,
    columns: dict[str, str] | None = None,
    layout: str | None = None,
    workers: int = 1,
    progress: Callable[[int, int, str], None] | None = None,
    shard: str | ShardSpec | None = None,
    notice: Callable[[str], None] | None = None,
) -> PrepareReport:
    """Prepare every sample of ``src`` into the pack ``out``.

    ``settings``: step name → that step's settings (others: defaults); ``options``: option
    values by keyword, applied on top (see :func:`step_settings`). ``compression``: the HDF5
    filter of the pack's arrays (``None``, ``"lzf"``, ``"gzip"``). ``miniature``: the source
    is emobench's synthetic miniature (also detected from its marker file).

    ``workers`` > 1 decodes and extracts features in that many worker processes (forked
    where that is safe, see :mod:`emobench.prepare.workers`); results are written in sample
    order, so the pack does not depend on the number of workers. Prepare keeps freed large
    blocks in the process's heap for the next frames
    (:func:`~emobench.malloc_settings.keep_large_blocks`); the setting stays for the process.

    ``shard``: ``"k/n"`` prepares part k of n into ``<out stem>.shard-<k>of<n>.h5`` (see
    :mod:`emobench.prepare.shards`). ``notice`` receives the sentences about an earlier,
    unfinished run of this prepare (resumed, or started over and why)."""
    _check_compression(compression)
    keep_large_blocks()  # before the workers fork: they inherit it
    part = ShardSpec.parse(shard) if shard is not None else None
    resolved = step_settings(dataset, settings, options)
    root = Path(src)
    miniature = miniature or (root / MINIATURE_MARKER).is_file()
    adapter = open_adapter(dataset, root, columns=columns, layout=layout)
    out = part.pack_path(out) if part else Path(out)
    if out.resolve().is_relative_to(root.resolve()):
        raise InputError(out, f"the pack must not be written inside the raw folder {root}")
    check_writable(out)
    samples, skips = adapter.scan()
    excluded = dict(getattr(adapter, "excluded", {}))
    notes = list(getattr(adapter, "notes", []))
    if strict and skips:
        raise StrictModeError(skips)

    steps = ordered_steps()
    for step in steps:
        samples = step.assign(samples, resolved[step.name])
    plans = [_plan(s, steps, resolved) for s in samples]
    ran = [s for s in steps if any(name == s.name for plan in plans for name, _, _ in plan)]
    used = {u for plan in plans for _, _, uses in plan for u in uses}
    recorded = {s.name for s in ran} | used
    recorded_settings = {s.name: resolved[s.name].as_dict() for s in steps if s.name in recorded}
    idle = sorted(set(active_transforms(resolved)) - used)
    if idle and samples:
        raise EmobenchError(
            f"the {', '.join(idle)} step changes decoded frames, but no step of {dataset!r} "
            "decodes frames (its media are not face videos or frame folders): nothing would "
            f"be {'masked' if 'masks' in idle else 'changed'}"
        )
    variant: dict[str, Any] = {}
    for step in steps:
        if step in ran or (step.transforms_frames and step.name in used):
            step.preflight(resolved[step.name])
            variant.update(step.variant(resolved[step.name]))
    # The settings, variant and label columns above come from the whole release, so that every
    # shard records the same ones as a single-process prepare; only the work is divided.
    label_columns = sorted({k for s in samples for k in s.labels})
    release = samples
    record = None
    if part is not None:
        mine = part.select(samples)
        record = ShardRecord(part.index, part.count, tuple(s.id for s in samples), len(skips))
        samples, plans = [samples[i] for i in mine], [plans[i] for i in mine]
    # Workers start before the pack is opened: a forked worker then holds no copy of its file.
    parallel = workers > 1 and len(samples) > 1
    with SampleWorkers(_prepare_job, workers) if parallel else nullcontext() as pool:
        writer = PackWriter(
            out,
            dataset=dataset,
            variant=",".join(f"{k}={v}" for k, v in variant.items()),
            source_digest=adapter.source_digest(release),
            steps=recorded_settings,
            ragged=[a.key for s in ran for a in s.arrays if a.ragged],
            compression=compression,
            miniature=miniature,
            resume_identity={"samples": _samples_digest(samples)},
            shard=record,
            allow_empty=part is not None,
        )
        padded = prepared = 0
        for note in writer.resumed:  # the samples an interrupted earlier run finished
            if note.get("skip"):
                skips.append(Skip(**note["skip"]))
            else:
                padded += note["padded"]
                prepared += 1
        start = len(writer.resumed)
        if notice and start:
            dropped = writer.resume_dropped
            notice(
                f"resuming: {start} of {len(samples)} samples already prepared (re-hashed and "
                f"verified in {writer.tmp})"
                + (f"; {dropped} more did not re-hash and are prepared again" if dropped else "")
            )
        elif notice and writer.resume_message:
            notice(writer.resume_message)
        if strict and skips:
            writer.suspend()
            raise StrictModeError(skips)
        jobs = _jobs(
            root, samples[start:], plans[start:], hashed=writer.array_hash if pool else None
        )
        results = pool.results(jobs) if pool else map(_prepare_job, jobs)
        with writer:
            if progress and start:
                progress(start, len(samples), "resumed")
            done = _write_samples(
                writer, root, samples, plans, start, results, skips, strict, progress
            )
            prepared, padded = prepared + done[0], padded + done[1]
            written = set(writer.array_keys)  # every array key a sample wrote
            for step in ran:
                for spec in step.arrays:
                    attrs = spec.attrs(resolved[spec.settings_of or step.name])
                    writer.set_attrs(spec.key, attrs)
                    for key in _variants_of(spec.key, written):
                        writer.set_attrs(key, {**attrs, "variant_of": spec.key})
            if excluded:
                writer.set_attrs("/", {"excluded": json.dumps(excluded, sort_keys=True)})
            writer.set_attrs(
                "/",
                {
                    "label_columns": json.dumps(label_columns),
                    "source_notes": json.dumps(notes),
                },
            )
            digest = writer.finish([s.as_dict() for s in skips])
    return PrepareReport(
        out,
        digest,
        prepared,
        skips,
        padded,
        adapter_unknown(adapter),
        writer.restarted,
        excluded,
        steps=recorded_settings,
        unused_options=_unused(options, [s for s in steps if s.name in recorded]),
        notes=notes,
        resumed=start,
        shard=part,
        release_size=len(release),
    )


def _write_samples(
    writer: PackWriter,
    root: Path,
    samples: list[Sample],
    plans: list[Plan],
    start: int,
    results: Iterable[tuple],
    skips: list[Skip],
    strict: bool,
    progress: Callable[[int, int, str], None] | None,
) -> tuple[int, int]:
    """Write the result of every sample from ``start`` on, in order, or record its skip (added
    to ``skips``); returns how many samples were written and how many of them padded."""
    prepared = padded = 0
    results = iter(results)
    for i, (sample, plan) in enumerate(zip(samples[start:], plans[start:], strict=True), start):
        try:
            done, failure = next(results)
        except WorkerDied as err:
            raise Interrupted(
                f"{err} while preparing sample {sample.id}; the samples before it are kept in "
                f"{writer.tmp}: run the same command again to resume"
            ) from err
        if not plan:
            failure = (str(root), f"no prepare step reads its media {sorted(sample.media)}")
        if failure is not None:
            skip = Skip(sample.id, _relative(failure[0], root), failure[1])
            skips.append(skip)
            if strict:
                raise StrictModeError(skips)
            writer.record({"skip": skip.as_dict()})
        else:
            arrays, was_padded, extra, digests = done
            row = {**_row(sample), **extra}
            writer.add(row, arrays, note={"padded": was_padded}, digests=digests)
            padded += was_padded
            prepared += 1
        if progress:
            progress(i + 1, len(samples), sample.id)
    return prepared, padded


def _samples_digest(samples: list[Sample]) -> str:
    """sha256 naming the samples a prepare will add, in order, with everything the adapter
    read about them (labels, annotations, media): a partial pack is only resumed for the
    same list (the same ``--columns``, ``--layout``, label files and shard)."""
    return ids_digest(
        json.dumps(
            [s.id, s.subject, s.source, dict(s.media), dict(s.labels), dict(s.annotations)],
            sort_keys=True,
            default=str,
        )
        for s in samples
    )


def _variants_of(key: str, written: set[str]) -> list[str]:
    """The frame-transform variants of array ``key`` that samples wrote (``face/frames`` →
    ``face_chin_only/frames``, see :func:`~emobench.prepare.step.variant_key`)."""
    group, _, rest = key.partition("/")
    return sorted(
        k for k in written if k != key and k.startswith(group + "_") and k.endswith("/" + rest)
    )


def _unused(options: Mapping[str, Any] | None, recorded: list[PrepareStep]) -> list[str]:
    read = {option_key(f) for s in recorded for f in option_fields(s.settings)}
    return sorted(k for k, v in (options or {}).items() if v is not None and k not in read)


def adapter_unknown(adapter) -> list[str]:
    return list(getattr(adapter, "unknown_columns", []))


def _relative(path: str, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
