"""Issue #14 performance goal, measured side by side in one run on the vt-pairs miniature.

prepare of the paired set (decode + convert + unpair + write) vs a bare decode of the same
images (``cv2.imdecode`` of every visible and thermal file the pack holds, read from disk)
goal ratio >= 0.8

Usage: python benchmarks/bench_thermal.py [--repeats 3] [--subjects 40]
The ratio is "ours / reference" in captures per second (higher is better); timings are the best
of --repeats runs. The prepare is the one ``vt-unpaired`` needs (``--unpair by-subject
--pairing-ratio 0``), so half the thermal files are not decoded by it (their subject's role is
visible); the reference decodes exactly the files the pack holds, so both sides read the same
images. An informational row compares prepare without unpairing (every thermal file is read
and stored) with the decode of every file.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
from side_by_side import Row, best_of, report

from emobench.datasets.registry import get_synth
from emobench.datasets.vt_pairs import VtPairsAdapter
from emobench.pack import Pack
from emobench.prepare.pipeline import prepare_dataset


def decode_all(paths: list[Path]) -> None:
    for path in paths:
        data = np.frombuffer(path.read_bytes(), np.uint8)
        if cv2.imdecode(data, cv2.IMREAD_UNCHANGED) is None:
            raise SystemExit(f"{path}: does not decode")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--subjects", type=int, default=40)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="emobench-bench-thermal-"))
    rows = []
    try:
        raw = work / "raw"
        get_synth("vt-pairs")(raw, seed=0, subjects=args.subjects)
        samples, _ = VtPairsAdapter(raw).scan()
        n = len(samples)
        unpaired = {"unpair": "by-subject", "pairing_ratio": 0.0, "seed": 0}
        pack_path = work / "vt-unpaired.h5"
        t_prepare = best_of(
            args.repeats, lambda: prepare_dataset("vt-pairs", raw, pack_path, options=unpaired)
        )
        pack = Pack(pack_path)
        holds_thermal = pack.present("thermal")
        by_id = {s.id: s for s in samples}
        read = []
        for pos, sid in enumerate(pack.samples["id"]):
            read.append(raw / by_id[sid].media["visible_image"])
            if holds_thermal[pos]:
                read.append(raw / by_id[sid].media["thermal_image"])
        t_decode = best_of(args.repeats, lambda: decode_all(read))
        rows.append(
            Row(
                "prepare --unpair (decode+convert+unpair+write) vs decode",
                n / t_prepare,
                n / t_decode,
                "captures/s",
                0.8,
            )
        )
        every = [raw / s.media[k] for s in samples for k in ("visible_image", "thermal_image")]
        t_paired = best_of(
            args.repeats, lambda: prepare_dataset("vt-pairs", raw, work / "paired.h5")
        )
        t_every = best_of(args.repeats, lambda: decode_all(every))
        rows.append(
            Row(
                "  (information) prepare, every pair kept, vs decode",
                n / t_paired,
                n / t_every,
                "captures/s",
                0.8,
                informational=True,
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    footer = f"{n} captures of {args.subjects} subjects, {len(read)} image files in the pack"
    raise SystemExit(report(rows, footer))


if __name__ == "__main__":
    main()
