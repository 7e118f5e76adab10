"""Issue #4 performance goal, measured side by side in one run on the masked miniature.

apex extraction (``motion`` strategy: face box, alignment, smoothed change from the onset,
argmax, then the apex image and onset → apex clip) vs bare OpenCV decode of every frame of
the same clips                                                          goal ratio >= 0.5

Two rows: the miniature's frames as written (96×96 JPEGs, which decode in ~0.1 ms, so the
ratio is as hard as it gets), and the same clips re-encoded at CASME II's recording size
(640×480: each frame scaled to 480 px high and centred, borders replicated; JPEG quality 92,
in a temporary folder). ``motion`` measures change on a fixed-size face region and searches
the face at a bounded size, so its cost hardly grows with the frame while decoding does.

Usage: python benchmarks/bench_masked_apex.py [--raw DIR] [--repeats 3] [--strategy motion]
The ratio is "ours / reference" in clips/s (higher is better). Each timing is the best of
--repeats runs, so page-cache and first-touch effects do not decide the verdict.
"""

from __future__ import annotations

import argparse
import tempfile
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

    def measure(clips: list, label: str) -> Row:
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
        return Row(
            f"{args.strategy} extraction vs bare decode, {label}",
            n / t_extract,
            n / t_decode,
            "clips/s",
            0.5,
        )

    rows = [measure(clips, "frames as written")]
    with tempfile.TemporaryDirectory(prefix="bench-masked-") as tmp:
        large = [(s, recorded_size(files, Path(tmp) / s.id), first) for s, files, first in clips]
        rows.append(measure(large, "at 640x480 (CASME II)"))
    frames = sum(len(files) for _, files, _ in clips)
    footer = f"{n} clips, {frames} frames each row, OpenCV threads {cv2.getNumThreads()}"
    raise SystemExit(report(rows, footer))


def recorded_size(files: list[Path], out: Path, width: int = 640, height: int = 480) -> list:
    """``files`` re-encoded at ``width`` × ``height``: scaled to ``height`` and centred, the
    sides filled by replicating the border (JPEG quality 92, as the miniature)."""
    out.mkdir(parents=True)
    written = []
    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        k = height / image.shape[0]
        image = cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC)
        left = (width - image.shape[1]) // 2
        right = width - image.shape[1] - left
        image = cv2.copyMakeBorder(image, 0, 0, left, right, cv2.BORDER_REPLICATE)
        target = out / path.name
        cv2.imwrite(str(target), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        written.append(target)
    return written


if __name__ == "__main__":
    main()
