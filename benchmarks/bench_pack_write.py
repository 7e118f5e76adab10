"""Pack write speed against ``np.save`` of the same arrays, measured side by side in one run.

Goal: writing a pack (``PackWriter``: sha256 of every sample, chunked HDF5, the resume journal)
at >= 0.8x the throughput of ``np.save`` of the same arrays stacked into one ``.npy`` file.
The lines below the goal split the cost into its parts, each against the same ``np.save``:
sha256 alone, a contiguous h5py dataset written per sample (h5py's own overhead), the pack's
chunked, growing dataset written per sample (chunking), and the writer without its journal.

Two sets of clips of 16 frames: the miniature's 112x112 (DFEW-sized) and 640x480 frames.

Usage: python benchmarks/bench_pack_write.py [--repeats 3] [--small 70] [--large 24]
The data are random bytes made once in memory; every file is written to a temporary folder
and deleted after each run (the page cache absorbs the writes, as it does for ``np.save``).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
from side_by_side import Row, best_of, report

from emobench.pack import PackWriter, array_digest


def clips(n: int, height: int, width: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (16, height, width, 3), dtype=np.uint8) for _ in range(n)]


def measure(name: str, arrays: list[np.ndarray], work: Path, repeats: int) -> list[Row]:
    mb = sum(a.nbytes for a in arrays) / 1e6
    stacked = np.stack(arrays)

    def npsave() -> None:
        np.save(work / "x.npy", stacked)
        (work / "x.npy").unlink()

    def hashing() -> None:
        for a in arrays:
            array_digest(a)

    def h5_contiguous() -> None:
        with h5py.File(work / "c.h5", "w") as f:
            ds = f.create_dataset("x", shape=stacked.shape, dtype=stacked.dtype)
            for i, a in enumerate(arrays):
                ds[i] = a
        (work / "c.h5").unlink()

    def h5_chunked() -> None:
        with h5py.File(work / "k.h5", "w") as f:
            item = arrays[0].shape
            ds = f.create_dataset(
                "x", shape=(64, *item), maxshape=(None, *item), dtype=np.uint8, chunks=(1, *item)
            )
            for i, a in enumerate(arrays):
                if i >= ds.shape[0]:
                    ds.resize(2 * ds.shape[0], axis=0)
                ds[i] = a
            ds.resize(len(arrays), axis=0)
        (work / "k.h5").unlink()

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

    t_save = best_of(repeats, npsave)
    rows = [
        Row(
            f"{name}: pack write vs np.save",
            mb / best_of(repeats, lambda: pack(True)),
            mb / t_save,
            "MB/s",
            0.8,
        ),
    ]
    for label, fn in (
        ("sha256 of every sample", hashing),
        ("h5py contiguous, per sample", h5_contiguous),
        ("h5py chunked (1 sample), growing", h5_chunked),
        ("pack write without the journal", lambda: pack(False)),
    ):
        rows.append(
            Row(
                f"  {label} vs np.save",
                mb / best_of(repeats, fn),
                mb / t_save,
                "MB/s",
                0.8,
                informational=True,
            )
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--small", type=int, default=70, help="clips of 16x112x112x3")
    ap.add_argument("--large", type=int, default=24, help="clips of 16x480x640x3")
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
