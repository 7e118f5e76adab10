"""Issue #4 performance goal, measured side by side in one run on the masked miniature.

apex extraction (``motion`` strategy: face box, alignment, smoothed change from the onset,
argmax, then the apex image and onset → apex clip) vs bare OpenCV decode of every frame of
the same clips                                                          goal ratio >= 0.5

Usage: python benchmarks/bench_masked_apex.py [--raw DIR] [--repeats 3] [--strategy motion]
The ratio is "ours / reference" in clips/s (higher is better). Each timing is the best of
--repeats runs, so page-cache and first-touch effects do not decide the verdict.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
from side_by_side import Row, best_of, report

from emobench.datasets.coding_sheet import list_numbered_frames
from emobench.datasets.masked import MaskedAdapter
from emobench.miniature import miniature_raw
from emobench.prepare.apex import prepare_apex_sample


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", type=Path, default=None, help="raw masked root (default: miniature)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--strategy", default="motion")
    ap.add_argument("--frames", type=int, default=8, help="clip length stored beside the apex")
    ap.add_argument("--size", type=int, default=112)
    args = ap.parse_args()
    raw = args.raw or miniature_raw("masked")
    samples, _ = MaskedAdapter(raw).scan()
    clips = []
    for s in samples:
        folder = raw / s.media["face_frames_dir"]
        listing = list_numbered_frames(folder)
        clips.append((s, [folder / name for name in listing.names], listing.numbers[0]))
    n = len(clips)

    def bare_decode() -> None:
        for _, files, _ in clips:
            for path in files:
                if cv2.imread(str(path), cv2.IMREAD_COLOR) is None:
                    raise SystemExit(f"{path}: does not decode")

    def extract() -> None:
        for s, files, first in clips:
            a = s.annotations
            prepare_apex_sample(
                files,
                int(a["onset"]),
                int(a["apex"]),
                int(a["offset"]),
                first,
                strategy=args.strategy,
                t=args.frames,
                size=args.size,
            )

    t_decode = best_of(args.repeats, bare_decode)
    t_extract = best_of(args.repeats, extract)
    row = Row(
        f"apex extraction ({args.strategy}) vs bare cv2 decode of the clips",
        n / t_extract,
        n / t_decode,
        "clips/s",
        0.5,
    )
    frames = sum(len(files) for _, files, _ in clips)
    footer = f"{n} clips, {frames} frames, OpenCV threads {cv2.getNumThreads()}"
    raise SystemExit(report([row], footer))


if __name__ == "__main__":
    main()
