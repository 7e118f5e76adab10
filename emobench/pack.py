"""The pack: one HDF5 file per prepared dataset variant (DESIGN §3.2).

Layout::

    /                       attrs: schema_version, dataset, variant, created_with, source_digest,
                                   miniature, steps (JSON), skipped (JSON), excluded (JSON),
                                   n_samples, array_hash, content_digest
    /samples/<column>       one 1-D dataset per column (id, subject, fold, labels, annotations);
                            ``Pack.samples`` returns it as a pandas DataFrame
    /<group>/present        (N,) bool: which rows hold this group's arrays (a row may lack a
                            modality, e.g. a visible image without its thermal pair)
    /<group>/<array>        the present rows' arrays: fixed-shape ones stacked (P, ...), ragged
                            ones concatenated along axis 0 with ``<array>.offsets`` (P + 1,)
                            beside them; fixed-shape arrays are chunked one sample per
                            chunk, ragged ones in chunks of their first sample's length
    /hashes/<group>:<array>   (N,) digest of every sample's slice (dtype, shape and bytes) by
                            the root's ``array_hash`` algorithm (:mod:`emobench.array_hash`;
                            sha256 in schema 2 packs, which lack the attribute); "" for a
                            row that lacks the group

The content digest covers everything the pack holds: the sample table, every array hash, the
presence masks, every root attribute (``created_with`` too: which emobench wrote it) and every
array's attributes (units, rates, layouts). ``verify`` re-hashes all of it.

Writing runs at the speed of the disk's page cache: each sample's digest is computed on a
second thread (the hash runs without the GIL) while its bytes go to HDF5, fixed-shape samples
go in as whole chunks (``write_direct_chunk``), and disk space is reserved ahead of the writes
(:mod:`emobench.file_space`).

The file is written as ``<name>.partial`` and renamed into place only when complete, so a pack
that exists is a finished pack; a lock file beside it (``<name>.lock``) keeps a second prepare
from writing the same pack at the same time. Readers open the HDF5 handle lazily, once per
process, because h5py handles do not survive ``fork`` into DataLoader workers.

Resuming. A writer given a ``resume_identity`` keeps a journal beside the partial file
(``<name>.journal``, see :class:`Journal`): every few samples it flushes the HDF5 file and then
appends one checksummed line recording the samples written since (their table rows, array
hashes and where their bytes lie). The journal, not the HDF5 file, says what is finished,
because an HDF5 file killed mid-write has no consistency guarantee. A writer that finds a
journal made with the same settings copies every recorded sample whose bytes still re-hash to
their recorded digest from the old partial file (moved to ``<name>.resume`` meanwhile) into a
fresh one, switches the journal to the fresh file with one rename, and carries on; the pack it
finishes is the one an uninterrupted run writes. Anything else (other settings, a file that
cannot be opened, no journal) is started over, with a sentence saying why.

Shards. A pack written by one of ``n`` shard jobs (``prepare --shard k/n``) carries its part
number and the ids of every sample of the release in order (``/shard/release_ids``, with their
digest in the root attribute ``shard``), so that :mod:`emobench.pack_merge` can check that the
shards are complete and put the rows back in the release's order.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from emobench import __version__
from emobench.array_hash import DEFAULT as DEFAULT_ARRAY_HASH
from emobench.array_hash import LEGACY as LEGACY_ARRAY_HASH
from emobench.array_hash import array_digest, check_algorithm
from emobench.errors import Interrupted, PackCorrupt, PackError
from emobench.file_space import SpaceReserver, release_unused

# 3: the root attribute ``array_hash`` names the per-sample digest algorithm (2026-12-02).
# 2: per-sample sha256, no ``array_hash``; still read and verified. A schema bump makes an
# older emobench refuse a new pack by name instead of calling its digests corrupt.
SCHEMA_VERSION = 3
READABLE_SCHEMAS = (2, 3)
_STR = h5py.string_dtype("utf-8")


def _hash_name(key: str) -> str:
    return "hashes/" + key.replace("/", ":")


def partial_path(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def journal_path(path: Path) -> Path:
    """The record of the samples an unfinished pack already holds (see :class:`Journal`)."""
    return path.with_name(path.name + ".journal")


def resume_path(path: Path) -> Path:
    """Where a partial file waits while its verified samples are copied into a fresh one."""
    return path.with_name(path.name + ".resume")


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


# ----------------------------------------------------------------------------------------------
# Table rows in the journal: JSON that gives back the very values (a numpy float32 stays one),
# so that a resumed pack's sample table is the one an uninterrupted run builds.


def _encode_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biufU":
        return {"$np": value.dtype.str, "v": value.item()}
    if isinstance(value, (list, tuple)):
        items = [_encode_value(v) for v in value]
        return {"$tuple": items} if isinstance(value, tuple) else items
    return {"$str": str(value)}  # the table stores any other value as its text


def _decode_value(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode_value(v) for v in value]
    if isinstance(value, dict):
        if "$np" in value:
            return np.dtype(value["$np"]).type(value["v"])
        if "$tuple" in value:
            return tuple(_decode_value(v) for v in value["$tuple"])
        return str(value["$str"])
    return value


def _check_line(entries: list[Any]) -> str:
    return hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()


class Journal:
    """``<pack>.journal``: which samples an unfinished pack already holds.

    The first line names the partial file it describes (a random ``token``, also a root
    attribute of that file while it is unfinished) and the ``identity`` it was made with (the
    writer's settings and the caller's own facts, such as the list of samples); every further
    line is one commit, ``{"entries": [...], "check": sha256}``, appended only after the HDF5
    file was flushed. A line cut short by a kill, or one whose check fails, ends the record:
    what comes before it is what is finished. The header is written to a temporary name and
    renamed, so a journal that exists always has one."""

    def __init__(self, path: Path):
        self.path = path

    def start(self, token: str, identity: dict[str, Any], entries: list[Any] = ()) -> None:
        """A new journal (replacing any old one in one rename) for the file ``token``,
        holding ``entries`` already."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps({"journal": 1, "token": token, "identity": identity}) + "\n")
            entries = list(entries)
            for start in range(0, len(entries), 256):
                f.write(self._line(entries[start : start + 256]))
        os.replace(tmp, self.path)

    def append(self, entries: list[Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(self._line(entries))

    @staticmethod
    def _line(entries: list[Any]) -> str:
        return json.dumps({"entries": entries, "check": _check_line(entries)}) + "\n"

    def read(self) -> tuple[dict[str, Any], list[Any]]:
        """``(header, entries)``; the entries stop at the first line that is cut short or
        does not match its check. Raises ValueError when the header is unreadable."""
        with open(self.path, encoding="utf-8") as f:
            text = f.read()
        lines = text.split("\n")
        header = json.loads(lines[0])
        if not isinstance(header, dict) or "token" not in header:
            raise ValueError("no journal header")
        entries: list[Any] = []
        for line in lines[1:-1]:  # the last piece has no newline yet: never committed
            try:
                record = json.loads(line)
                if record["check"] != _check_line(record["entries"]):
                    break
            except (ValueError, KeyError, TypeError):
                break
            entries.extend(record["entries"])
        return header, entries

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        self.path.with_name(self.path.name + ".tmp").unlink(missing_ok=True)


@dataclass(frozen=True)
class ShardRecord:
    """What a shard pack records of its place: part ``index`` of ``count`` of a release whose
    samples, in the adapter's order, are ``release_ids``. ``scan_skipped`` is how many of the
    pack's skips come from reading the release's lists (the same in every shard) before the
    ones of its own samples."""

    index: int
    count: int
    release_ids: tuple[str, ...]
    scan_skipped: int = 0

    @property
    def release_digest(self) -> str:
        return ids_digest(self.release_ids)

    def attr(self) -> str:
        return json.dumps(
            {
                "index": self.index,
                "count": self.count,
                "release_size": len(self.release_ids),
                "release_digest": self.release_digest,
                "scan_skipped": self.scan_skipped,
            },
            sort_keys=True,
        )


SHARD_IDS = "shard/release_ids"


def ids_digest(ids: Iterable[str]) -> str:
    """sha256 of a list of sample ids, in order."""
    h = hashlib.sha256()
    for sid in ids:
        h.update(str(sid).encode() + b"\n")
    return h.hexdigest()


class PackWriter:
    """Streams samples into a new pack; ``finish()`` renames it into place.

    ``ragged`` names the array keys whose first axis varies per sample (e.g. ``eye/series``).
    A row may lack a whole group (its ``present`` mask says so); within a group, a row holds
    all of the group's arrays or none. Use as a context manager: leaving the block with an
    exception deletes the partial file and releases the lock (Ctrl-C, or an
    :class:`~emobench.errors.Interrupted`, keeps a resumable one).

    ``resume_identity`` makes the writer resumable (module docstring): the facts besides the
    writer's own settings that must match for an unfinished partial file to be reused (the
    pipeline gives the ids of the samples it will add, in order). The caller adds one entry
    per unit of work — :meth:`add` for a row, :meth:`record` for work that gave no row (a
    skipped sample) — each with a JSON ``note`` of its own; after construction, ``resumed``
    holds the notes of the entries already in the pack, in order, and the caller continues
    with the next one. ``resume_message`` says what happened to an earlier partial file.

    ``shard`` marks the pack as one part of a sharded prepare (:class:`ShardRecord`);
    ``allow_empty`` lets such a part finish with no row (all its samples were skipped).
    """

    commit_rows = 64  # entries per journal commit, at the latest …
    commit_seconds = 2.0  # … or this long after the last commit

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
        resume_identity: Mapping[str, Any] | None = None,
        shard: ShardRecord | None = None,
        allow_empty: bool = False,
        array_hash: str = DEFAULT_ARRAY_HASH,
    ):
        self.path = Path(path)
        self.tmp = partial_path(self.path)
        self.ragged = set(ragged)
        self.compression = compression
        self.allow_empty = allow_empty
        check_writable(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise PackError(f"{self.path}: cannot create its folder ({err})") from err
        self._root_attrs = dict(
            schema_version=SCHEMA_VERSION,
            dataset=dataset,
            variant=variant,
            created_with=f"emobench {__version__}",
            source_digest=source_digest,
            miniature=bool(miniature),
            steps=json.dumps(steps, sort_keys=True),
            array_hash=check_algorithm(array_hash, str(self.path)),
        )
        self.array_hash = array_hash
        if shard is not None:
            self._root_attrs["shard"] = shard.attr()
        self._shard = shard
        self._journal = Journal(journal_path(self.path)) if resume_identity is not None else None
        self._identity = (
            json.loads(
                json.dumps(
                    {
                        **self._root_attrs,
                        "ragged": sorted(self.ragged),
                        "compression": compression,
                        "caller": dict(resume_identity),
                    },
                    sort_keys=True,
                    default=str,
                )
            )
            if resume_identity is not None
            else None
        )
        self._rows: list[dict[str, Any]] = []
        self._present: dict[str, list[bool]] = {}  # group → per row
        self._hashes: dict[str, list[str]] = {}
        self._offsets: dict[str, list[int]] = {}
        self._attrs: dict[str, dict[str, Any]] = {}
        self._datasets: dict[str, h5py.Dataset] = {}
        self._used: dict[str, int] = {}  # rows written per dataset (capacity may be larger)
        self._capacity: dict[str, tuple[int, tuple[int, ...]]] = {}  # rows, per-row shape
        self._pending: list[Any] = []  # journal entries not committed yet
        self._last_commit = time.monotonic()
        self._replaying = False
        # Hashes a sample while its bytes are written; started with the first array.
        self._hasher: ThreadPoolExecutor | None = None
        self._space: SpaceReserver | None = None
        self._bytes_written = 0
        self.resumed: list[Any] = []
        self.resume_message: str | None = None
        self.resume_dropped = 0  # recorded entries whose bytes no longer re-hashed
        self.restarted = False
        self._lock = PackLock(self.path)
        self._lock.acquire()
        try:
            self._open()
        except BaseException:
            self._close_file()
            self._lock.release()
            raise

    # -- starting: fresh or resumed ------------------------------------------------------------

    def _open(self) -> None:
        source = self._resumable_source()
        if source is None:
            self._start_fresh()
            return
        old, entries = source
        if old != resume_path(self.path):
            os.replace(old, resume_path(self.path))
        old = resume_path(self.path)
        self._create()
        kept = self._replay(old, entries)
        self._h5.flush()
        self._journal.start(self._token, self._identity, self._pending)
        self._pending = []
        old.unlink(missing_ok=True)
        self.resumed = [e.get("note") for e in self._kept_entries]
        dropped = self.resume_dropped = len(entries) - kept
        if kept:
            self.resume_message = (
                f"{self.tmp}: resuming: {kept} sample(s) already prepared and verified"
                + (
                    f"; {dropped} more were recorded but do not re-hash to their digest and "
                    "are prepared again"
                    if dropped
                    else ""
                )
            )
        else:
            self.restarted = True
            self.resume_message = (
                f"{self.tmp}: none of the recorded samples re-hash to their digest; "
                "starting over from zero"
            )

    def _resumable_source(self) -> tuple[Path, list[Any]] | None:
        """The unfinished partial file this writer can continue, with the journal's entries,
        or None (then ``resume_message``/``restarted`` say why, if there was something)."""
        candidates = [p for p in (self.tmp, resume_path(self.path)) if p.exists()]
        if self._journal is None or not self._journal.path.exists():
            if candidates:
                self.restarted = True
                if self._journal is not None:
                    self.resume_message = (
                        f"{self.tmp}: an unfinished earlier prepare left no record of its "
                        "finished samples; starting over from zero"
                    )
            return None
        if not candidates:
            return None
        self.restarted = True
        try:
            header, entries = self._journal.read()
        except (OSError, ValueError) as err:
            self.resume_message = (
                f"{self._journal.path}: the record of the unfinished prepare is unreadable "
                f"({err}); starting over from zero"
            )
            return None
        differ = _differences(header.get("identity", {}), self._identity)
        if differ:
            self.resume_message = (
                f"{self.tmp}: the unfinished earlier prepare of this pack was made with other "
                f"{', '.join(differ)}; not reusing it, starting over from zero"
            )
            return None
        problems = []
        for candidate in candidates:
            try:
                with h5py.File(candidate, "r") as f:
                    token = _attr(f.attrs.get("resume_token", ""))
            except Exception as err:  # h5py raises OSError, KeyError, RuntimeError …
                problems.append(f"{candidate.name} cannot be opened ({err})")
                continue
            if token == header["token"]:
                if not entries:
                    self.resume_message = (
                        f"{self.tmp}: the unfinished earlier prepare had not finished a sample "
                        "yet; starting over"
                    )
                    return None
                self.restarted = False
                return candidate, entries
        self.resume_message = (
            f"{self.tmp}: the unfinished earlier prepare's file is not usable"
            + (f" ({'; '.join(problems)})" if problems else "")
            + "; starting over from zero"
        )
        return None

    def _start_fresh(self) -> None:
        for stale in (self.tmp, resume_path(self.path)):
            stale.unlink(missing_ok=True)
        Journal(journal_path(self.path)).remove()
        self._create()
        if self._journal is not None:
            self._h5.flush()
            self._journal.start(self._token, self._identity)

    def _create(self) -> None:
        try:
            self._h5 = h5py.File(self.tmp, "w")
        except OSError as err:
            raise PackError(f"{self.tmp}: cannot write the pack ({err})") from err
        self._h5.attrs.update(self._root_attrs)
        self._space = _reserver(self._h5)
        self._bytes_written = 0
        self._token = secrets.token_hex(8)
        if self._journal is not None:
            self._h5.attrs["resume_token"] = self._token
        if self._shard is not None:
            ids = np.array(self._shard.release_ids, dtype=object)
            self._h5.create_dataset(SHARD_IDS, data=ids, dtype=_STR)

    def _replay(self, old: Path, entries: list[Any]) -> int:
        """Copy the journal's entries from the old partial file while their arrays re-hash to
        the recorded digest; returns how many were kept (the first failure ends the copy)."""
        self._kept_entries: list[dict[str, Any]] = []
        try:
            source = h5py.File(old, "r")
        except Exception:  # h5py raises OSError, RuntimeError … for a damaged file
            return 0
        self._replaying = True
        try:
            with source as f:
                for entry in entries:
                    arrays = {}
                    try:
                        for key, (digest, start, stop) in entry.get("arrays", {}).items():
                            a = f[key][start:stop] if key in self.ragged else f[key][start]
                            if array_digest(a, self.array_hash) != digest:
                                raise ValueError(f"{key} does not re-hash")
                            arrays[key] = a
                        row = (
                            {k: _decode_value(v) for k, v in entry["row"]}
                            if "row" in entry
                            else None
                        )
                    except Exception:  # unreadable bytes or a damaged structure
                        break
                    if row is None:
                        self.record(entry.get("note"))
                    else:
                        digests = {key: where[0] for key, where in entry["arrays"].items()}
                        self.add(row, arrays, note=entry.get("note"), digests=digests)
                    self._kept_entries.append(entry)
        finally:
            self._replaying = False
        return len(self._kept_entries)

    # -- writing -------------------------------------------------------------------------------

    def __enter__(self) -> PackWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            return
        if issubclass(exc_type, KeyboardInterrupt | Interrupted) and self._journal is not None:
            self.suspend()
        else:
            self.abort()

    def set_attrs(self, key: str, attrs: dict[str, Any]) -> None:
        """Attributes (units, sampling rate, screen geometry ...) for an array or group."""
        self._attrs.setdefault(key, {}).update(attrs)

    @property
    def array_keys(self) -> list[str]:
        """Every array key some row of the pack holds so far."""
        return sorted(self._hashes)

    def record(self, note: Any = None) -> None:
        """A unit of work that gave no row (a skipped sample), kept in the journal so that a
        resumed prepare does not redo it."""
        self._journal_entry({"note": note})

    def add(
        self,
        row: dict[str, Any],
        arrays: dict[str, np.ndarray],
        note: Any = None,
        digests: Mapping[str, str] | None = None,
    ) -> None:
        """Write one row and its arrays. ``digests``: their :func:`array_digest` where the
        caller already computed them (prepare's worker processes do); the others are hashed
        here."""
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
        arrays = {key: np.asarray(value) for key, value in arrays.items()}
        given = dict(digests or {})
        hashing = {
            key: self._hash_later(value) for key, value in arrays.items() if key not in given
        }
        spans = {key: self._append(key, value) for key, value in arrays.items()}
        found = {key: future.result() for key, future in hashing.items()}
        for group in set(self._present) | set(by_group):
            self._present.setdefault(group, [False] * n).append(group in by_group)
        where = {}
        for key, (start, stop) in spans.items():
            digest = given.get(key) or found[key]
            self._hashes.setdefault(key, [""] * n).append(digest)
            where[key] = [digest, start, stop]
        for digests in self._hashes.values():
            if len(digests) == n:  # this row lacks the key's group
                digests.append("")
        self._rows.append(dict(row))
        if self._journal is not None:
            encoded = [[k, _encode_value(v)] for k, v in row.items()]
            self._journal_entry({"note": note, "row": encoded, "arrays": where})

    def _hash_later(self, array: np.ndarray):
        """A future of ``array``'s digest, computed on the hashing thread."""
        if self._hasher is None:
            self._hasher = ThreadPoolExecutor(1, thread_name_prefix="emobench-pack-hash")
        return self._hasher.submit(array_digest, array, self.array_hash)

    def _stop_hashing(self) -> None:
        if self._hasher is not None:
            self._hasher.shutdown(wait=True)
            self._hasher = None

    def _close_file(self) -> None:
        """Close the HDF5 file (when open) and give back the disk space reserved past its end."""
        self._stop_hashing()
        if getattr(self, "_h5", None) is not None and self._h5.id.valid:
            self._h5.close()
            if self._space is not None and self._space.reserved and self.tmp.exists():
                release_unused(self.tmp)

    def _journal_entry(self, entry: dict[str, Any]) -> None:
        if self._journal is None:
            return
        self._pending.append(entry)
        if self._replaying:
            return
        due = time.monotonic() - self._last_commit >= self.commit_seconds
        if len(self._pending) >= self.commit_rows or due:
            self.commit()

    def commit(self) -> None:
        """Flush the HDF5 file, then record the entries written since the last commit."""
        if self._journal is None or not self._pending:
            return
        self._h5.flush()
        self._journal.append(self._pending)
        self._pending = []
        self._last_commit = time.monotonic()

    def _append(self, key: str, a: np.ndarray) -> tuple[int, int]:
        """Write one sample's array; returns where it lies (rows ``start:stop`` of a ragged
        array, row ``start`` of a fixed-shape one). Datasets grow by doubling (few h5py
        resizes) and are trimmed to their exact length in ``finish``."""
        ragged = key in self.ragged
        ds = self._datasets.get(key)
        if ds is None:
            item = a.shape[1:] if ragged else a.shape
            chunk = (max(1, a.shape[0]), *item) if ragged else (1, *item)
            try:
                ds = self._h5.create_dataset(
                    key,
                    shape=(64 * chunk[0], *item),
                    maxshape=(None, *item),
                    dtype=a.dtype,
                    chunks=chunk,
                    compression=self.compression,
                )
            except ValueError as err:
                raise PackError(f"array {key!r}: cannot be stored ({err})") from err
            self._datasets[key] = ds
            self._used[key] = 0
            self._capacity[key] = (ds.shape[0], ds.shape[1:])
            if ragged:
                self._offsets[key] = [0]
        # h5py's Dataset.shape asks HDF5 each time (~20 µs): the writer keeps its own
        capacity, item = self._capacity[key]
        if not ragged and item != a.shape:
            raise PackError(f"array {key!r}: shape {a.shape} differs from earlier {item}")
        start = self._used[key]
        stop = start + (a.shape[0] if ragged else 1)
        if stop > capacity:
            capacity = max(stop, 2 * capacity)
            ds.resize(capacity, axis=0)
            self._capacity[key] = (capacity, item)
        self._bytes_written += a.nbytes
        if self._space is not None:
            self._space.written_through(self._bytes_written)
        if ragged:
            ds[start:stop] = a
            self._offsets[key].append(stop)
        elif self.compression is None and a.flags.c_contiguous and a.dtype == ds.dtype:
            # One sample is one whole chunk: hand HDF5 its bytes as they are (no selection,
            # no conversion, no pass through the chunk cache). The bytes stored are the same.
            ds.id.write_direct_chunk((start,) + (0,) * a.ndim, a)
        else:
            ds[start] = a
        self._used[key] = stop
        return start, stop

    def finish(
        self, skipped: list[dict[str, str]] | None = None, table: pd.DataFrame | None = None
    ) -> str:
        """Write the sample table, hashes and digest, then rename into place. Returns the
        digest. ``table``: the sample table, one row per added row in order (default: the
        rows given to :meth:`add`)."""
        if not self._rows and not self.allow_empty:
            self.abort()
            raise PackError(f"{self.path}: no sample could be prepared; nothing written")
        for key, ds in self._datasets.items():
            ds.resize(self._used[key], axis=0)
        for group, present in self._present.items():
            self._h5.create_dataset(f"{group}/present", data=np.asarray(present, dtype=bool))
        if table is None:
            table = pd.DataFrame(self._rows)
        elif len(table) != len(self._rows):
            self.abort()
            raise PackError(f"{self.path}: {len(table)} table rows for {len(self._rows)} samples")
        table = _normalised_table(table)
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
        if "resume_token" in self._h5.attrs:
            del self._h5.attrs["resume_token"]
        digest = content_digest(table, self._hashes, self._present, _all_attrs(self._h5))
        self._h5.attrs["content_digest"] = digest
        self._close_file()
        try:
            os.replace(self.tmp, self.path)
        except OSError as err:
            self.abort()
            raise PackError(
                f"{self.path}: cannot move the finished pack into place ({err})"
            ) from err
        if self._journal is not None:
            self._journal.remove()
        self._lock.release()
        return digest

    def suspend(self) -> None:
        """Commit what is written, close the file and keep it for a later run to resume."""
        if self._h5.id.valid:
            self.commit()
            self._close_file()
        self._lock.release()

    def abort(self) -> None:
        self._close_file()
        self.tmp.unlink(missing_ok=True)
        resume_path(self.path).unlink(missing_ok=True)
        if self._journal is not None:
            self._journal.remove()
        self._lock.release()


def _reserver(h5: h5py.File) -> SpaceReserver | None:
    """Space reservation for a file HDF5 writes through a POSIX descriptor (the default
    driver); None for other drivers."""
    try:
        fd = h5.id.get_vfd_handle()
    except Exception:  # drivers without a descriptor
        return None
    return SpaceReserver(fd) if isinstance(fd, int) else None


_IDENTITY_NAMES = {
    "dataset": "dataset",
    "variant": "variant",
    "steps": "prepare steps or settings",
    "source_digest": "raw data (source digest)",
    "created_with": "emobench version",
    "schema_version": "pack schema",
    "miniature": "source (miniature or not)",
    "ragged": "array layout",
    "compression": "compression",
    "array_hash": "array hash",
    "shard": "shard",
    "caller": "samples",
}


def _differences(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """What differs between two writers' identities, in words (``caller`` per fact)."""
    out = []
    for key in sorted(set(recorded) | set(current)):
        a, b = recorded.get(key), current.get(key)
        if a == b:
            continue
        if key == "caller" and isinstance(a, dict) and isinstance(b, dict):
            out += [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        else:
            out.append(_IDENTITY_NAMES.get(key, key))
    return out


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
                if self.attrs.get("schema_version") not in READABLE_SCHEMAS:
                    raise PackError(
                        f"{self.path}: schema_version {self.attrs.get('schema_version')} is "
                        f"not one this emobench reads ({', '.join(map(str, READABLE_SCHEMAS))}); "
                        "re-run `emobench prepare`"
                    )
                self.samples = pd.DataFrame({k: _column(f["samples"][k]) for k in f["samples"]})
                names = _dataset_names(f)
                self.keys = sorted(
                    k
                    for k in names
                    if not k.startswith(("samples/", "hashes/", "shard/"))
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
            ("shard", "null"),
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
        if self.attrs["schema_version"] >= 3 and "array_hash" not in self.attrs:
            raise PackCorrupt(f"{self.path}: the root attribute array_hash is missing")
        self.array_hash = check_algorithm(
            str(self.attrs.get("array_hash", LEGACY_ARRAY_HASH)), str(self.path)
        )
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
    def shard(self) -> ShardRecord | None:
        """Which part of a sharded prepare this pack is (None for a whole pack). The release
        ids are checked against the digest the root attribute records (PackCorrupt if not)."""
        meta = self._json["shard"]
        if meta is None:
            return None
        try:
            ids = tuple(str(v) for v in _column(self.file()[SHARD_IDS]))
            record = ShardRecord(
                int(meta["index"]), int(meta["count"]), ids, int(meta["scan_skipped"])
            )
        except Exception as err:
            raise PackCorrupt(f"{self.path}: its shard record is unreadable ({err})") from err
        if record.release_digest != meta["release_digest"]:
            raise PackCorrupt(
                f"{self.path}: its list of the release's samples does not match the digest "
                "it records; the shard pack is damaged — prepare this shard again"
            )
        return record

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
        """:meth:`get`, checked against the sample's stored digest (PackCorrupt if not)."""
        try:
            array = self.get(key, index)
        except PackError:
            raise
        except Exception as err:
            raise PackCorrupt(
                f"{self.path}: {key} of sample {self.samples['id'][index]} is unreadable "
                f"({err}); run `emobench verify {self.path}`"
            ) from err
        if array_digest(array, self.array_hash) != self.hash_of(key, index):
            raise PackCorrupt(
                f"{self.path}: {key} of sample {self.samples['id'][index]} does not match its "
                f"stored {self.array_hash} digest — the pack is corrupt; run "
                f"`emobench verify {self.path}`"
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
                    actual = array_digest(self.get(key, i), self.array_hash)
                except Exception as err:
                    problems.append(f"{key} sample {table['id'][i]}: unreadable ({err})")
                    continue
                if actual != expected:
                    problems.append(
                        f"{key} sample {table['id'][i]}: {self.array_hash} digest mismatch"
                    )
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
        try:
            self.shard  # noqa: B018  (reading it checks the release ids against their digest)
        except PackCorrupt as err:
            problems.append(str(err).removeprefix(f"{self.path}: "))
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
            "array_hash": self.array_hash,
            "content_digest": self.digest,
            "source_digest": self.attrs.get("source_digest", ""),
            "miniature": self.miniature,
            "n_samples": len(self),
            "n_subjects": int(self.samples["subject"].nunique()) if len(self) else 0,
            "shard": self._json["shard"],
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
