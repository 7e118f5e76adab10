"""Resumable prepare: after kill -9 at any point, the same command keeps the samples already
written and verified, and the pack it finishes is the one an uninterrupted run writes.

The kills are real: ``emobench prepare`` runs in a subprocess and is killed with SIGKILL once
its journal has committed a seeded random number of samples (a trigger that does not depend
on the machine's speed), or after a seeded random delay (anywhere: while the partial file is
created, mid-write, mid-resume)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from emobench.pack import (
    Journal,
    Pack,
    PackWriter,
    journal_path,
    partial_path,
    resume_path,
)
from emobench.prepare.pipeline import prepare_dataset

# The killed prepare commits every 4 samples (a class setting, set by the child itself), so
# that the 70 samples of the small DFEW world give many points to be killed at.
CHILD = (
    "import sys\n"
    "from emobench.pack import PackWriter\n"
    "PackWriter.commit_rows = 4\n"
    "from emobench.cli import app\n"
    "app(sys.argv[1:], prog_name='emobench')\n"
)


@pytest.fixture(scope="module")
def reference(dfew_raw, tmp_path_factory) -> str:
    """The digest of an uninterrupted prepare of the small DFEW world."""
    out = tmp_path_factory.mktemp("uninterrupted") / "dfew.h5"
    return prepare_dataset("dfew", dfew_raw, out).digest


def _committed(out: Path) -> tuple[str, int]:
    """(token, committed entries) of the journal of ``out``; ("", -1) while there is none."""
    try:
        header, entries = Journal(journal_path(out)).read()
    except (OSError, ValueError):
        return "", -1
    return header["token"], len(entries)


def _start(raw: Path, out: Path) -> subprocess.Popen:
    args = ["prepare", "dfew", "--src", str(raw), "--out", str(out)]
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, *args],
        cwd=out.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _kill_when(child: subprocess.Popen, ready, timeout: float = 120.0) -> None:
    """SIGKILL ``child`` as soon as ``ready()`` holds (polled every 2 ms)."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert child.poll() is None, "the prepare ended before the kill"
        assert time.monotonic() < deadline, "the kill trigger never came"
        time.sleep(0.002)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()


def _rerun(raw: Path, out: Path) -> tuple[str, list[str]]:
    said: list[str] = []
    report = prepare_dataset("dfew", raw, out, notice=said.append)
    assert report.n_samples == 70
    return report.digest, said


def _finished_cleanly(out: Path) -> None:
    for left in (partial_path(out), resume_path(out), journal_path(out)):
        assert not left.exists(), left
    assert Pack(out).verify() == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_after_a_random_number_of_committed_samples(dfew_raw, reference, tmp_path, seed):
    target = random.Random(seed).randrange(1, 50)
    out = tmp_path / "dfew.h5"
    child = _start(dfew_raw, out)
    _kill_when(child, lambda: _committed(out)[1] >= target)
    kept = _committed(out)[1]
    assert partial_path(out).exists() and not out.exists()
    digest, said = _rerun(dfew_raw, out)
    assert said == [
        f"resuming: {kept} of 70 samples already prepared (re-hashed and verified in "
        f"{partial_path(out)})"
    ]
    assert digest == reference
    _finished_cleanly(out)


def test_kill_9_after_a_random_delay_then_kill_the_resumed_run_too(dfew_raw, reference, tmp_path):
    """Killed anywhere (even before the first commit, or while the partial file is being
    created), then the resumed run killed again once it switched to its fresh file.

    The first kill comes after the delay or once 40 of the 70 samples are committed,
    whichever is first: on a fast machine the delay alone could fall so near the end that
    the resumed run finished before it committed anything new to be killed after."""
    out = tmp_path / "dfew.h5"
    delay = random.Random(7).uniform(0.0, 0.4)
    child = _start(dfew_raw, out)
    started: list[float] = []

    def after_delay() -> bool:
        if not partial_path(out).exists():
            return False
        started.append(time.monotonic())
        return time.monotonic() - started[0] >= delay or _committed(out)[1] >= 40

    _kill_when(child, after_delay)
    token, first = _committed(out)
    child = _start(dfew_raw, out)
    _kill_when(child, lambda: (c := _committed(out))[0] not in ("", token) and c[1] > first)
    second = _committed(out)[1]
    digest, said = _rerun(dfew_raw, out)
    assert said and said[0].startswith(f"resuming: {second} of 70 samples")
    assert digest == reference
    _finished_cleanly(out)


