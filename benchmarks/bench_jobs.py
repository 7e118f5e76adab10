"""Issue #16 (part 2): the 5 folds of a protocol run as 2 local jobs (``--jobs 2``) against
1 job, side by side in one run.

Both runs train the same model on the same folds with the same seeds and epochs, on the
miniature pack (built first, outside the timing), after one untimed warm-up fold in this
process (torch's and oneDNN's first-call costs, which forked jobs would otherwise inherit
already paid). The 1-job run uses one torch thread, as
each of the 2 jobs does, so the ratio is the parallel speed-up of the job layer alone (goal
≥ 1.7 on 2 cores). Equal parts on 2 jobs cannot beat ``parts / ceil(parts / 2)``: 5/3 = 1.67
for the 5 folds of one seed, 2.0 for 5 folds × 2 seeds (``--seeds 0,1``); the footer gives
that bound, the time of each run and whether both gave the same metrics.

Usage: python benchmarks/bench_jobs.py [--protocol p3] [--model eye-only] [--epochs 3]
       [--seeds 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from side_by_side import Row, report

from emobench import api
from emobench.engine.evaluators import evaluator_for
from emobench.protocols import load_protocol


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default="p3")
    parser.add_argument("--model", default="eye-only")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    protocol = load_protocol(args.protocol)
    options = evaluator_for(protocol).miniature_options(protocol, args.model)
    pack = api.miniature_pack_for(protocol.dataset, **options)
    torch.set_num_threads(1)
    seconds, records = {}, {}
    with tempfile.TemporaryDirectory() as results:
        api.evaluate(protocol, args.model, pack, epochs=1, folds=[1], bootstrap=0, results=results)
        for jobs in (1, 2):
            start = time.perf_counter()
            run = api.evaluate(
                protocol,
                args.model,
                pack,
                epochs=args.epochs,
                seeds=seeds,
                jobs=jobs,
                bootstrap=0,
                results=results,
            )
            seconds[jobs] = time.perf_counter() - start
            records[jobs] = run.record
    same = [f["test"] for f in records[1]["folds"]] == [f["test"] for f in records[2]["folds"]]
    parts = len(records[1]["folds"])  # one entry per (fold, seed)
    rows = [
        Row(
            f"{protocol.id} {args.model}: {parts} parts, 2 jobs vs 1",
            60 * parts / seconds[2],
            60 * parts / seconds[1],
            "parts/min",
            1.7,
        )
    ]
    bound = parts / -(-parts // 2)
    footer = (
        f"{args.epochs} epochs, seeds {args.seeds}; 1 job {seconds[1]:.1f} s, 2 jobs "
        f"{seconds[2]:.1f} s; equal parts cap the ratio at {bound:.2f}; same metrics per "
        f"part: {same}"
    )
    return report(rows, footer)


if __name__ == "__main__":
    raise SystemExit(main())
