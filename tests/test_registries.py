"""Every registered dataset adapter, through the command line as a user runs it: ``synth`` its
miniature, ``prepare`` it, ``info`` and ``verify`` the pack, and ``verify`` a copy with one
flipped byte. Every registered model, in both of its configurations. A new entry in either
registry is tested the moment it is registered.

Each CLI call runs in a fresh interpreter, as a user's shell would run it; one pack per dataset
is shared by this module's tests (a few seconds to ~20 s per dataset).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
import torch

from emobench.datasets.registry import dataset_names, get_adapter
from emobench.models.registry import CONFIGS, ModelSpec, create_model, get_model_entry, model_names

DATASETS = dataset_names()
# Person videos run two landmark models on every sampled frame (~40 ms each): two frames per
# clip keep this command-line round trip at seconds; the streams are tested in full elsewhere.
QUICK_PREPARE = {"emoreact": ("--frames", "2")}


def cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    """``emobench <args>`` in a subprocess (the environment, EMOBENCH_HOME included, is
    inherited from the test session)."""
    return subprocess.run(
        [sys.executable, "-c", "from emobench.cli import app; app()", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module", params=DATASETS)
def prepared(request, tmp_path_factory) -> tuple[str, Path, Path, dict]:
    """(name, raw miniature, pack, ``info --json`` of the pack) of one registered dataset, all
    made by the CLI."""
    name = request.param
    request.getfixturevalue("body_model")  # person videos' body boxes come from the pose model
    work = tmp_path_factory.mktemp(f"registry-{name}")
    synth = cli("synth", name, "--out", "raw", cwd=work)
    assert synth.returncode == 0, synth.stdout + synth.stderr
    extra = QUICK_PREPARE.get(name, ())
    prepare = cli("prepare", name, "--src", "raw", "--out", "pack.h5", *extra, cwd=work)
    assert prepare.returncode == 0, prepare.stdout + prepare.stderr
    info = cli("info", "pack.h5", "--json", cwd=work)
    assert info.returncode == 0, info.stdout + info.stderr
    return name, work / "raw", work / "pack.h5", json.loads(info.stdout)


def test_info_reports_every_sample_the_adapter_scans(prepared) -> None:
    name, raw, _, info = prepared
    samples, _ = get_adapter(name)(raw).scan()
    assert info["dataset"] == name
    assert info["n_samples"] == len(samples) > 0
    assert info["arrays"], "a pack without a stored array"


def stored_block(dataset: h5py.Dataset) -> tuple[int, int, tuple[slice, ...]]:
    """File offset, length and array region of the first stored block of ``dataset``'s data:
    the whole array if it is contiguous, else its first written chunk."""
    offset = dataset.id.get_offset()
    if offset is not None:
        return offset, dataset.id.get_storage_size(), (slice(None),) * dataset.ndim
    chunk = dataset.id.get_chunk_info(0)
    region = tuple(
        slice(start, start + size)
        for start, size in zip(chunk.chunk_offset, dataset.chunks, strict=True)
    )
    return chunk.byte_offset, chunk.size, region


def test_verify_passes_and_catches_one_flipped_byte(prepared, tmp_path) -> None:
    name, _, pack, info = prepared
    ok = cli("verify", pack, cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    with h5py.File(pack, "r") as f:  # the biggest stored array: the media, not a label column
        key = max(info["arrays"], key=lambda k: f[k].size * f[k].dtype.itemsize)
        assert f[key].compression is None, f"{name}: {key} is compressed; flip a stored byte"
        offset, length, region = stored_block(f[key])
        before = f[key][region]
    assert length > 0
    damaged = tmp_path / "damaged.h5"
    shutil.copyfile(pack, damaged)
    with damaged.open("r+b") as raw:
        raw.seek(offset + length // 2)
        byte = raw.read(1)
        raw.seek(offset + length // 2)
        raw.write(bytes([byte[0] ^ 0xFF]))
    with h5py.File(damaged, "r") as f:  # the flip landed inside the array's data
        assert (f[key][region] != before).sum() == 1
    bad = cli("verify", damaged, cwd=tmp_path)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "xxh3-128 digest mismatch" in bad.stdout + bad.stderr


# ---------------------------------------------------------------- models


def build(name: str, config: str) -> torch.nn.Module:
    """``name`` in ``config``; a trainable model on the ``meta`` device (shapes only: no
    memory, no time)."""
    entry = get_model_entry(name)
    task = "classification" if "classification" in entry.tasks else entry.tasks[0]
    spec = ModelSpec(
        task=task,
        num_outputs=7 if task == "classification" else 1,
        config=config,
        aux_classes=6 if entry.needs_aux else 0,
        frames=8,
        frame_size=112,
        shapes={"eye": (32, 14), "gaze": (32, 2), "fixmap": (24, 24)},
    )
    with torch.device("meta"):
        model = create_model(name, spec)
    return model if model.trainable else create_model(name, spec)


@pytest.mark.parametrize("name", model_names())
def test_every_model_has_a_small_and_a_larger_paper_config(name: str) -> None:
    """Both configurations build; the description the results file stores names the one
    built; a trainable model's paper configuration is bigger than its small one."""
    assert set(CONFIGS) == {"small", "paper"}
    models = {config: build(name, config) for config in CONFIGS}
    described = {c: json.loads(json.dumps(m.describe())) for c, m in models.items()}
    assert {c: d["config_name"] for c, d in described.items()} == {c: c for c in CONFIGS}
    if models["small"].trainable:
        small, paper = (described[c]["parameters"] for c in ("small", "paper"))
        assert 0 < small < paper, (small, paper)
