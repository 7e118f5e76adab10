"""Issue #16 (part 2): the 5 folds of a protocol run as 2 local jobs (``--jobs 2``) against
1 job, side by side in one run.

Both runs train the same model on the same folds with the same seed and epochs, on the
miniature pack (built first, outside the timing). The 1-job run uses one torch thread, as
each of the 2 jobs does, so the ratio is the parallel speed-up of the job layer alone (goal
≥ 1.7 on 2 cores). The footer says whether both runs gave the same metrics.

Usage: python benchmarks/bench_jobs.py [--protocol p3] [--model eye-only] [--epochs 3]
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
    args = parser.parse_args()
    protocol = load_protocol(args.protocol)
    options = evaluator_for(protocol).miniature_options(protocol, args.model)
    pack = api.miniature_pack_for(protocol.dataset, **options)
    torch.set_num_threads(1)
    seconds, records = {}, {}
    with tempfile.TemporaryDirectory() as results:
        for jobs in (1, 2):
            start = time.perf_counter()
            run = api.evaluate(
                protocol,
                args.model,
                pack,
                epochs=args.epochs,
                jobs=jobs,
                bootstrap=0,
                results=results,
            )
            seconds[jobs] = time.perf_counter() - start
            records[jobs] = run.record
    same = [f["test"] for f in records[1]["folds"]] == [f["test"] for f in records[2]["folds"]]
    folds = len(records[1]["folds"])
    rows = [
        Row(
            f"{protocol.id} {args.model}: {folds} folds, 2 jobs vs 1 (folds per minute)",
            60 * folds / seconds[2],
            60 * folds / seconds[1],
            "folds/min",
            1.7,
        )
    ]
    footer = f"1 job {seconds[1]:.1f} s, 2 jobs {seconds[2]:.1f} s; same metrics per fold: {same}"
    return report(rows, footer)


if __name__ == "__main__":
    raise SystemExit(main())
