"""Prepare speed against a bare decode of the same frames, measured side by side in one run.

Goal (issue 16): ``prepare --workers N`` (scan, decode, resize, XXH3 hashing, HDF5 write,
resume journal) at >= 0.8x the clips/s of a bare ``cv2.imread`` of the frames it decodes, in
one process: the workers are there to overlap the decode with hashing and writing, and the
issue's own figures (0.42x, 0.37x) compared one process with one. Beside each goal line, not
deciding the verdict: the same prepare against the decode in N processes (like with like:
what prepare's own work costs over a decode on the same cores), and prepare in one process.
Measured on the DFEW miniature (112x112 JPEG frames) and on the same clips re-encoded at
640x480, there also with ``--decode reduced`` (libjpeg decodes at half scale); the reference
stays the whole-frame ``cv2.imread``. Each prepare starts with no dirty page left by the
one before, and no earlier pack to replace (``fresh``).

Usage: python benchmarks/bench_prepare.py [--repeats 2] [--workers 2] [--per-class 10]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from side_by_side import Row, best_of, report, settled

from emobench.datasets.coding_sheet import list_numbered_frames
from emobench.datasets.dfew import DfewAdapter
from emobench.datasets.registry import get_synth
from emobench.malloc_settings import keep_large_blocks
from emobench.pack import Pack
from emobench.prepare.frames import sample_indices
from emobench.prepare.pipeline import prepare_dataset

FRAMES = 16


def sampled_frames(raw: Path) -> list[list[str]]:
    """The frames prepare decodes: 16 per clip, uniformly sampled, as it samples them."""
    samples, _ = DfewAdapter(raw).scan()
    out = []
    for s in samples:
        folder = raw / s.media["face_frames_dir"]
        names = list_numbered_frames(folder).names
        out.append(
            [str(folder / names[int(i)]) for i in np.unique(sample_indices(len(names), FRAMES))]
        )
    return out


def decode_clip(files: list[str]) -> int:
    for path in files:
        if cv2.imread(path, cv2.IMREAD_COLOR) is None:
            raise SystemExit(f"{path}: does not decode")
    return len(files)


def _like_a_worker() -> None:
    """A reference decode process set up as prepare sets up its workers: one OpenCV thread,
    freed frames kept in the heap (``keep_large_blocks``, which prepare also sets in this
    process)."""
    cv2.setNumThreads(1)
    keep_large_blocks()


def bare_decode(clips: list[list[str]], pool: ProcessPoolExecutor | None) -> None:
    """Decode every clip's frames, in ``pool`` (already started and warm: its start-up is
    not counted, so the reference is the fastest decode) or in this process."""
    if pool is None:
        for files in clips:
            decode_clip(files)
        return
    list(pool.map(decode_clip, clips, chunksize=4))


def upscaled(raw: Path, out: Path, width: int = 640, height: int = 480) -> Path:
    """A copy of the raw DFEW folder with every frame re-encoded at width x height."""
    shutil.copytree(raw, out)
    for path in out.rglob("*.jpg"):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        big = cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return out


def fresh(pack: Path) -> None:
    """Before a timed prepare: no pack of an earlier run to replace (deleting it is no part
    of preparing, and a decode deletes nothing; its cost is in CHANGELOG) and no dirty
    page."""
    pack.unlink(missing_ok=True)
    settled()


def pack_path(work: Path, name: str, processes: int, decode: str) -> Path:
    """Where ``measure`` writes the pack of one line (``reduced_vs_full`` reads two)."""
    return work / f"{name}-{processes}-{decode}.h5"


def measure(
    name: str, raw: Path, work: Path, workers: int, repeats: int, decodes: tuple[str, ...]
) -> list[Row]:
    clips = sampled_frames(raw)
    n = len(clips)
    counts = sorted({1, workers})
    decoded = {}  # processes -> clips/s of the bare decode
    for w in counts:
        pool = None
        if w > 1:  # spawned like prepare's workers (no fork of a process with threads)
            spawn = multiprocessing.get_context("spawn")
            pool = ProcessPoolExecutor(w, mp_context=spawn, initializer=_like_a_worker)
            list(pool.map(decode_clip, clips[:w]))  # started and warm
        try:
            decoded[w] = n / best_of(repeats, lambda pool=pool: bare_decode(clips, pool))
        finally:
            if pool is not None:
                pool.shutdown()
    rows = []
    for decode in decodes:
        how = "" if decode == "full" else f", --decode {decode}"
        for w in counts:
            pack = pack_path(work, name, w, decode)
            options = {"frames": FRAMES, "decode": decode}
            prepared = n / best_of(
                repeats,
                lambda w=w, pack=pack, options=options: prepare_dataset(
                    "dfew", raw, pack, options=options, workers=w
                ),
                before=lambda pack=pack: fresh(pack),
            )
            if w == 1:
                rows.append(
                    Row(
                        f"{name}, 1 process{how}: prepare vs cv2.imread",
                        prepared,
                        decoded[1],
                        "clips/s",
                        0.8,
                        informational=True,
                    )
                )
                continue
            rows.append(
                Row(
                    f"{name}, --workers {w}{how}: prepare vs cv2.imread in 1 process",
                    prepared,
                    decoded[1],
                    "clips/s",
                    0.8,
                )
            )
            rows.append(
                Row(
                    f"  the same vs cv2.imread in {w} processes",
                    prepared,
                    decoded[w],
                    "clips/s",
                    0.8,
                    informational=True,
                )
            )
    return rows


def reduced_vs_full(work: Path, name: str) -> str:
    """How far ``--decode reduced`` frames are from ``--decode full`` ones: mean PSNR over
    the clips and the largest difference of one pixel value."""
    full, reduced = (Pack(pack_path(work, name, 1, d)) for d in ("full", "reduced"))
    psnr, largest = [], 0
    for i in range(len(full)):
        a, b = full.get("face/frames", i), reduced.get("face/frames", i)
        psnr.append(cv2.PSNR(a, b))
        largest = max(largest, int(np.abs(a.astype(np.int16) - b).max()))
    return (
        f"{name}, --decode reduced vs full: mean PSNR {np.mean(psnr):.1f} dB over "
        f"{len(full)} clips, largest pixel difference {largest} of 255"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--per-class", type=int, default=10, help="DFEW clips per class")
    args = ap.parse_args()
    keep_large_blocks()  # the one-process reference decodes with prepare's heap setting
    work = Path(tempfile.mkdtemp(prefix="emobench-bench-prepare-"))
    try:
        raw = work / "raw"
        get_synth("dfew")(raw, seed=0, per_class=args.per_class)
        rows = measure("112x112 frames", raw, work, args.workers, args.repeats, ("full",))
        big = upscaled(raw, work / "raw-640x480")
        both = ("full", "reduced")
        rows += measure("640x480 frames", big, work, args.workers, args.repeats, both)
        closeness = reduced_vs_full(work, "640x480 frames")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    footer = (
        f"{FRAMES} frames per clip resized to 112x112; best of {args.repeats} runs\n{closeness}"
    )
    raise SystemExit(report(rows, footer))


if __name__ == "__main__":
    main()
