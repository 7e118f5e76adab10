"""``emobench pack merge``: join the shard packs of one sharded prepare into the whole pack.

The shards of ``prepare --shard k/n`` (:mod:`emobench.prepare.shards`) each record their part
number, the dataset, the steps with their settings, the source digest and the ids of every
sample of the release (:class:`~emobench.pack.ShardRecord`). Merging checks that the packs
given are the ``n`` parts of one prepare — the same dataset, variant, steps and settings, raw
data and emobench version, parts 1…n each exactly once, every sample of the release in exactly
one part (as a row or as a skip) — and refuses, naming the files, when they are not. It then
re-hashes every array of every shard (a damaged shard is named), puts the rows back in the
release's order and writes them with the same writer a single-process prepare uses (to a
temporary name, renamed when complete), so the merged pack's content digest is the one
``emobench prepare`` without ``--shard`` gives for the same release and settings.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emobench.errors import PackError
from emobench.pack import Pack, PackWriter, ShardRecord, group_of

# Root attributes the merged pack gets from the writer or from the merge itself; every other
# root attribute is the release's (label columns, exclusions, notes) and must agree.
_WRITER_ATTRS = {
    "schema_version",
    "dataset",
    "variant",
    "created_with",
    "source_digest",
    "miniature",
    "steps",
    "array_hash",
    "n_samples",
    "skipped",
    "content_digest",
    "shard",
}
# What the shards must share, in words for the error.
_SHARED = (
    ("dataset", "dataset"),
    ("steps", "prepare steps and settings"),
    ("variant", "variant"),
    ("source_digest", "raw data (source digest)"),
    ("miniature", "source (miniature or real data)"),
    ("created_with", "emobench version"),
    ("array_hash", "array hash algorithm"),
)


@dataclass
class MergeReport:
    pack: Path
    digest: str
    n_samples: int
    n_shards: int
    skipped: list[dict[str, str]]


@dataclass
class _Shard:
    path: Path
    pack: Pack
    record: ShardRecord
    hashes: dict[str, list[str]]  # every array's stored digests, read once


def merge_packs(
    paths: Iterable[str | Path],
    out: str | Path,
    *,
    progress: Callable[[int, int, str], None] | None = None,
) -> MergeReport:
    """Check the shard packs at ``paths`` and write their merged pack at ``out``."""
    paths = [Path(p) for p in paths]
    out = Path(out)
    if not paths:
        raise PackError("pack merge: no shard packs given")
    for p in paths:
        if p.resolve() == out.resolve():
            raise PackError(f"{out}: --out is one of the shard packs being merged")
    shards = [_open_shard(p) for p in paths]
    _check_same(shards)
    order, rows, skips = _placement(shards)
    first = shards[0]
    for s in shards:
        s.pack.check_digest()
    writer = PackWriter(
        out,
        dataset=first.pack.attrs["dataset"],
        variant=first.pack.attrs["variant"],
        source_digest=first.pack.attrs.get("source_digest", ""),
        steps=first.pack.steps,
        ragged=sorted({k for s in shards for k in _ragged(s.pack)}),
        compression=_compression(shards),
        miniature=first.pack.miniature,
        array_hash=first.pack.array_hash,
    )
    with writer:
        for done, position in enumerate(order, 1):
            shard, row = rows[position]
            arrays = _arrays(shard, row)
            digests = {key: shard.hashes[key][row] for key in arrays}
            writer.add({"id": shard.pack.samples["id"][row]}, arrays, digests=digests)
            if progress:
                progress(done, len(order), str(shard.pack.samples["id"][row]))
        for key, attrs in _array_attrs(shards).items():
            writer.set_attrs(key, attrs)
        writer.set_attrs("/", _release_attrs(shards))
        table = _table(shards, rows, order)
        scan = first.pack.skipped[: first.record.scan_skipped]
        merged_skips = scan + [skip for _, skip in sorted(skips)]
        digest = writer.finish(merged_skips, table=table)
    return MergeReport(out, digest, len(order), len(shards), merged_skips)


def _open_shard(path: Path) -> _Shard:
    pack = Pack(path)
    record = pack.shard
    if record is None:
        raise PackError(
            f"{path}: not a shard pack (it was prepared without --shard); pack merge takes the "
            "packs of one `emobench prepare --shard k/n` run"
        )
    return _Shard(path, pack, record, pack.stored_hashes())


def _differ(shards: list[_Shard], what: str, value: Callable[[_Shard], Any]) -> str | None:
    """How the shards differ in ``value`` (each value with its files), or None."""
    groups: dict[str, list[str]] = {}
    for s in shards:
        groups.setdefault(json.dumps(value(s), sort_keys=True, default=str), []).append(str(s.path))
    if len(groups) == 1:
        return None
    return f"{what}:\n" + "\n".join(f"  {v}: {', '.join(files)}" for v, files in groups.items())


def _check_same(shards: list[_Shard]) -> None:
    checks = [
        *((what, lambda s, key=key: s.pack.attrs.get(key)) for key, what in _SHARED),
        ("number of parts (--shard k/N)", lambda s: s.record.count),
        ("list of the release's samples", lambda s: s.record.release_digest),
        ("skips found reading the release", _scan_skips),
        (
            "release attributes",
            lambda s: {k: v for k, v in s.pack.attrs.items() if k not in _WRITER_ATTRS},
        ),
    ]
    differences = [d for what, value in checks if (d := _differ(shards, what, value))]
    if differences:
        raise PackError(
            "pack merge: the shards are not the parts of one prepare; they differ in\n"
            + "\n".join(f"their {d}" for d in differences)
        )
    count = shards[0].record.count
    given = Counter(s.record.index for s in shards)
    twice = sorted(k for k, n in given.items() if n > 1)
    if twice:
        k = twice[0]
        files = ", ".join(str(s.path) for s in shards if s.record.index == k)
        raise PackError(f"pack merge: shard {k}/{count} is given more than once: {files}")
    missing = [f"{k}/{count}" for k in range(1, count + 1) if k not in given]
    if missing:
        have = ", ".join(f"{s.path} = {s.record.index}/{count}" for s in shards)
        raise PackError(
            f"pack merge: shard(s) {', '.join(missing)} missing (given: {have}); prepare them "
            "with --shard, then merge all of them"
        )


def _scan_skips(shard: _Shard) -> list[dict[str, str]]:
    return shard.pack.skipped[: shard.record.scan_skipped]


def _placement(shards: list[_Shard]):
    """Where each sample of the release is: ``order`` (release positions that have a row),
    ``rows`` (position → shard and row) and ``skips`` ((position, skip) of the samples a
    shard skipped). Refuses a sample in two shards, one outside its shard's share and a
    sample in none."""
    release = shards[0].record.release_ids
    position_of = {sid: i for i, sid in enumerate(release)}
    where: dict[int, tuple[_Shard, str]] = {}
    rows: dict[int, tuple[_Shard, int]] = {}
    skips: list[tuple[int, dict[str, str]]] = []

    def place(shard: _Shard, sid: str, how: str) -> int:
        position = position_of.get(sid)
        if position is None:
            raise PackError(f"{shard.path}: sample {sid} ({how}) is not in the release")
        if position in where:
            other = where[position][0].path
            raise PackError(f"pack merge: sample {sid} is in both {other} and {shard.path}")
        if position % shard.record.count != shard.record.index - 1:
            owner = position % shard.record.count + 1
            raise PackError(
                f"{shard.path}: holds sample {sid}, which belongs to shard "
                f"{owner}/{shard.record.count}"
            )
        where[position] = (shard, how)
        return position

    for shard in shards:
        for row, sid in enumerate(shard.pack.samples["id"] if len(shard.pack) else []):
            rows[place(shard, str(sid), "a row")] = (shard, row)
        for skip in shard.pack.skipped[shard.record.scan_skipped :]:
            skips.append((place(shard, str(skip["sample_id"]), "skipped"), skip))
    missing = [i for i in range(len(release)) if i not in where]
    if missing:
        count = shards[0].record.count
        owners = {i % count + 1 for i in missing}
        files = ", ".join(str(s.path) for s in shards if s.record.index in owners)
        shown = ", ".join(release[i] for i in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise PackError(
            f"pack merge: {len(missing)} sample(s) of the release are in no shard "
            f"({shown}{more}); their shards ({files}) are incomplete — prepare them again"
        )
    return sorted(rows), rows, skips


def _arrays(shard: _Shard, row: int) -> dict[str, np.ndarray]:
    """Every array of one shard row, each checked against its stored digest."""
    return {
        key: shard.pack.get_verified(key, row)
        for key in shard.pack.keys
        if shard.pack.present(group_of(key))[row]
    }


def _ragged(pack: Pack) -> list[str]:
    f = pack.file()
    return [k for k in pack.keys if k + ".offsets" in f]


def _compression(shards: list[_Shard]) -> str | None:
    kinds = {s.pack.file()[k].compression for s in shards for k in s.pack.keys}
    if len(kinds) > 1:
        raise PackError(f"pack merge: the shards were written with different compression {kinds}")
    return next(iter(kinds), None)


def _array_attrs(shards: list[_Shard]) -> dict[str, dict[str, Any]]:
    """The attributes of every array and group of the shards (a shard lacks the arrays no
    sample of its part has); two shards that describe one array differently are refused."""
    merged: dict[str, dict[str, Any]] = {}
    source: dict[str, Path] = {}
    for s in shards:
        f = s.pack.file()
        names: list[str] = []
        f.visit(names.append)
        for name in names:
            if name.split("/")[0] in ("samples", "hashes", "shard"):
                continue
            attrs = s.pack.array_attrs(name)
            if not attrs:
                continue
            if name in merged and merged[name] != attrs:
                raise PackError(
                    f"pack merge: {source[name]} and {s.path} describe {name} differently "
                    f"({merged[name]} vs {attrs})"
                )
            merged[name], source[name] = attrs, s.path
    return merged


def _release_attrs(shards: list[_Shard]) -> dict[str, Any]:
    """The root attributes of the release (label columns, exclusions, notes) and the
    emobench version the shards were prepared with."""
    attrs = shards[0].pack.attrs
    keep = {k: v for k, v in attrs.items() if k not in _WRITER_ATTRS}
    return {**keep, "created_with": attrs.get("created_with", "")}


def _table(
    shards: list[_Shard], rows: dict[int, tuple[_Shard, int]], order: list[int]
) -> pd.DataFrame:
    """The merged sample table, in the release's order, with the column types one table of
    all rows gets: a column that is numeric in some shard and holds only empty text in
    another (a value every row of that part lacked) is numeric with missing values."""
    numeric = {
        c
        for s in shards
        for c in s.pack.samples.columns
        if pd.api.types.is_numeric_dtype(s.pack.samples[c])
    }
    parts = []
    for s in shards:
        table = s.pack.samples.copy()
        for column in numeric & set(table.columns):
            values = table[column]
            if values.dtype == object and (values == "").all():
                table[column] = np.nan
        position_of = {row: p for p, (owner, row) in rows.items() if owner is s}
        table.index = pd.Index([position_of[row] for row in range(len(table))])
        parts.append(table)
    frames = [t for t in parts if len(t)]
    return pd.concat(frames).loc[order].reset_index(drop=True)
