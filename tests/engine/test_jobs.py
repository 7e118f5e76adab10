"""Local jobs: how their worker processes start, and that forked and spawned workers give the
parts a sequential run gives."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from emobench.engine.jobs import plan_parts, run_parts, start_method
from emobench.pack import Pack
from emobench.protocols import load_protocol


def test_workers_fork_only_from_a_process_without_other_threads():
    alone = subprocess.run(
        [sys.executable, "-c", "from emobench.engine.jobs import start_method as s; print(s())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert alone.stdout.strip() == "fork"
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert start_method() == "spawn"
    finally:
        stop.set()
        other.join()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_forked_and_spawned_workers_give_the_sequential_parts(emer_pack, method):
    protocol = load_protocol("p3")
    pack = Pack(emer_pack)
    parts = plan_parts([1, 2, 3], [0], [1, 3], 2)
    options = {"epochs": 1, "overrides": {"dim": 8}}
    evaluator = protocol.task_spec.evaluator
    alone = run_parts(evaluator, protocol, "eye-only", pack, parts, jobs=1, options=options)
    apart = run_parts(
        evaluator, protocol, "eye-only", pack, parts, jobs=2, options=options, method=method
    )
    for (a, _), (b, _) in zip(alone, apart, strict=True):
        assert [f["fold"] for f in a["folds"]] == [f["fold"] for f in b["folds"]]
        assert [f["test"] for f in a["folds"]] == [f["test"] for f in b["folds"]]
