"""Fixtures: the EMER miniature is synthesised and prepared once per test session into a
temporary EMOBENCH_HOME; nothing is downloaded."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def emobench_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("emobench-home")
    old = os.environ.get("EMOBENCH_HOME")
    os.environ["EMOBENCH_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("EMOBENCH_HOME", None)
    else:
        os.environ["EMOBENCH_HOME"] = old


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
def casme2_pack(emobench_home) -> Path:
    from emobench.miniature import miniature_pack

    return miniature_pack("casme2", apex="motion")
