"""``call_isolated`` (what ``verify`` reads packs in) in a process whose thread pools are alive:
the forked child must return, not wait on threads the fork did not copy."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import numpy as np, skimage.data
from pathlib import Path
from emobench.api import verify
from emobench.pack import PackWriter
from emobench.prepare.face_landmarks import detect_face_points

assert detect_face_points(skimage.data.astronaut()) is not None  # MediaPipe's threads run
path = Path({path!r})
with PackWriter(path, dataset="d", variant="v", source_digest="", steps={{}}) as w:
    w.add({{"id": "a", "subject": "1"}}, {{"g/x": np.zeros((3, 3), np.float32)}})
    w.finish()
for _ in range(3):
    assert verify(path).problems == []
print("verified")
"""


def test_verify_after_face_landmarks_in_the_same_process_returns(tmp_path):
    script = SCRIPT.format(path=str(tmp_path / "p.h5"))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "verified" in done.stdout, done.stderr[-2000:]
