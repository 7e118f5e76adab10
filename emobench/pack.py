"""The pack: one HDF5 file per prepared dataset variant (DESIGN §3.2).

Layout::

    /                       attrs: schema_version, dataset, variant, created_with, source_digest,
                                   miniature, steps (JSON), skipped (JSON), excluded (JSON),
                                   n_samples, content_digest
    /samples/<column>       one 1-D dataset per column (id, subject, fold, labels, annotations);
                            ``Pack.samples`` returns it as a pandas DataFrame
    /<group>/present        (N,) bool: which rows hold this group's arrays (a row may lack a
                            modality, e.g. a visible image without its thermal pair)
    /<group>/<array>        the present rows' arrays: fixed-shape ones stacked (P, ...), ragged
                            ones concatenated along axis 0 with ``<array>.offsets`` (P + 1,)
                            beside them; fixed-shape arrays are chunked one sample per
                            chunk, ragged ones in chunks of their first sample's length
    /hashes/<group>:<array>   (N,) sha256 of every sample's slice (dtype, shape and bytes);
                            "" for a row that lacks the group

The content digest covers everything the pack holds: the sample table, every array hash, the
presence masks, every root attribute (``created_with`` too: which emobench wrote it) and every
array's attributes (units, rates, layouts). ``verify`` re-hashes all of it.

The file is written as ``<name>.partial`` and renamed into place only when complete, so a pack
that exists is a finished pack; a lock file beside it (``<name>.lock``) keeps a second prepare
from writing the same pack at the same time. Readers open the HDF5 handle lazily, once per
process, because h5py handles do not survive ``fork`` into DataLoader workers.
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
from emobench.errors import PackCorrupt, PackError

SCHEMA_VERSION = 2
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


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def group_of(key: str) -> str:
    """The group an array key lives in (``face/frames`` → ``face``)."""
    group, sep, name = key.partition("/")
    if not sep or not group or not name or "/" in name:
        raise PackError(f"array key {key!r} is not of the form <group>/<array>")
    return group


# The one root attribute the content digest cannot cover: itself.
_NOT_CONTENT = ("content_digest",)


def check_writable(path: Path) -> None:
    """Fail before any work when a pack cannot be written at ``path``."""
    if path.is_dir():
        raise PackError(f"{path}: --out is a directory; give the pack's file name")
    parent = path.parent
    for folder in (parent, *parent.parents):
        if folder.exists():
            if not folder.is_dir():
                raise PackError(f"{path}: {folder} is a file, not a folder")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise PackError(f"{path}: the folder {folder} is not writable")
            break


class PackLock:
    """``<pack>.lock``, held with an exclusive ``flock`` for as long as one prepare writes the
    pack and holding its pid (for the message): a second prepare to the same pack is refused
    while the first runs. The kernel drops the flock when its process dies, so a lock file
    left by a killed prepare is simply taken over; after taking the flock the file is checked
    to be the one at the path (another process may have replaced it meanwhile)."""

    def __init__(self, path: Path):
        self.path = lock_path(path)
        self._fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        for _ in range(10):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            except OSError as err:
                raise PackError(f"{self.path}: cannot create the lock file ({err})") from err
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.read(fd, 32).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise PackError(
                    f"{self.path.with_suffix('')}: another prepare (pid {owner}) is writing "
                    "this pack; wait for it to finish"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # released and removed by its last holder meanwhile: try again
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            self._fd = fd
            return
        raise PackError(f"{self.path}: could not take the lock")

    def release(self) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)  # while still holding it: no one reuses this inode
        os.close(self._fd)
        self._fd = None


class PackWriter:
    """Streams samples into a new pack; ``finish()`` renames it into place.

    ``ragged`` names the array keys whose first axis varies per sample (e.g. ``eye/series``).
    A row may lack a whole group (its ``present`` mask says so); within a group, a row holds
    all of the group's arrays or none. Use as a context manager: leaving the block with an
    exception deletes the partial file and releases the lock.
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
        miniature: bool = False,
    ):
        self.path = Path(path)
        self.tmp = partial_path(self.path)
        self.ragged = set(ragged)
        self.compression = compression
        check_writable(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise PackError(f"{self.path}: cannot create its folder ({err})") from err
        self._lock = PackLock(self.path)
        self._lock.acquire()
        try:
            self.restarted = self.tmp.exists()
            if self.restarted:
                self.tmp.unlink()  # an interrupted earlier prepare (its lock was stale)
            self._h5 = h5py.File(self.tmp, "w")
        except OSError as err:
            self._lock.release()
            raise PackError(f"{self.tmp}: cannot write the pack ({err})") from err
        self._h5.attrs.update(
            schema_version=SCHEMA_VERSION,
            dataset=dataset,
            variant=variant,
            created_with=f"emobench {__version__}",
            source_digest=source_digest,
            miniature=bool(miniature),
            steps=json.dumps(steps, sort_keys=True),
        )
        self._rows: list[dict[str, Any]] = []
        self._present: dict[str, list[bool]] = {}  # group → per row
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
        by_group: dict[str, set[str]] = {}
        for key in arrays:
            by_group.setdefault(group_of(key), set()).add(key)
        for group, keys in by_group.items():
            known = {k for k in self._hashes if group_of(k) == group}
            if known and keys != known:
                raise PackError(
                    f"sample {row.get('id')!r} has {group} arrays {sorted(keys)}, earlier "
                    f"samples had {sorted(known)}"
                )
        for group in set(self._present) | set(by_group):
            self._present.setdefault(group, [False] * n).append(group in by_group)
        for key, value in arrays.items():
            self._append(key, np.asarray(value))
            self._hashes.setdefault(key, [""] * n).append(array_digest(value))
        for digests in self._hashes.values():
            if len(digests) == n:  # this row lacks the key's group
                digests.append("")
        self._rows.append(dict(row))

    def _append(self, key: str, a: np.ndarray) -> None:
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
        for group, present in self._present.items():
            self._h5.create_dataset(f"{group}/present", data=np.asarray(present, dtype=bool))
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
        self._h5.attrs.update(n_samples=len(self._rows), skipped=json.dumps(skipped or []))
        digest = content_digest(table, self._hashes, self._present, _all_attrs(self._h5))
        self._h5.attrs["content_digest"] = digest
        self._h5.close()
        try:
            os.replace(self.tmp, self.path)
        except OSError as err:
            self.abort()
            raise PackError(
                f"{self.path}: cannot move the finished pack into place ({err})"
            ) from err
        self._lock.release()
        return digest

    def abort(self) -> None:
        if self._h5.id.valid:
            self._h5.close()
        self.tmp.unlink(missing_ok=True)
        self._lock.release()


def flag_column(values: pd.Series) -> np.ndarray:
    """A yes/no ``/samples`` column as (N,) bool. The table stores booleans as the text
    ``True``/``False`` (see :func:`_normalised_table`); numbers count as true when non-zero,
    an empty cell as false."""
    if pd.api.types.is_numeric_dtype(values):
        return values.fillna(0).to_numpy() != 0
    return values.astype(str).str.strip().str.lower().isin(("true", "1", "yes")).to_numpy()


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


def content_digest(
    table: pd.DataFrame,
    hashes: dict[str, list[str]],
    present: dict[str, Any],
    attrs: dict[str, dict[str, Any]],
) -> str:
    """One sha256 naming exactly what a pack holds: its sample table, every array hash, the
    presence masks and the attributes of the root and of every array (``attrs``: path →
    attributes, ``"/"`` for the root, whose ``content_digest`` is left out)."""
    h = hashlib.sha256()
    h.update(_normalised_table(table).to_csv(index=False).encode())
    for key in sorted(hashes):
        h.update(key.encode())
        for digest in hashes[key]:
            h.update(digest.encode() + b"|")
    for group in sorted(present):
        h.update(f"present:{group}:".encode() + np.asarray(present[group], bool).tobytes())
    for path in sorted(attrs):
        values = {k: v for k, v in attrs[path].items() if path != "/" or k not in _NOT_CONTENT}
        h.update(f"attrs:{path}:".encode())
        h.update(json.dumps(values, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _all_attrs(f: h5py.File) -> dict[str, dict[str, Any]]:
    """Attributes of the root and of every group and dataset that has some, decoded."""
    out = {"/": {k: _attr(v) for k, v in f.attrs.items()}}

    def visit(name: str, obj: Any) -> None:
        if len(obj.attrs):
            out[name] = {k: _attr(v) for k, v in obj.attrs.items()}

    f.visititems(visit)
    return out


class Pack:
    """Read access to a finished pack. Cheap to construct and safe to pickle into workers.

    Opening reads the root attributes and the sample table; a pack whose structure or
    attributes cannot be read is :class:`PackCorrupt`, naming the file and what failed."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            hint = " (an unfinished .partial exists)" if partial_path(self.path).exists() else ""
            raise PackError(f"{self.path}: no such pack{hint}")
        if self.path.is_dir():
            raise PackError(f"{self.path}: is a folder, not a pack file")
        try:
            with h5py.File(self.path, "r") as f:
                self.attrs = {k: _attr(v) for k, v in f.attrs.items()}
                if self.attrs.get("schema_version") != SCHEMA_VERSION:
                    raise PackError(
                        f"{self.path}: schema_version {self.attrs.get('schema_version')} is "
                        f"not {SCHEMA_VERSION}; re-run `emobench prepare`"
                    )
                self.samples = pd.DataFrame({k: _column(f["samples"][k]) for k in f["samples"]})
                names = _dataset_names(f)
                self.keys = sorted(
                    k
                    for k in names
                    if not k.startswith(("samples/", "hashes/"))
                    and not k.endswith((".offsets", "/present"))
                )
                self._present = {
                    k.rsplit("/", 1)[0]: f[k][()].astype(bool)
                    for k in names
                    if k.endswith("/present")
                }
        except PackError:
            raise
        except Exception as err:  # h5py raises OSError, KeyError, RuntimeError, ValueError …
            raise PackCorrupt(f"{self.path}: not a readable emobench pack ({err})") from err
        self._json = {}
        for name, default in (
            ("steps", "{}"),
            ("skipped", "[]"),
            ("excluded", "{}"),
            ("label_columns", "[]"),
            ("source_notes", "[]"),
        ):
            try:
                self._json[name] = json.loads(self.attrs.get(name, default))
            except (TypeError, ValueError) as err:
                raise PackCorrupt(
                    f"{self.path}: the {name!r} attribute is not valid JSON ({err}); the pack "
                    "is damaged — prepare it again"
                ) from err
        if "content_digest" not in self.attrs or "dataset" not in self.attrs:
            raise PackCorrupt(f"{self.path}: root attributes are missing; prepare it again")
        self._h5: h5py.File | None = None
        self._pid: int | None = None
        self._offsets: dict[str, np.ndarray] = {}
        self._rank: dict[str, np.ndarray] = {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_h5"], state["_pid"] = None, None
        return state

    @property
    def digest(self) -> str:
        return str(self.attrs["content_digest"])

    @property
    def steps(self) -> dict:
        """Every prepare step that ran, with its settings: ``{step: {setting: value}}``."""
        return self._json["steps"]

    @property
    def miniature(self) -> bool:
        """True when the pack was prepared from emobench's synthetic miniature."""
        return bool(self.attrs.get("miniature", False))

    @property
    def skipped(self) -> list[dict[str, str]]:
        return self._json["skipped"]

    @property
    def excluded(self) -> dict[str, int]:
        return self._json["excluded"]

    @property
    def label_columns(self) -> list[str]:
        """The columns of ``samples`` that the adapter gave as labels (the rest are ids,
        annotations and step manifests)."""
        return self._json["label_columns"]

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

    def present(self, group: str) -> np.ndarray:
        """(N,) bool: the rows that hold ``group``'s arrays."""
        if group not in self._present:
            return np.zeros(len(self), dtype=bool)
        return self._present[group]

    def item_shape(self, key: str) -> tuple[int, ...]:
        """The per-sample shape of a fixed-shape array (ragged arrays: the trailing axes)."""
        return tuple(int(d) for d in self.file()[key].shape[1:])

    def hash_of(self, key: str, index: int) -> str:
        value = self.file()[_hash_name(key)][index]
        return value.decode() if isinstance(value, bytes) else str(value)

    def get(self, key: str, index: int) -> np.ndarray:
        """Sample ``index``'s array ``key``; a row that lacks the key's group is an error."""
        group = group_of(key)
        if group not in self._rank:
            present = self.present(group)
            self._rank[group] = np.cumsum(present) - 1
        if not self.present(group)[index]:
            raise PackError(f"{self.path}: sample {self.samples['id'][index]} has no {group} data")
        row = int(self._rank[group][index])
        f = self.file()
        offsets_key = key + ".offsets"
        if offsets_key in f:
            if key not in self._offsets:
                self._offsets[key] = f[offsets_key][()]
            o = self._offsets[key]
            return f[key][o[row] : o[row + 1]]
        return f[key][row]

    def get_verified(self, key: str, index: int) -> np.ndarray:
        """:meth:`get`, checked against the sample's stored sha256 (PackCorrupt if not)."""
        try:
            array = self.get(key, index)
        except PackError:
            raise
        except Exception as err:
            raise PackCorrupt(
                f"{self.path}: {key} of sample {self.samples['id'][index]} is unreadable "
                f"({err}); run `emobench verify {self.path}`"
            ) from err
        if array_digest(array) != self.hash_of(key, index):
            raise PackCorrupt(
                f"{self.path}: {key} of sample {self.samples['id'][index]} does not match its "
                f"sha256 — the pack is corrupt; run `emobench verify {self.path}`"
            )
        return array

    def stored_hashes(self) -> dict[str, list[str]]:
        f = self.file()
        return {
            key: [s.decode() if isinstance(s, bytes) else s for s in f[_hash_name(key)][()]]
            for key in self.keys
        }

    def check_digest(self) -> None:
        """Check that the sample table, the array hashes, the presence masks and every
        attribute still give the stored content digest (no array is read: pair it with
        :meth:`get_verified`). Raises PackCorrupt."""
        try:
            actual = content_digest(
                self.samples, self.stored_hashes(), self._present, _all_attrs(self.file())
            )
        except Exception as err:
            raise PackCorrupt(f"{self.path}: hashes or attributes unreadable ({err})") from err
        if actual != self.digest:
            raise PackCorrupt(
                f"{self.path}: the sample table, hashes or attributes do not give the stored "
                f"content digest; the pack is corrupt — run `emobench verify {self.path}`"
            )

    def verify(self, progress: Callable[[int, int], None] | None = None) -> list[str]:
        """Re-hash every stored array and the digest of everything else; return one line per
        problem (empty list = intact)."""
        problems: list[str] = []
        table = self.samples
        try:
            hashes = self.stored_hashes()
        except Exception as err:
            return [f"array hashes unreadable ({err})"]
        for group in sorted(self._present):
            kind = self.file()[f"{group}/present"].dtype
            if kind != np.dtype(bool):
                problems.append(f"{group}/present: stored as {kind}, not bool")
        total = sum(int(self.present(group_of(k)).sum()) for k in self.keys)
        done = 0
        for key in self.keys:
            present = self.present(group_of(key))
            shape_problem = self._shape_problem(key, int(present.sum()))
            if shape_problem:
                problems.append(f"{key}: {shape_problem}")
                continue
            for i, expected in enumerate(hashes[key]):
                if not present[i]:
                    if expected:
                        problems.append(f"{key} sample {table['id'][i]}: hash for an absent row")
                    continue
                try:
                    actual = array_digest(self.get(key, i))
                except Exception as err:
                    problems.append(f"{key} sample {table['id'][i]}: unreadable ({err})")
                    continue
                if actual != expected:
                    problems.append(f"{key} sample {table['id'][i]}: sha256 mismatch")
                done += 1
                if progress:
                    progress(done, total)
        try:
            attrs = _all_attrs(self.file())
            digest = content_digest(table, hashes, self._present, attrs)
        except Exception as err:
            return [*problems, f"attributes unreadable ({err})"]
        if digest != self.digest:
            problems.append(
                "content digest does not match the sample table, hashes, presence masks and "
                "attributes (a root or array attribute, or the table, was changed)"
            )
        return problems

    def _shape_problem(self, key: str, rows: int) -> str | None:
        """Whether array ``key`` holds exactly ``rows`` samples (a ragged one: ``rows`` + 1
        offsets that cover its whole length), so no stored byte lies outside every sample."""
        try:
            f = self.file()
            length = int(f[key].shape[0])
            offsets_key = key + ".offsets"
            if offsets_key in f:
                offsets = f[offsets_key][()]
                ok = len(offsets) == rows + 1 and offsets[0] == 0 and offsets[-1] == length
                return None if ok else "its offsets do not cover its rows"
        except Exception as err:
            return f"unreadable ({err})"
        return None if length == rows else f"holds {length} rows for {rows} samples"

    def info(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "schema_version": self.attrs["schema_version"],
            "dataset": self.attrs["dataset"],
            "variant": self.attrs["variant"],
            "created_with": self.attrs.get("created_with", ""),
            "content_digest": self.digest,
            "source_digest": self.attrs.get("source_digest", ""),
            "miniature": self.miniature,
            "n_samples": len(self),
            "n_subjects": int(self.samples["subject"].nunique()),
            "arrays": {k: self._shape(k) for k in self.keys},
            "present": {g: int(p.sum()) for g, p in sorted(self._present.items())},
            "skipped": self.skipped,
            "excluded": self.excluded,
            "source_notes": self._json["source_notes"],
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
