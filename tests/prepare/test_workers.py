"""Prepare's worker processes: results in job order, arrays handed back through shared memory
by forked workers (pickled by spawned ones and for a sample larger than a slot), a slot never
reused before its sample was taken, and the fork decision that keeps OpenCV from hanging a
child."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from emobench.errors import Interrupted
from emobench.pack import Pack
from emobench.prepare import workers as workers_module
from emobench.prepare.pipeline import _prepare_job as PREPARE_JOB
from emobench.prepare.pipeline import prepare_dataset
from emobench.prepare.workers import SampleWorkers, WorkerDied, fork_is_safe


def filled(job: int) -> tuple:
    """A job whose arrays say which job made them (a second, ragged array too); job 3 fails;
    job -1 has a bug, job -9 kills its worker."""
    if job == -1:
        raise ZeroDivisionError("a bug in a step")
    if job == -9:
        os.kill(os.getpid(), signal.SIGKILL)
    if job == 3:
        return None, ("clip3", "does not decode")
    frames = np.full((4, 8, 8, 3), job, np.uint8)
    series = np.arange(job + 1, dtype=np.float32)
    return ({"face/frames": frames, "eye/series": series}, f"extra{job}"), None


def test_results_come_in_job_order_through_shared_memory():
    jobs = list(range(12))
    with SampleWorkers(filled, 2, depth=2, method="fork") as pool:
        assert pool.shared is not None
        for job, (payload, failure) in zip(jobs, pool.results(jobs), strict=True):
            want, want_failure = filled(job)
            assert failure == want_failure
            if want is None:
                assert payload is None
                continue
            arrays, extra = payload
            assert extra == want[1]
            for key, value in want[0].items():
                assert not arrays[key].flags.owndata  # a view of the shared slot
                np.testing.assert_array_equal(arrays[key], value)
                assert arrays[key].dtype == value.dtype


def test_a_slot_is_not_written_again_before_its_sample_was_taken():
    """Two slots, many jobs, slow consumption: each sample still holds its own values when
    it is taken (a worker that wrote into a slot still being read would change them)."""
    with SampleWorkers(filled, 2, depth=1, method="fork") as pool:
        seen = 0
        for job, (payload, _) in enumerate(pool.results(range(20))):
            if payload is None:
                continue
            frames = payload[0]["face/frames"]
            threading.Event().wait(0.01)  # the other worker runs ahead meanwhile
            assert (frames == job).all()
            seen += 1
        assert seen == 19


def test_a_sample_larger_than_a_slot_comes_back_pickled():
    # job 0: 768 + 4 bytes fit in 800; job 10: 768 + 44 do not
    with SampleWorkers(filled, 2, slot_bytes=800, method="fork") as pool:
        (small, _), (large, _) = (payload for payload, _ in pool.results([0, 10]))
    assert not small["face/frames"].flags.owndata
    assert large["face/frames"].flags.owndata
    for key, value in filled(10)[0][0].items():
        np.testing.assert_array_equal(large[key], value)


def test_many_workers_get_smaller_slots_and_a_refused_mapping_pickles(monkeypatch):
    with SampleWorkers(filled, 2, depth=4, method="fork") as pool:
        assert pool.slot_bytes == 32 << 20  # 8 slots of 32 MiB stay under the cap
    monkeypatch.setattr(workers_module, "SHARED_BYTES", 8 * 1024)
    with SampleWorkers(filled, 2, depth=4, method="fork") as pool:
        assert pool.slot_bytes == 1024 and pool.shared is not None
    monkeypatch.setattr(workers_module, "_shared_map", lambda size: None)
    with SampleWorkers(filled, 2, method="fork") as pool:
        assert pool.shared is None
        results = [payload for payload, _ in pool.results(range(3))]
    assert [extra for _, extra in results] == ["extra0", "extra1", "extra2"]
    assert results[2][0]["face/frames"].flags.owndata


def test_a_jobs_unexpected_error_is_raised_in_the_writing_process():
    with SampleWorkers(filled, 2, method="fork") as pool:
        results = pool.results([0, 1, -1, 2])
        assert next(results)[0][1] == "extra0"
        assert next(results)[0][1] == "extra1"
        with pytest.raises(ZeroDivisionError, match="a bug in a step"):
            next(results)


def test_a_worker_that_dies_is_named_with_its_signal():
    with SampleWorkers(filled, 2, method="fork") as pool:
        results = pool.results([0, 1, 2, -9, 4])
        assert [next(results)[0][1] for _ in range(3)] == ["extra0", "extra1", "extra2"]
        with pytest.raises(WorkerDied, match=r"died by signal SIGKILL \(killed") as died:
            next(results)
    assert died.value.index == 3


def test_a_worker_that_died_idle_is_named_when_its_job_is_due():
    with SampleWorkers(filled, 2, depth=1, method="fork") as pool:
        victim = pool._processes[1]
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(10)
        results = pool.results(range(6))
        assert next(results)[0][1] == "extra0"  # job 0 went to the live worker
        with pytest.raises(WorkerDied, match=f"pid {victim.pid}") as died:
            next(results)
    assert died.value.index == 1


def test_ctrl_c_is_left_to_the_writing_process():
    """Ctrl-C signals every process of the group; the workers carry on (the writing process
    suspends the pack and stops them), so no worker dies mid-sample with a traceback."""
    with SampleWorkers(filled, 2, method="fork") as pool:
        for process in pool._processes:
            os.kill(process.pid, signal.SIGINT)
        assert [p[1] for p, _ in pool.results([0, 1, 2])] == ["extra0", "extra1", "extra2"]


def kill_on_sample_7(job: tuple) -> tuple:
    """prepare's job, but the worker that gets the release's 8th sample dies."""
    if job[1] == KILLED[0]:
        os.kill(os.getpid(), signal.SIGKILL)
    return PREPARE_JOB(job)


KILLED = [""]


def test_a_dead_worker_keeps_the_samples_written_for_a_rerun(
    dfew_raw, dfew_pack, tmp_path, monkeypatch
):
    """Nothing is lost when a worker dies (the out-of-memory killer, a crash in a decoder):
    the pack is kept unfinished with its journal, and running the same prepare again resumes
    it and finishes the one-process pack."""
    from emobench.prepare import pipeline

    whole = Pack(dfew_pack)
    KILLED[0] = str(whole.samples["id"][7])
    monkeypatch.setattr(workers_module, "fork_is_safe", lambda: True)
    monkeypatch.setattr(pipeline, "_prepare_job", kill_on_sample_7)
    out = tmp_path / "dfew.h5"
    with pytest.raises(Interrupted) as stopped:
        prepare_dataset("dfew", dfew_raw, out, workers=2, miniature=True)
    message = str(stopped.value)
    assert "died by signal SIGKILL" in message and f"sample {KILLED[0]}" in message
    assert "run the same command again to resume" in message
    assert not out.exists() and (tmp_path / "dfew.h5.partial").exists()
    monkeypatch.undo()
    report = prepare_dataset("dfew", dfew_raw, out, workers=2, miniature=True)
    assert report.resumed == 7  # every sample before the dead worker's
    assert report.digest == whole.digest


def test_prepare_with_forked_and_spawned_workers_writes_the_one_process_pack(
    dfew_raw, dfew_pack, tmp_path, monkeypatch
):
    """Under pytest-xdist a worker process runs other threads, so prepare would spawn; the
    fork path is forced here to compare both with the one-process pack (same digest)."""
    whole = Pack(dfew_pack)
    for method in ("fork", "spawn"):
        monkeypatch.setattr(workers_module, "fork_is_safe", lambda m=method: m == "fork")
        out = tmp_path / f"{method}.h5"
        report = prepare_dataset("dfew", dfew_raw, out, workers=2, miniature=True)
        assert report.digest == whole.digest, method
        assert Pack(out).digest == whole.digest


def test_a_damaged_clip_is_skipped_the_same_way_by_workers(dfew_raw, tmp_path, monkeypatch):
    import shutil

    raw = tmp_path / "raw"
    shutil.copytree(dfew_raw, raw)
    frame = sorted(raw.rglob("*.jpg"))[40]
    frame.write_bytes(frame.read_bytes()[:200])  # cut short
    monkeypatch.setattr(workers_module, "fork_is_safe", lambda: True)
    one = prepare_dataset("dfew", raw, tmp_path / "one.h5", miniature=True)
    two = prepare_dataset("dfew", raw, tmp_path / "two.h5", workers=2, miniature=True)
    assert [s.as_dict() for s in two.skipped] == [s.as_dict() for s in one.skipped]
    assert len(one.skipped) == 1 and one.skipped[0].path.endswith(frame.name)
    assert two.digest == one.digest


def test_fork_is_refused_while_another_python_thread_runs():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not fork_is_safe()
    finally:
        stop.set()
        thread.join()


CHILD = textwrap.dedent(
    """
    import cv2, numpy as np, threading
    from emobench.prepare.workers import SampleWorkers, fork_is_safe

    def resize(job):
        image = np.full((1200, 1600, 3), job, np.uint8)
        small = cv2.resize(image, (112, 112), interpolation=cv2.INTER_AREA)
        return ({"x": small},), None

    assert fork_is_safe(), "a fresh process runs only the OpenBLAS servers"
    image = np.zeros((2000, 3000, 3), np.uint8)
    for _ in range(10):  # a parallel resize: OpenCV starts its own thread pool
        cv2.resize(image, (1000, 1000), interpolation=cv2.INTER_LINEAR)
    assert not fork_is_safe(), "OpenCV's pool runs"
    with SampleWorkers(resize, 2) as pool:  # stops the pool, forks, restores it
        assert pool.method == "fork"
        out = [p[0]["x"][0, 0, 0] for p, _ in pool.results(range(6))]
    assert out == list(range(6)), out
    print("ok")
    """
)


def test_workers_fork_after_opencv_ran_its_pool_and_do_not_hang():
    """A child forked while OpenCV's pool runs hangs in its first parallel resize; the
    workers stop the pool before forking (run in a fresh interpreter: pytest-xdist's own
    threads would make the workers spawned here)."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


ORPHANED = textwrap.dedent(
    """
    import time
    from emobench.prepare.workers import SampleWorkers

    def slow(job):
        time.sleep(0.05)
        return ({},), None

    pool = SampleWorkers(slow, 2, method="fork")
    print(" ".join(str(p.pid) for p in pool._processes), flush=True)
    for _ in pool.results(range(100000)):
        pass
    """
)


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie that no one reaps has ended)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return "\tZ" not in next(line for line in status if line.startswith("State:"))
    except (FileNotFoundError, StopIteration):
        return False


def test_workers_leave_when_the_writing_process_is_killed():
    """kill -9 of prepare must not leave its workers behind: each closes the writing
    process's pipe ends it inherited by the fork (its own among them), so it sees that
    process go and leaves, quietly."""
    writer = subprocess.Popen(
        [sys.executable, "-c", ORPHANED], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    pids = [int(pid) for pid in writer.stdout.readline().split()]
    assert len(pids) == 2
    threading.Event().wait(0.5)
    writer.kill()
    writer.wait()
    deadline = time.monotonic() + 20
    while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(pid) for pid in pids)
    assert "Traceback" not in writer.stderr.read()
