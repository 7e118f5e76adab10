"""Peak memory of prepare and of evaluate at 10x the clips against 1x, side by side in one run.

Goal: the peak resident set (RSS) of ``prepare`` and of ``evaluate`` on a DFEW miniature with
10 times the clips stays <= 1.2x the peak on the 1x miniature: neither may hold the whole
dataset in memory. Each measurement is one fresh Python process, so nothing imported or cached
by an earlier run is counted: ``ru_maxrss`` of that process and, for prepare's worker
processes, of the largest of them (a separate line).

- prepare: ``emobench.api.prepare("dfew", ...)`` with 1 process and with ``--workers``.
- evaluate: ``emobench.api.evaluate("dfew", "static-resnet18", pack, folds=[1], epochs=1)``.

Usage: python benchmarks/bench_memory.py [--per-class 10] [--scale 10] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from side_by_side import Row, report

from emobench.datasets.registry import get_synth

_MEASURE = """
import json, resource, sys
from emobench import api
what, args = sys.argv[1], json.loads(sys.argv[2])
if what == "prepare":
    api.prepare("dfew", args["src"], args["out"], workers=int(args["workers"]))
else:
    api.evaluate(
        "dfew", "static-resnet18", args["pack"], folds=[1], epochs=1, results=args["results"],
        bootstrap=0,
    )
print(json.dumps({
    "main": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "worker": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
}))
"""


def peak_mib(what: str, **args) -> dict[str, float]:
    """Peak RSS in MiB of one fresh process running ``what`` (``main``) and of its largest
    worker process (``worker``, 0 without workers)."""
    run = subprocess.run(
        [sys.executable, "-c", _MEASURE, what, json.dumps({k: str(v) for k, v in args.items()})],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if run.returncode != 0:
        raise SystemExit(f"{what} failed:\n{run.stderr[-3000:]}")
    peaks = json.loads(run.stdout.strip().splitlines()[-1])
    return {k: v / 1024 for k, v in peaks.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=10, help="DFEW clips per class at 1x")
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="emobench-bench-memory-"))
    try:
        sizes = {"1x": args.per_class, f"{args.scale}x": args.per_class * args.scale}
        peaks: dict[tuple[str, str], float] = {}
        for label, per_class in sizes.items():
            raw = work / f"raw-{label}"
            get_synth("dfew")(raw, seed=0, per_class=per_class)
            for w in sorted({1, args.workers}):
                out = work / f"{label}-w{w}.h5"
                got = peak_mib("prepare", src=raw, out=out, workers=w)
                if w == 1:
                    peaks[("prepare, 1 process", label)] = got["main"]
                else:
                    peaks[(f"prepare --workers {w}, main process", label)] = got["main"]
                    peaks[(f"prepare --workers {w}, largest worker", label)] = got["worker"]
            peaks[("evaluate static-resnet18, 1 fold", label)] = peak_mib(
                "evaluate", pack=work / f"{label}-w1.h5", results=work / f"results-{label}"
            )["main"]
        big = f"{args.scale}x"
        rows = [
            Row(
                f"{what}: peak RSS at {big} vs 1x",
                peaks[(what, big)],
                peaks[(what, "1x")],
                "MiB",
                1.2,
                higher_is_better=False,
            )
            for what in dict.fromkeys(what for what, _ in peaks)
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    clips = 7 * args.per_class
    footer = f"DFEW miniature, {clips} clips at 1x and {clips * args.scale} at {big}"
    raise SystemExit(report(rows, footer))


if __name__ == "__main__":
    main()
