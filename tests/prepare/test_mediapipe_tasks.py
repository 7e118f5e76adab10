"""A process's landmarker across a fork: the child makes its own and never closes or releases
the one it inherited (closing it waits for MediaPipe graph threads the fork did not copy: the
child hung at exit, in its exit hooks, when prepare's workers were forked after landmarks
had run in the parent)."""

from __future__ import annotations

import multiprocessing
import os

from emobench.prepare.mediapipe_tasks import ProcessLandmarker

INHERITED_CLOSED = 3  # the child's exit code when it closed its parent's landmarker


class FakeLandmarker:
    """Closes itself when released, as MediaPipe's landmarkers do; closing one made in
    another process ends that process with INHERITED_CLOSED (MediaPipe would wait for
    ever instead)."""

    def __init__(self):
        self.pid = os.getpid()
        self.closed = False

    def detect(self, image):
        return (self.pid, image)

    def close(self):
        if os.getpid() != self.pid:
            os._exit(INHERITED_CLOSED)
        self.closed = True

    def __del__(self):
        if not self.closed:
            self.close()


def _child(landmarker: ProcessLandmarker) -> None:
    assert landmarker.detect("x") == (os.getpid(), "x")  # its own landmarker
    landmarker.close()  # closes the child's own, and the exit hooks call close again


def test_a_forked_child_makes_its_own_and_leaves_the_inherited_one_alone():
    landmarker = ProcessLandmarker(FakeLandmarker)
    assert landmarker.detect("x") == (os.getpid(), "x")
    child = multiprocessing.get_context("fork").Process(target=_child, args=(landmarker,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    landmarker.close()
    assert landmarker.detect("y") == (os.getpid(), "y")  # made again after a close
    landmarker.close()


def test_a_child_that_only_exits_does_not_release_the_inherited_one():
    landmarker = ProcessLandmarker(FakeLandmarker)
    landmarker.detect("x")
    child = multiprocessing.get_context("fork").Process(target=landmarker.close)
    child.start()
    child.join(60)
    assert child.exitcode == 0
    landmarker.close()
