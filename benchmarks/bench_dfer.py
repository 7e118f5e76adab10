"""Issue #3 performance goals, measured side by side in one run on the DFEW miniature.

1. prepare of JPEG frame folders vs bare ``cv2.imread`` of the same files  goal ratio >= 0.8
   (the same files = the frames prepare decodes: 16 per clip, uniformly sampled; a second,
   informational line compares with reading every frame of every folder)
2. peak memory (max RSS) of prepare at 10× the clips vs 1×                   goal ratio <= 1.2
3. loader samples/s vs the model's training samples/s, 16-frame clips       goal ratio >= 10

Usage: python benchmarks/bench_dfer.py [--repeats 3] [--model ifdd] [--config small]
Throughput ratios are "ours / reference" (higher is better); the memory ratio is
"10× / 1×" (lower is better). Timings are the best of --repeats runs. Peak memory is measured
in fresh child processes (one per size) that import emobench, synthesise nothing and only
prepare, so the ratio compares like with like.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch
from side_by_side import Row, best_of, loader_vs_training, report

from emobench.datasets.coding_sheet import list_numbered_frames
from emobench.datasets.dfew import DfewAdapter
from emobench.datasets.registry import get_synth
from emobench.pack import Pack
from emobench.prepare.frames import sample_indices
from emobench.prepare.pipeline import prepare_dataset

FRAMES = 16
SMALL_PER_CLASS = 10  # 1×: 70 single-labelled clips; 10×: 700

_PEAK_CHILD = """
import json, resource, sys
from emobench.prepare.pipeline import prepare_dataset
prepare_dataset("dfew", sys.argv[1], sys.argv[2], options={"frames": 16})
print(json.dumps({"max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def frame_files(folder: Path) -> list[Path]:
    return [folder / name for name in list_numbered_frames(folder).names]


def peak_rss_mb(raw: Path, out: Path) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_CHILD, str(raw), str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(json.loads(done.stdout.strip().splitlines()[-1])["max_rss_mb"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", default="ifdd")
    ap.add_argument("--config", default="small")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="emobench-bench-dfer-"))
    rows = []
    try:
        raw = work / "raw-1x"
        get_synth("dfew")(raw, seed=0, per_class=SMALL_PER_CLASS)
        samples, _ = DfewAdapter(raw).scan()
        folders = [raw / s.media["face_frames_dir"] for s in samples]
        listings = [frame_files(f) for f in folders]
        sampled = [
            [files[int(i)] for i in np.unique(sample_indices(len(files), FRAMES))]
            for files in listings
        ]
        n = len(samples)

        # 1. prepare vs bare imread ------------------------------------------------------------
        def imread_all(groups: list[list[Path]]) -> None:
            for files in groups:
                for path in files:
                    if cv2.imread(str(path), cv2.IMREAD_COLOR) is None:
                        raise SystemExit(f"{path}: does not decode")

        t_sampled = best_of(args.repeats, lambda: imread_all(sampled))
        t_every = best_of(args.repeats, lambda: imread_all(listings))
        pack_path = work / "dfew.h5"
        options = {"frames": FRAMES}
        t_prepare = best_of(
            args.repeats, lambda: prepare_dataset("dfew", raw, pack_path, options=options)
        )
        rows.append(
            Row(
                "prepare (16 frames) vs cv2.imread of the frames it decodes",
                n / t_prepare,
                n / t_sampled,
                "clips/s",
                0.8,
            )
        )
        rows.append(
            Row(
                "  (information) vs cv2.imread of every frame of the clips",
                n / t_prepare,
                n / t_every,
                "clips/s",
                0.8,
                informational=True,
            )
        )

        # 2. peak memory at 10× vs 1× ---------------------------------------------------------
        raw10 = work / "raw-10x"
        get_synth("dfew")(raw10, seed=0, per_class=10 * SMALL_PER_CLASS)
        rss1 = peak_rss_mb(raw, work / "peak-1x.h5")
        rss10 = peak_rss_mb(raw10, work / "peak-10x.h5")
        n10 = len(DfewAdapter(raw10).scan()[0])
        rows.append(
            Row(
                f"prepare peak RSS, {n10} clips vs {n} clips (MB)",
                rss10,
                rss1,
                "MB",
                1.2,
                higher_is_better=False,
            )
        )

        # 3. loader vs training --------------------------------------------------------------
        rows.append(
            loader_vs_training(Pack(pack_path), "dfew", args.model, args.config, args.repeats)
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    footer = f"torch threads {torch.get_num_threads()}, {n} clips at 1×, {FRAMES} frames per clip"
    raise SystemExit(report(rows, footer))


if __name__ == "__main__":
    main()