def test_ctrl_c_keeps_a_resumable_partial_and_other_settings_start_over(
    dfew_raw, reference, tmp_path
):
    out = tmp_path / "dfew.h5"

    def interrupt(done: int, total: int, what: str) -> None:
        if done == 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare_dataset("dfew", dfew_raw, out, progress=interrupt)
    assert partial_path(out).exists() and _committed(out)[1] == 20
    said: list[str] = []
    report = prepare_dataset("dfew", dfew_raw, out, options={"frames": 8}, notice=said.append)
    assert report.resumed == 0 and report.restarted
    assert said == [
        f"{partial_path(out)}: the unfinished earlier prepare of this pack was made with other "
        "prepare steps or settings, variant; not reusing it, starting over from zero"
    ]
    assert Pack(out).steps["frames"]["frames"] == 8
    _finished_cleanly(out)


def test_an_unreadable_partial_file_is_started_over_and_says_so(dfew_raw, reference, tmp_path):
    out = tmp_path / "dfew.h5"

    def interrupt(done: int, total: int, what: str) -> None:
        if done == 40:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare_dataset("dfew", dfew_raw, out, progress=interrupt)
    partial_path(out).write_bytes(b"not an HDF5 file any more")
    digest, said = _rerun(dfew_raw, out)
    assert len(said) == 1 and "cannot be opened" in said[0] and "starting over" in said[0]
    assert digest == reference
    _finished_cleanly(out)


# ---------------------------------------------------------------------------------------------
# The writer on its own: damaged bytes, other source data, exact table values.


def _writer(path: Path, source: str = "abc") -> PackWriter:
    return PackWriter(
        path,
        dataset="d",
        variant="v",
        source_digest=source,
        steps={"k": 1},
        ragged=("eye/series",),
        resume_identity={"samples": "ten"},
    )


def _sample(i: int) -> tuple[dict, dict]:
    row = {
        "id": f"s{i}",
        "subject": str(i // 2),
        "f32": np.float32(i / 3),
        "i64": np.int64(i),
        "flag": bool(i % 2),
        "maybe": None if i % 3 else i,
        "pair": (i, "x"),
    }
    arrays = {
        "face/frames": np.full((2, 4, 4, 3), i, np.uint8),
        "eye/series": np.arange((i + 1) * 3, dtype=np.float32).reshape(-1, 3),
    }
    return row, arrays


def _write_from(writer: PackWriter, start: int, stop: int = 10) -> str:
    for i in range(start, stop):
        writer.add(*_sample(i), note={"i": i})
    return writer.finish()


def test_damaged_committed_bytes_are_prepared_again_and_the_table_keeps_its_types(tmp_path):
    expected = _write_from(_writer(tmp_path / "whole.h5"), 0)
    out = tmp_path / "p.h5"
    w = _writer(out)
    for i in range(8):
        w.add(*_sample(i), note={"i": i})
    w.suspend()  # what Ctrl-C does: commit and keep the partial file
    with h5py.File(partial_path(out), "r+") as f:
        f["face/frames"][5, 0, 0, 0, 0] = 99
    again = _writer(out)
    assert again.resumed == [{"i": i} for i in range(5)] and again.resume_dropped == 3
    assert _write_from(again, 5) == expected


def test_a_partial_from_other_raw_data_is_not_reused(tmp_path):
    out = tmp_path / "p.h5"
    w = _writer(out)
    for i in range(4):
        w.add(*_sample(i))
    w.suspend()
    other = _writer(out, source="xyz")
    assert other.resumed == [] and other.restarted
    assert "other raw data (source digest)" in other.resume_message
    other.abort()


def test_a_cut_journal_line_ends_the_record(tmp_path):
    out = tmp_path / "p.h5"
    w = _writer(out)
    w.commit_rows = 2
    for i in range(6):
        w.add(*_sample(i), note=i)
    w.suspend()
    journal = journal_path(out)
    text = journal.read_text()
    journal.write_text(text[: len(text) - 20])  # the last commit cut short by a kill
    header, entries = Journal(journal).read()
    assert len(entries) == 4 and json.dumps(header)
    again = _writer(out)
    assert again.resumed == [0, 1, 2, 3]
    again.abort()
