"""Training under torchrun (emobench.engine.distributed): two gloo processes of one torch thread
each, started by ``torchrun --standalone``, against the single-process run of the same fold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader, Dataset
from typer.testing import CliRunner

from emobench import api
from emobench.cli import app
from emobench.engine.distributed import Execution, execution
from emobench.errors import EmobenchError

# eye-only without dropout: no BatchNorm, no random masks, so the two runs differ only by the
# order of float sums (the gradient as a weighted sum of the ranks' batch means)
RUN = ["--protocol", "p3", "--model", "eye-only", "--epochs", "2", "--folds", "1"]
RUN += ["--set", "dropout=0"]
PROBABILITY_TOLERANCE = 1e-4
RANKS = 2


def launch(args: list[str], timeout: float, **run) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc-per-node RANKS ARGS`` with one OpenMP thread a rank."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", str(RANKS), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, **run)


def torchrun(args: list[str], tmp: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """:func:`launch` with each rank's output in its own log; a failure shows every rank's
    error output."""
    logs_args = ["--log-dir", str(tmp / "logs"), "--redirects", "3"]
    done = launch(logs_args + args, timeout, cwd=tmp)
    logs = "".join(f"rank {r}: {rank_log(tmp, r, 'stderr')}\n" for r in range(RANKS))
    assert done.returncode == 0, logs + done.stderr
    return done


def rank_log(tmp: Path, rank: int, stream: str) -> str:
    found = sorted((tmp / "logs").glob(f"**/attempt_0/{rank}/{stream}.log"))
    return found[-1].read_text() if found else ""


@pytest.fixture(scope="module")
def runs(emer_pack, tmp_path_factory):
    """The fold trained by two torchrun processes through the CLI, and in this process."""
    tmp = tmp_path_factory.mktemp("ddp")
    cli = ["-m", "emobench", "evaluate", *RUN, "--pack", str(emer_pack)]
    torchrun([*cli, "--results", str(tmp / "ddp")], tmp)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = api.evaluate(
            "p3",
            "eye-only",
            emer_pack,
            folds=[1],
            epochs=2,
            overrides={"dropout": 0},
            results=tmp / "single",
        )
    finally:
        torch.set_num_threads(threads)
    return tmp, single


def test_two_processes_match_one_within_tolerance(runs):
    tmp, single = runs
    (path,) = (tmp / "ddp").glob("p3/eye-only/*.json")
    ddp, record = (json.loads(p.read_text()) for p in (path, single.path))
    one, two = record["folds"][0], ddp["folds"][0]
    assert two["best_epoch"] == one["best_epoch"]
    assert two["selection_score"] == pytest.approx(one["selection_score"], abs=1e-9)
    assert two["test"] == pytest.approx(one["test"], abs=1e-9)
    a = pd.read_csv(single.path.with_name(record["predictions"]))
    b = pd.read_csv(path.with_name(ddp["predictions"]))
    columns = [c for c in a if c.startswith("p_")]
    assert list(b["id"]) == list(a["id"])
    assert (b["prediction"] == a["prediction"]).all()
    assert np.abs(a[columns].to_numpy() - b[columns].to_numpy()).max() <= PROBABILITY_TOLERANCE
    hardware = ddp["provenance"]["hardware"]
    assert (hardware["world_size"], hardware["backend"], hardware["device"]) == (2, "gloo", "cpu")
    assert record["provenance"]["hardware"]["world_size"] == 1


def test_only_rank_0_writes_and_prints(runs):
    tmp, _ = runs
    assert sorted(p.name.split(".", 1)[1] for p in (tmp / "ddp").rglob("*.*")) == [
        "json",
        "predictions.csv",
    ]
    assert "results:" in rank_log(tmp, 0, "stdout")
    assert rank_log(tmp, 1, "stdout") == rank_log(tmp, 1, "stderr") == ""


def test_an_update_one_rank_skips_is_still_averaged_and_stepped(tmp_path):
    """Two optimizers; rank 1 skips the first one's update at step 1, rank 0 the second's at
    step 2 (as an alternating model does when its part of a batch holds no row of an input).
    The collectives still pair up, the ranks end equal, and each average weighs the skipping
    rank's missing gradient as zero."""
    script = tmp_path / "skips.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, sys
            import torch
            from emobench.engine.distributed import TrainFeed, execution

            run_on = execution()
            torch.manual_seed(0)
            model = torch.nn.ModuleDict({"a": torch.nn.Linear(3, 1), "b": torch.nn.Linear(3, 1)})
            start = [p.detach().clone() for p in model.parameters()]
            run_on.place(model)
            feed = TrainFeed(run_on, None, None)
            sgd = [(torch.optim.SGD(model[k].parameters(), lr=0.1), None) for k in "ab"]
            (a, _), (b, _) = run_on.averaging(sgd, feed)
            feed.weight = 0.5
            x = torch.full((1, 3), float(run_on.rank + 1))
            for step in range(3):
                a.zero_grad()
                if not (run_on.rank == 1 and step == 1):
                    model["a"](x).sum().backward()
                    a.step()
                b.zero_grad()
                if not (run_on.rank == 0 and step == 2):
                    model["b"](x).sum().backward()
                    b.step()
                feed.done()
            moved = [(p - s).flatten().tolist() for p, s in zip(model.parameters(), start)]
            every = run_on.gather(moved)
            if run_on.is_main:
                json.dump(every, open(sys.argv[1], "w"))
            """
        )
    )
    out = tmp_path / "moved.json"
    torchrun([str(script), str(out)], tmp_path)
    rank0, rank1 = json.loads(out.read_text())
    assert rank0 == rank1
    # a: grads (x0 + x1)/2 = 1.5, then x0/2 = 0.5, then 1.5; b: 1.5, 1.5, then x1/2 = 1
    a_weight, a_bias, b_weight, b_bias = rank0
    assert a_weight == pytest.approx([-0.1 * 3.5] * 3)
    assert a_bias == pytest.approx([-0.1 * 2.5])
    assert b_weight == pytest.approx([-0.1 * 4.0] * 3)
    assert b_bias == pytest.approx([-0.1 * 2.5])


class Rows(Dataset):
    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"target": torch.tensor(i)}


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_leaving_the_group_stops_gloo_threads_after_an_optimizer_step(tmp_path):
    """An optimizer built after the group joined imports torch._dynamo, which imports
    torch.distributed.nn; when that bound the group as a default argument, leaving the group
    left gloo's threads running into interpreter shutdown, where one could abort the finished
    rank (the cause of CHANGELOG 2026-12-02's SIGABRT). After leaving, no gloo thread runs."""
    script = tmp_path / "threads.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, os, sys
            import torch
            import torch.distributed as dist
            from emobench.engine import distributed
            from emobench.engine.distributed import execution

            def threads():
                tasks = "/proc/self/task"
                return sorted(open(f"{tasks}/{t}/comm").read().strip() for t in os.listdir(tasks))

            run_on = execution()
            model = torch.nn.Linear(3, 1)
            sgd = torch.optim.SGD(model.parameters(), lr=0.1)
            model(torch.ones(1, 3)).sum().backward()
            dist.all_reduce(model.weight.grad)
            sgd.step()
            during = threads()
            distributed._leave_process_group()
            with open(f"{sys.argv[1]}.{run_on.rank}", "w") as f:
                json.dump({"during": during, "after": threads()}, f)
            """
        )
    )
    out = tmp_path / "threads"
    torchrun([str(script), str(out)], tmp_path)
    for rank in range(RANKS):
        seen = json.loads(Path(f"{out}.{rank}").read_text())
        assert any("gloo" in name for name in seen["during"])  # the check can see them
        assert not [name for name in seen["after"] if "gloo" in name]


def test_a_rank_that_fails_leaves_after_the_exit_wait(tmp_path):
    """Rank 1 fails while rank 0 waits in a collective: rank 1's exit barrier gives up after
    the exit wait (shortened here to 2 s), it leaves, and torchrun stops the run as failed
    instead of hanging."""
    script = tmp_path / "fails.py"
    script.write_text(
        textwrap.dedent(
            """
            import datetime
            import torch
            import torch.distributed as dist
            from emobench.engine import distributed
            from emobench.engine.distributed import execution

            distributed.EXIT_WAIT = datetime.timedelta(seconds=2)
            run_on = execution()
            if run_on.rank == 1:
                raise SystemExit("rank 1 failed")
            dist.all_reduce(torch.ones(1))
            """
        )
    )
    done = launch([str(script)], 90)
    assert done.returncode != 0
    assert "rank 1 failed" in done.stderr + done.stdout


@pytest.mark.parametrize(("n", "world"), [(37, 2), (33, 3)])
def test_rank_parts_split_each_single_process_batch(n, world):
    """Over two epochs, the ranks' parts of each batch are disjoint, together the batch the
    single-process loader gives, and weighted by their share; a rank whose part of a short
    last batch would be empty reads one row weighted 0."""
    batch_size = 8
    single_gen = torch.Generator().manual_seed(5)
    single = DataLoader(Rows(n), batch_size=batch_size, shuffle=True, generator=single_gen)
    feeds = []
    for rank in range(world):
        run_on = Execution(torch.device("cpu"), False, rank, world, "gloo")
        feeds.append(run_on.train_feed(Rows(n), batch_size, torch.Generator().manual_seed(5)))
    for _ in range(2):
        expected = [b["target"].tolist() for b in single]
        parts = [[(b["target"].tolist(), f.weight) for b in f] for f in feeds]
        for k, batch in enumerate(expected):
            rows = [parts[r][k][0] for r in range(world)]
            weights = [parts[r][k][1] for r in range(world)]
            assert sum(weights) == pytest.approx(1.0)
            for r in range(world):
                if weights[r] == 0:
                    assert rows[r] == batch[:1] and len(batch) < world
                else:
                    assert rows[r] == batch[r::world]
                    assert weights[r] == len(rows[r]) / len(batch)


def test_cuda_without_a_gpu_is_a_clear_error(emer_pack):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(EmobenchError, match="no CUDA GPU"):
        execution("cuda")
    with pytest.raises(EmobenchError, match="--amp"):
        execution("cpu", amp=True)
    assert execution("auto").device.type == "cpu"
    result = CliRunner().invoke(
        app, ["evaluate", *RUN, "--pack", str(emer_pack), "--device", "cuda"]
    )
    assert result.exit_code == 2
    assert "--device cuda: torch sees no CUDA GPU" in result.output
    result = CliRunner().invoke(app, ["evaluate", *RUN, "--device", "tpu"])
    assert result.exit_code == 2 and "expected one of cpu, cuda, auto" in result.output
