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
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader

from emobench.datasets.coding_sheet import list_numbered_frames
from emobench.datasets.dfew import DfewAdapter
from emobench.datasets.registry import get_synth
from emobench.engine import PackDataset, model_spec, to_model_inputs
from emobench.models.registry import create_model, get_model_entry
from emobench.pack import Pack
from emobench.prepare.pipeline import PrepareSettings, prepare_dataset
from emobench.prepare.video import sample_indices
from emobench.protocols import load_protocol

FRAMES = 16
SMALL_PER_CLASS = 10  # 1×: 70 single-labelled clips; 10×: 700

_PEAK_CHILD = """
import json, resource, sys
from emobench.prepare.pipeline import PrepareSettings, prepare_dataset
prepare_dataset("dfew", sys.argv[1], sys.argv[2], PrepareSettings(frames=16))
print(json.dumps({"max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


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
        settings = PrepareSettings(frames=FRAMES)
        t_prepare = best_of(args.repeats, lambda: prepare_dataset("dfew", raw, pack_path, settings))
        rows.append(
            (
                "prepare (16 frames) vs cv2.imread of the frames it decodes",
                n / t_prepare,
                n / t_sampled,
                "clips/s",
                0.8,
                True,
            )
        )
        rows.append(
            (
                "  (information) vs cv2.imread of every frame of the clips",
                n / t_prepare,
                n / t_every,
                "clips/s",
                0.8,
                True,
            )
        )

        # 2. peak memory at 10× vs 1× ---------------------------------------------------------
        raw10 = work / "raw-10x"
        get_synth("dfew")(raw10, seed=0, per_class=10 * SMALL_PER_CLASS)
        rss1 = peak_rss_mb(raw, work / "peak-1x.h5")
        rss10 = peak_rss_mb(raw10, work / "peak-10x.h5")
        n10 = len(DfewAdapter(raw10).scan()[0])
        rows.append(
            (
                f"prepare peak RSS, {n10} clips vs {n} clips (MB)",
                rss10,
                rss1,
                "MB",
                1.2,
                False,
            )
        )

        # 3. loader vs training --------------------------------------------------------------
        pack = Pack(pack_path)
        protocol = load_protocol("dfew")
        positions, targets = protocol.targets(pack.samples)
        fold = protocol.folds(pack.samples, positions)[0]
        by_pos = dict(zip(positions.tolist(), targets.tolist(), strict=True))
        t = np.array([by_pos[int(p)] for p in fold.train])
        model = create_model(args.model, model_spec(protocol, pack, args.config, None))
        inputs = get_model_entry(args.model).inputs
        dataset = PackDataset(pack, fold.train, inputs, t)
        loader = DataLoader(
            dataset,
            batch_size=model.train_config.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(0),
        )
        batches = list(loader)

        def load_epoch() -> None:
            for _ in loader:
                pass

        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def train_epoch() -> None:
            model.train()
            for raw_batch in batches:  # pre-loaded: the training step alone
                batch = to_model_inputs(raw_batch)
                loss = model.loss(model(batch), batch)
                opt.zero_grad()
                loss.backward()
                opt.step()

        t_load = best_of(args.repeats, load_epoch)
        t_train = best_of(args.repeats, train_epoch)
        rows.append(
            (
                f"loader vs {args.model} ({args.config}) training, dfew fold 1",
                len(dataset) / t_load,
                len(dataset) / t_train,
                "clips/s",
                10.0,
                True,
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"{'measurement':62} {'ours':>10} {'reference':>10} {'unit':>9} {'ratio':>7} {'goal':>6}")
    failed = False
    for name, ours, ref, unit, goal, higher in rows:
        ratio = ours / ref
        ok = ratio >= goal if higher else ratio <= goal
        informational = name.startswith("  (information)")
        failed |= not ok and not informational
        verdict = "" if informational else ("ok" if ok else "BELOW GOAL")
        print(
            f"{name:62} {ours:10.1f} {ref:10.1f} {unit:>9} {ratio:7.2f} "
            f"{('>=' if higher else '<=') + str(goal):>6} {verdict}"
        )
    print(f"torch threads {torch.get_num_threads()}, {n} clips at 1×, {FRAMES} frames per clip")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
