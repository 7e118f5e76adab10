"""Issue #2 performance goals, measured side by side in one run on the EMER miniature.

1. prepare throughput vs bare OpenCV decode of the same videos        goal ratio >= 0.8
2. pack write vs np.save of the same arrays                            goal ratio >= 0.8
3. loader samples/s vs the model's training samples/s on p3 (emert)   goal ratio >= 10

Usage: python benchmarks/bench_emer.py [--raw DIR] [--repeats 3] [--config small|paper]
Ratios are "ours / reference" for throughput (higher is better). Each timing is the best of
--repeats runs, so page-cache and first-touch effects do not decide the verdict.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader

from emobench.datasets.emer import EmerAdapter
from emobench.engine import FeatureScaler, PackDataset, model_spec, to_model_inputs
from emobench.miniature import miniature_raw
from emobench.models.registry import create_model, get_model_entry
from emobench.pack import Pack, PackWriter
from emobench.prepare.pipeline import prepare_dataset
from emobench.protocols import load_protocol


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


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
            (
                "prepare (decode + sample + eyes + pack) vs bare cv2 decode",
                n / t_prepare,
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
            (
                "pack write vs np.save of the same arrays",
                nbytes / t_pack,
                nbytes / t_npy,
                "MB/s",
                0.8,
            )
        )

        # 3. loader vs training ---------------------------------------------------------------
        protocol = load_protocol("p3")
        positions, targets = protocol.targets(pack.samples)
        fold = protocol.folds(pack.samples, positions)[0]
        by_pos = dict(zip(positions.tolist(), targets.tolist(), strict=True))
        t = np.array([by_pos[int(p)] for p in fold.train])
        scaler = FeatureScaler.fit(pack.file()["eye/windows"][()][fold.train])
        model = create_model("emert", model_spec(protocol, pack, args.config, None))
        inputs = get_model_entry("emert").inputs
        dataset = PackDataset(pack, fold.train, inputs, t, None, scaler)
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

        opt = torch.optim.Adam(model.parameters(), lr=1e-4)

        def train_epoch() -> None:
            model.train()
            for raw in batches:  # pre-loaded: the training step alone
                batch = to_model_inputs(raw)
                loss = model.loss(model(batch), batch)
                opt.zero_grad()
                loss.backward()
                opt.step()

        t_load = best_of(args.repeats, load_epoch)
        t_train = best_of(args.repeats, train_epoch)
        rows.append(
            (
                f"loader vs emert ({args.config}) training on p3 fold 1",
                len(dataset) / t_load,
                len(dataset) / t_train,
                "samples/s",
                10.0,
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"{'measurement':62} {'ours':>10} {'reference':>10} {'unit':>9} {'ratio':>7} {'goal':>6}")
    failed = False
    for name, ours, ref, unit, goal in rows:
        ratio = ours / ref
        failed |= ratio < goal
        print(
            f"{name:62} {ours:10.1f} {ref:10.1f} {unit:>9} {ratio:7.2f} {'>=' + str(goal):>6}"
            f" {'ok' if ratio >= goal else 'BELOW GOAL'}"
        )
    print(f"torch threads {torch.get_num_threads()}, {len(samples)} samples, {nbytes:.1f} MB")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
