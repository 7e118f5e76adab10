"""The heap setting prepare makes: a clip's freed frames are reused, not mapped afresh."""

import platform
import subprocess
import sys

import pytest

from emobench import malloc_settings

_CLIPS = """
import resource, sys
import numpy as np
from emobench.malloc_settings import keep_large_blocks
if sys.argv[1] == "keep":
    assert keep_large_blocks()
def clip():  # a clip's frames decoded, held together, then freed together
    frames = [np.ones(480 * 640 * 3, np.uint8) for _ in range(16)]  # every page touched
    del frames
clip()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    clip()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(setting: str) -> int:
    """Minor page faults of ten 16-frame 640x480 clips in a fresh interpreter."""
    run = subprocess.run(
        [sys.executable, "-c", _CLIPS, setting], capture_output=True, text=True, check=True
    )
    return int(run.stdout.split()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_kept_blocks_spare_the_kernel_mapping_every_frame_of_every_clip_anew() -> None:
    pages = 10 * 16 * (480 * 640 * 3 // 4096)
    assert _page_faults("default") > pages // 2  # glibc's defaults: fresh pages each clip
    assert _page_faults("keep") < pages // 100


def test_without_glibc_it_says_it_changed_nothing(monkeypatch) -> None:
    monkeypatch.setattr(malloc_settings, "_mallopt", lambda: None)
    assert malloc_settings.keep_large_blocks() is False
