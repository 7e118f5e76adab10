"""Pack write speed against ``np.save`` of the same arrays, measured side by side in one run.

Goal: writing a pack (``PackWriter``: a digest of every sample, chunked HDF5, the resume
journal) at >= 0.8x the throughput of ``np.save`` of the same arrays stacked into one ``.npy``
file (which reserves its whole file with ``fallocate`` and then writes it in one call). Below
it, not deciding the verdict: the pack against ``np.save`` of one file per sample (the layout
a pack replaces; a streaming writer never holds every sample at once), and the cost split
into its parts, each against the stacked ``np.save``:

- hashing alone: the pack's XXH3-128, and sha256 (what packs used before 2026-12-02);
- a plain file written one sample per ``write`` call (the cost of writing per sample at all);
  the same into a file reserved whole first, as ``np.save`` reserves its own, and with 8
  samples per ``pwritev`` call (where ``os.posix_fallocate`` exists): the floor for a
  writer that makes one call per sample, and what fewer calls would give;
- h5py: a contiguous dataset written per sample (h5py's selection overhead), the pack's
  chunked, growing dataset written per sample through the chunk cache, the same written as
  whole chunks (``write_direct_chunk``), and that with disk space reserved ahead;
- the writer without its journal.

Two sets of clips of 16 frames: the miniature's 112x112 (DFEW-sized) and 640x480 frames.

Usage: python benchmarks/bench_pack_write.py [--repeats 5] [--small 500] [--large 60]
The data are random bytes made once in memory; every file is written to a temporary folder
and deleted after each run (the page cache absorbs the writes, as it does for ``np.save``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
from side_by_side import Row, best_of, report, settled

from emobench.array_hash import array_digest
from emobench.file_space import SpaceReserver, release_unused
from emobench.pack import PackWriter


def clips(n: int, height: int, width: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (16, height, width, 3), dtype=np.uint8) for _ in range(n)]


def measure(name: str, arrays: list[np.ndarray], work: Path, repeats: int) -> list[Row]:
    mb = sum(a.nbytes for a in arrays) / 1e6
    stacked = np.stack(arrays)

    def npsave() -> None:
        np.save(work / "x.npy", stacked)
        (work / "x.npy").unlink()

    def npsave_per_sample() -> None:
        folder = work / "npy"
        folder.mkdir()
        for i, a in enumerate(arrays):
            np.save(folder / f"{i}.npy", a)
        shutil.rmtree(folder)

    def hashing(algorithm: str):
        def run() -> None:
            for a in arrays:
                array_digest(a, algorithm)

        return run

    def plain_per_sample() -> None:
        fd = os.open(work / "r.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        for a in arrays:
            os.write(fd, a.data)
        os.close(fd)
        (work / "r.bin").unlink()

    def plain_reserved(per_call: int):
        def run() -> None:
            fd = os.open(work / "r.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.posix_fallocate(fd, 0, stacked.nbytes)
            offset = 0
            for start in range(0, len(arrays), per_call):
                views = [memoryview(a).cast("B") for a in arrays[start : start + per_call]]
                while views:  # a short write leaves the rest for the next call
                    done = os.pwritev(fd, views, offset)
                    offset += done
                    while views and done >= len(views[0]):
                        done -= len(views.pop(0))
                    if views:
                        views[0] = views[0][done:]
            os.close(fd)
            (work / "r.bin").unlink()

        return run

    def h5_contiguous() -> None:
        with h5py.File(work / "c.h5", "w") as f:
            ds = f.create_dataset("x", shape=stacked.shape, dtype=stacked.dtype)
            for i, a in enumerate(arrays):
                ds[i] = a
        (work / "c.h5").unlink()

    def h5_chunked(direct: bool, reserve: bool):
        def run() -> None:
            with h5py.File(work / "k.h5", "w") as f:
                space = SpaceReserver(f.id.get_vfd_handle()) if reserve else None
                item = arrays[0].shape
                ds = f.create_dataset(
                    "x", (64, *item), maxshape=(None, *item), dtype=np.uint8, chunks=(1, *item)
                )
                for i, a in enumerate(arrays):
                    if i >= ds.shape[0]:
                        ds.resize(2 * ds.shape[0], axis=0)
                    if space is not None:
                        space.written_through((i + 1) * a.nbytes)
                    if direct:
                        ds.id.write_direct_chunk((i,) + (0,) * a.ndim, a)
                    else:
                        ds[i] = a
                ds.resize(len(arrays), axis=0)
            if reserve:
                release_unused(work / "k.h5")
            (work / "k.h5").unlink()

        return run

    def pack(resumable: bool) -> None:
        out = work / "p.h5"
        with PackWriter(
            out,
            dataset="bench",
            variant="v",
            source_digest="",
            steps={},
            resume_identity={"samples": "bench"} if resumable else None,
        ) as w:
            for i, a in enumerate(arrays):
                w.add({"id": f"s{i}", "subject": "1"}, {"face/frames": a})
            w.finish()
        out.unlink()

    t_save = best_of(repeats, npsave, before=settled)
    rows = [
        Row(
            f"{name}: pack write vs np.save of all samples stacked",
            mb / best_of(repeats, lambda: pack(True), before=settled),
            mb / t_save,
            "MB/s",
            0.8,
        ),
    ]
    rows.append(
        Row(
            f"{name}: pack write vs np.save of one file per sample",
            rows[0].ours,
            mb / best_of(repeats, npsave_per_sample, before=settled),
            "MB/s",
            0.8,
            informational=True,
        )
    )
    for label, fn in (
        ("xxh3-128 of every sample (the pack's)", hashing("xxh3-128")),
        ("sha256 of every sample (before)", hashing("sha256")),
        ("plain file, one write per sample", plain_per_sample),
        *(
            [
                ("  the same, file reserved whole first", plain_reserved(1)),
                ("  8 samples per pwritev, reserved first", plain_reserved(8)),
            ]
            if hasattr(os, "posix_fallocate") and hasattr(os, "pwritev")
            else []
        ),
        ("h5py contiguous, per sample", h5_contiguous),
        ("h5py chunked (1 sample), growing", h5_chunked(direct=False, reserve=False)),
        ("  the same, as whole chunks", h5_chunked(direct=True, reserve=False)),
        ("  whole chunks, space reserved", h5_chunked(direct=True, reserve=True)),
        ("pack write without the journal", lambda: pack(False)),
    ):
        rows.append(
            Row(
                f"  {label} vs np.save",
                mb / best_of(repeats, fn, before=settled),
                mb / t_save,
                "MB/s",
                0.8,
                informational=True,
            )
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--small", type=int, default=500, help="clips of 16x112x112x3")
    ap.add_argument("--large", type=int, default=60, help="clips of 16x480x640x3")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="emobench-bench-pack-write-"))
    try:
        rows = measure(
            f"{args.small} clips 16x112x112", clips(args.small, 112, 112), work, args.repeats
        )
        rows += measure(
            f"{args.large} clips 16x480x640", clips(args.large, 480, 640), work, args.repeats
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    raise SystemExit(report(rows, "throughput in MB of array bytes per second; best of runs"))


if __name__ == "__main__":
    main()
