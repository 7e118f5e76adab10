"""Issue #2 performance goals, measured side by side in one run on the EMER miniature.

1. prepare throughput vs bare OpenCV decode of the same videos        goal ratio >= 0.8
   (in one process, and with ``--workers`` against the same one-process decode: issue 16)
2. pack write vs np.save of the same arrays                            goal ratio >= 0.8
3. loader samples/s vs the model's training samples/s on p3 (emert)   goal ratio >= 10

Usage: python benchmarks/bench_emer.py [--raw DIR] [--repeats 3] [--config small|paper]
                                       [--workers 2]
Ratios are "ours / reference" for throughput (higher is better). Each timing is the best of
--repeats runs, so page-cache and first-touch effects do not decide the verdict.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch
from side_by_side import Row, best_of, loader_vs_training, report, verified_first_read

from emobench.datasets.emer import EmerAdapter
from emobench.miniature import miniature_raw
from emobench.pack import Pack, PackWriter
from emobench.prepare.pipeline import prepare_dataset


def bare_decode(paths: list[Path]) -> None:
    for path in paths:
        cap = cv2.VideoCapture(str(path))
        while True:
            ok, _ = cap.read()
            if not ok:
                break
        cap.release()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", type=Path, default=None, help="raw EMER root (default: miniature)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--config", default="small")
    ap.add_argument("--workers", type=int, default=2, help="prepare's worker processes")
    args = ap.parse_args()
    raw = args.raw or miniature_raw("emer")
    work = Path(tempfile.mkdtemp(prefix="emobench-bench-"))
    rows = []
    try:
        samples, _ = EmerAdapter(raw).scan()
        videos = [raw / s.media["face_video"] for s in samples if "face_video" in s.media]
        n = len(samples)

        # 1. prepare vs bare decode -------------------------------------------------------
        t_decode = best_of(args.repeats, lambda: bare_decode(videos))
        pack_path = work / "emer.h5"
        t_prepare = best_of(args.repeats, lambda: prepare_dataset("emer", raw, pack_path))
        rows.append(
            Row(
                "prepare (decode + sample + eyes + pack) vs bare cv2 decode",
                n / t_prepare,
                n / t_decode,
                "samples/s",
                0.8,
            )
        )
        t_workers = best_of(
            args.repeats, lambda: prepare_dataset("emer", raw, pack_path, workers=args.workers)
        )
        rows.append(
            Row(
                f"  the same with --workers {args.workers} (issue 16) vs the decode in 1 process",
                n / t_workers,
                n / t_decode,
                "samples/s",
                0.8,
            )
        )

        # 2. pack write vs np.save ----------------------------------------------------------
        pack = Pack(pack_path)
        arrays = [{k: pack.get(k, i) for k in pack.keys} for i in range(len(pack))]
        rows_meta = pack.samples.to_dict("records")
        nbytes = sum(a.nbytes for item in arrays for a in item.values()) / 1e6

        def write_pack() -> None:
            with PackWriter(
                work / "copy.h5",
                dataset="emer",
                variant="bench",
                source_digest="",
                steps={},
                ragged=("eye/series",),
            ) as w:
                for meta, item in zip(rows_meta, arrays, strict=True):
                    w.add(meta, item)
                w.finish()

        def write_npy() -> None:
            folder = work / "npy"
            folder.mkdir(exist_ok=True)
            for i, item in enumerate(arrays):
                for k, a in item.items():
                    np.save(folder / f"{i}-{k.replace('/', '_')}.npy", a)

        t_pack = best_of(args.repeats, write_pack)
        t_npy = best_of(args.repeats, write_npy)
        rows.append(
            Row(
                "pack write vs np.save of the same arrays",
                nbytes / t_pack,
                nbytes / t_npy,
                "MB/s",
                0.8,
            )
        )

        # 3. loader vs training ---------------------------------------------------------------
        rows.append(loader_vs_training(pack, "p3", "emert", args.config, args.repeats))
        rows.append(verified_first_read(pack, ("face", "eye", "gaze"), args.repeats))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    footer = f"torch threads {torch.get_num_threads()}, {len(samples)} samples, {nbytes:.1f} MB"
    raise SystemExit(report(rows, footer))


if __name__ == "__main__":
    main()
