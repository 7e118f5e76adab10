"""The pack: one HDF5 file per prepared dataset variant (DESIGN §3.2).

Layout::

    /                       attrs: schema_version, dataset, variant, created_with, source_digest,
                                   steps (JSON), skipped (JSON), n_samples, content_digest
    /samples/<column>       one 1-D dataset per column (id, subject, fold, labels, annotations);
                            ``Pack.samples`` returns it as a pandas DataFrame
    /<modality>/<array>     fixed-shape arrays stacked over samples (N, ...), or ragged arrays
                            concatenated along axis 0 with ``<array>.offsets`` (N + 1,) beside them;
                            chunked so that one sample's slice is one chunk
    /hashes/<modality>:<array>   (N,) sha256 of every sample's slice (dtype, shape and bytes)

The file is written as ``<name>.partial`` and renamed into place only when complete, so a pack
that exists is a finished pack. Readers open the HDF5 handle lazily, once per process, because
h5py handles do not survive ``fork`` into DataLoader workers.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from emobench import __version__
from emobench.errors import PackError

SCHEMA_VERSION = 1
_STR = h5py.string_dtype("utf-8")


def array_digest(array: np.ndarray) -> str:
    """sha256 over dtype, shape and the C-ordered bytes of one sample's array."""
    a = np.ascontiguousarray(array)
    h = hashlib.sha256()
    h.update(f"{a.dtype.str}|{a.shape}|".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def _hash_name(key: str) -> str:
    return "hashes/" + key.replace("/", ":")


def partial_path(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


class PackWriter:
    """Streams samples into a new pack; ``finish()`` renames it into place.

    ``ragged`` names the array keys whose first axis varies per sample (e.g. ``eye/series``).
    Use as a context manager: leaving the block with an exception deletes the partial file.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        dataset: str,
        variant: str,
        source_digest: str,
        steps: dict[str, Any],
        ragged: Iterable[str] = (),
        compression: str | None = None,
    ):
        self.path = Path(path)
        self.tmp = partial_path(self.path)
        self.ragged = set(ragged)
        self.compression = compression
        self.restarted = self.tmp.exists()
        if self.restarted:
            self.tmp.unlink()  # an interrupted earlier prepare: restart cleanly
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._h5 = h5py.File(self.tmp, "w")
        self._h5.attrs.update(
            schema_version=SCHEMA_VERSION,
            dataset=dataset,
            variant=variant,
            created_with=f"emobench {__version__}",
            source_digest=source_digest,
            steps=json.dumps(steps, sort_keys=True),
        )
        self._rows: list[dict[str, Any]] = []
        self._hashes: dict[str, list[str]] = {}
        self._offsets: dict[str, list[int]] = {}
        self._attrs: dict[str, dict[str, Any]] = {}
        self._datasets: dict[str, h5py.Dataset] = {}
        self._used: dict[str, int] = {}  # rows written per dataset (capacity may be larger)

    def __enter__(self) -> PackWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()

    def set_attrs(self, key: str, attrs: dict[str, Any]) -> None:
        """Attributes (units, sampling rate, screen geometry ...) for an array or group."""
        self._attrs.setdefault(key, {}).update(attrs)

    def add(self, row: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        n = len(self._rows)
        if n and set(arrays) != set(self._hashes):
            raise PackError(
                f"sample {row.get('id')!r} has arrays {sorted(arrays)}, "
                f"earlier samples had {sorted(self._hashes)}"
            )
        for key, value in arrays.items():
            self._append(key, np.asarray(value), n)
            self._hashes.setdefault(key, []).append(array_digest(value))
        self._rows.append(dict(row))

    def _append(self, key: str, a: np.ndarray, index: int) -> None:
        """Write one sample's array. Datasets grow by doubling (few h5py resizes) and are
        trimmed to their exact length in ``finish``."""
        ragged = key in self.ragged
        ds = self._datasets.get(key)
        if ds is None:
            item = a.shape[1:] if ragged else a.shape
            chunk = (max(1, a.shape[0]), *item) if ragged else (1, *item)
            ds = self._h5.create_dataset(
                key,
                shape=(64 * chunk[0], *item),
                maxshape=(None, *item),
                dtype=a.dtype,
                chunks=chunk,
                compression=self.compression,
            )
            self._datasets[key] = ds
            self._used[key] = 0
            if ragged:
                self._offsets[key] = [0]
        if not ragged and ds.shape[1:] != a.shape:
            raise PackError(f"array {key!r}: shape {a.shape} differs from earlier {ds.shape[1:]}")
        start = self._used[key]
        stop = start + (a.shape[0] if ragged else 1)
        if stop > ds.shape[0]:
            ds.resize(max(stop, 2 * ds.shape[0]), axis=0)
        if ragged:
            ds[start:stop] = a
            self._offsets[key].append(stop)
        else:
            ds[start] = a
        self._used[key] = stop

    def finish(self, skipped: list[dict[str, str]] | None = None) -> str:
        """Write the sample table, hashes and digest, then rename into place. Returns the digest."""
        if not self._rows:
            self.abort()
            raise PackError(f"{self.path}: no sample could be prepared; nothing written")
        for key, ds in self._datasets.items():
            ds.resize(self._used[key], axis=0)
        table = _normalised_table(pd.DataFrame(self._rows))
        group = self._h5.create_group("samples")
        for column in table.columns:
            values = table[column]
            if values.dtype == object:
                group.create_dataset(column, data=values.to_numpy(), dtype=_STR)
            else:
                group.create_dataset(column, data=values.to_numpy())
        for key, offsets in self._offsets.items():
            self._h5.create_dataset(key + ".offsets", data=np.asarray(offsets, dtype=np.int64))
        for key, digests in self._hashes.items():
            self._h5.create_dataset(
                _hash_name(key), data=np.array(digests, dtype=object), dtype=_STR
            )
        for key, attrs in self._attrs.items():
            if key in self._h5:  # a prepare step may describe arrays a dataset does not have
                self._h5[key].attrs.update(attrs)
        digest = content_digest(table, self._hashes)
        self._h5.attrs.update(
            n_samples=len(self._rows),
            skipped=json.dumps(skipped or []),
            content_digest=digest,
        )
        self._h5.close()
        os.replace(self.tmp, self.path)
        return digest

    def abort(self) -> None:
        if self._h5.id.valid:
            self._h5.close()
        self.tmp.unlink(missing_ok=True)


def _normalised_table(table: pd.DataFrame) -> pd.DataFrame:
    """Columns sorted; numbers stay numbers, everything else becomes str ("" for missing)."""
    out = {}
    for column in sorted(table.columns):
        values = table[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            out[column] = values.to_numpy()
        else:
            out[column] = np.array(
                [
                    "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                    for v in values
                ],
                dtype=object,
            )
    return pd.DataFrame(out)


def content_digest(table: pd.DataFrame, hashes: dict[str, list[str]]) -> str:
    """One sha256 naming exactly what a pack holds: its sample table and every array hash."""
    h = hashlib.sha256()
    h.update(_normalised_table(table).to_csv(index=False).encode())
    for key in sorted(hashes):
        h.update(key.encode())
        for digest in hashes[key]:
            h.update(digest.encode())
    return h.hexdigest()


class Pack:
    """Read access to a finished pack. Cheap to construct and safe to pickle into workers."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            hint = " (an unfinished .partial exists)" if partial_path(self.path).exists() else ""
            raise PackError(f"{self.path}: no such pack{hint}")
        try:
            with h5py.File(self.path, "r") as f:
                self.attrs = {k: _attr(v) for k, v in f.attrs.items()}
                self.samples = pd.DataFrame({k: _column(f["samples"][k]) for k in f["samples"]})
                self.keys = sorted(
                    k
                    for k in _dataset_names(f)
                    if not k.startswith(("samples/", "hashes/")) and not k.endswith(".offsets")
                )
        except (OSError, KeyError) as err:
            raise PackError(f"{self.path}: not a readable emobench pack ({err})") from err
        if self.attrs.get("schema_version") != SCHEMA_VERSION:
            raise PackError(
                f"{self.path}: schema_version {self.attrs.get('schema_version')} is not "
                f"{SCHEMA_VERSION}; re-run `emobench prepare`"
            )
        self._h5: h5py.File | None = None
        self._pid: int | None = None
        self._offsets: dict[str, np.ndarray] = {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_h5"], state["_pid"] = None, None
        return state

    @property
    def digest(self) -> str:
        return str(self.attrs["content_digest"])

    @property
    def steps(self) -> dict:
        return json.loads(self.attrs.get("steps", "{}"))

    @property
    def skipped(self) -> list[dict[str, str]]:
        return json.loads(self.attrs.get("skipped", "[]"))

    def __len__(self) -> int:
        return len(self.samples)

    def file(self) -> h5py.File:
        """The HDF5 handle of this process, opened on first use (one per DataLoader worker)."""
        if self._h5 is None or self._pid != os.getpid():
            self._h5 = h5py.File(self.path, "r")
            self._pid = os.getpid()
            self._offsets = {}
        return self._h5

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def array_attrs(self, key: str) -> dict[str, Any]:
        return {k: _attr(v) for k, v in self.file()[key].attrs.items()}

    def get(self, key: str, index: int) -> np.ndarray:
        f = self.file()
        offsets_key = key + ".offsets"
        if offsets_key in f:
            if key not in self._offsets:
                self._offsets[key] = f[offsets_key][()]
            o = self._offsets[key]
            return f[key][o[index] : o[index + 1]]
        return f[key][index]

    def verify(self, progress: Callable[[int, int], None] | None = None) -> list[str]:
        """Re-hash every stored array; return one line per problem (empty list = intact)."""
        problems: list[str] = []
        f = self.file()
        table = self.samples
        hashes: dict[str, list[str]] = {}
        total = len(self.keys) * len(table)
        done = 0
        for key in self.keys:
            stored = [s.decode() if isinstance(s, bytes) else s for s in f[_hash_name(key)][()]]
            hashes[key] = stored
            for i, expected in enumerate(stored):
                try:
                    actual = array_digest(self.get(key, i))
                except OSError as err:
                    problems.append(f"{key} sample {table['id'][i]}: unreadable ({err})")
                    continue
                if actual != expected:
                    problems.append(f"{key} sample {table['id'][i]}: sha256 mismatch")
                done += 1
                if progress:
                    progress(done, total)
        if not problems and content_digest(table, hashes) != self.digest:
            problems.append("content digest does not match the sample table and hashes")
        return problems

    def info(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "schema_version": self.attrs["schema_version"],
            "dataset": self.attrs["dataset"],
            "variant": self.attrs["variant"],
            "created_with": self.attrs["created_with"],
            "content_digest": self.digest,
            "source_digest": self.attrs["source_digest"],
            "n_samples": len(self),
            "n_subjects": int(self.samples["subject"].nunique()),
            "arrays": {k: self._shape(k) for k in self.keys},
            "skipped": self.skipped,
            "excluded": json.loads(self.attrs.get("excluded", "{}")),
            "steps": self.steps,
        }

    def _shape(self, key: str) -> list[int]:
        return list(self.file()[key].shape)


def _dataset_names(f: h5py.File) -> list[str]:
    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


def _column(ds: h5py.Dataset) -> np.ndarray:
    data = ds[()]
    if data.dtype.kind in "OS":
        return np.array([v.decode() if isinstance(v, bytes) else v for v in data], dtype=object)
    return data


def _attr(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
