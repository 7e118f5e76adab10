"""Issue #16 (part 1): one fold trained by 2 torchrun processes against 1 process, side by side.

Both runs use one torch thread per process, the same fold, seed and epochs, and are timed
inside the run (the engine's ``evaluate``; interpreter start-up and the torchrun launch are
not counted). The ratio is single-process seconds / DDP seconds (higher is better: 2 would be
perfect scaling). On 2 CPU cores shared with other work no gain is expected — the point is
that DDP gives the single-process numbers — so the ratio is informational; the footer prints
how far the DDP test probabilities and metrics are from the single-process ones.

Usage: python benchmarks/bench_ddp.py [--protocol p3] [--model face-only] [--epochs 2]
       [--fold 1] [--repeats 1] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from side_by_side import Row, report


def worker(args: argparse.Namespace) -> None:
    """One run of the fold in this process (rank 0 writes what it measured)."""
    import torch

    from emobench.api import miniature_pack_for
    from emobench.cli import parse_overrides
    from emobench.engine import evaluate
    from emobench.engine.distributed import execution
    from emobench.engine.evaluators import evaluator_for
    from emobench.pack import Pack
    from emobench.protocols import load_protocol

    torch.set_num_threads(1)
    run_on = execution()
    protocol = load_protocol(args.protocol)
    options = evaluator_for(protocol).miniature_options(protocol, args.model)
    path = run_on.main_first(miniature_pack_for, protocol.dataset, None, None, **options)
    start = time.perf_counter()
    record, predictions = evaluate(
        protocol,
        args.model,
        Pack(path),
        folds=[args.fold],
        epochs=args.epochs,
        overrides=parse_overrides(args.set or []),
    )
    seconds = time.perf_counter() - start
    if run_on.is_main:
        columns = [c for c in predictions if c.startswith("p_")]
        fold = record["folds"][0]
        out = {
            "seconds": seconds,
            "n_train": fold["n_train"],
            "epochs": fold["epochs_run"],
            "test": fold["test"],
            "scores": predictions[columns].to_numpy().tolist(),
        }
        Path(args.worker).write_text(json.dumps(out))


def run(args: argparse.Namespace, processes: int, out: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    own = [str(Path(__file__).resolve()), "--worker", str(out)]
    own += ["--protocol", args.protocol, "--model", args.model]
    own += ["--epochs", str(args.epochs), "--fold", str(args.fold)]
    for item in args.set or []:
        own += ["--set", item]
    if processes == 1:
        command = [sys.executable, *own]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command += ["--nproc-per-node", str(processes), *own]
    subprocess.run(command, env=env, check=True)
    return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocol", default="p3")
    ap.add_argument("--model", default="face-only")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--fold", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--set", action="append", help="model config override KEY=VALUE")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    work = Path(tempfile.mkdtemp(prefix="emobench-bench-ddp-"))
    single = min(
        (run(args, 1, work / f"single-{k}.json") for k in range(args.repeats)),
        key=lambda r: r["seconds"],
    )
    ddp = min(
        (run(args, 2, work / f"ddp-{k}.json") for k in range(args.repeats)),
        key=lambda r: r["seconds"],
    )
    samples = single["n_train"] * single["epochs"]
    row = Row(
        f"train+test 1 fold, 2 DDP ranks vs 1 process ({args.model})",
        samples / ddp["seconds"],
        samples / single["seconds"],
        "samples/s",
        goal=1.0,
        informational=True,
    )
    gap = np.abs(np.array(ddp["scores"]) - np.array(single["scores"])).max()
    metrics = ", ".join(f"{m} {ddp['test'][m] - v:+.4f}" for m, v in single["test"].items())
    footer = (
        f"seconds: 1 process {single['seconds']:.1f}, 2 ranks {ddp['seconds']:.1f}; "
        f"DDP - single: max |p| {gap:.2e}; {metrics}"
    )
    sys.exit(report([row], footer))


if __name__ == "__main__":
    main()
