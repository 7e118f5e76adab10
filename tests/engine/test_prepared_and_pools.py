"""A protocol's ``[prepare]`` requirements, and rows a pack marks training-only (pools)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from emobench.engine.checks import check_prepared
from emobench.errors import ProtocolError
from emobench.protocols import load_protocol


def _pack(steps: dict) -> SimpleNamespace:
    return SimpleNamespace(steps=steps, path="packs/vt.h5")


def test_prepared_as_the_protocol_needs():
    protocol = load_protocol("vt-unpaired")
    check_prepared(
        protocol, _pack({"unpair": {"unpair": "by-subject", "pairing_ratio": 0.0, "seed": 0}})
    )


def test_wrong_ratio_names_the_option_and_the_fix():
    protocol = load_protocol("vt-unpaired")
    pack = _pack({"unpair": {"unpair": "by-subject", "pairing_ratio": 0.5, "seed": 0}})
    with pytest.raises(ProtocolError) as err:
        check_prepared(protocol, pack)
    message = str(err.value)
    assert "--pairing-ratio 0.0" in message and "--pairing-ratio 0.5" in message
    assert "packs/vt.h5" in message and "emobench prepare vt-pairs" in message


def test_a_pack_never_unpaired_counts_with_the_defaults():
    with pytest.raises(ProtocolError, match="--unpair by-subject"):
        check_prepared(load_protocol("vt-paired"), _pack({}))


def test_unknown_prepare_key_is_named():
    protocol = load_protocol("vt-unpaired")
    bad = type(protocol)(**{**protocol.to_dict(), "prepare": {"no_such_option": 1}})
    with pytest.raises(ProtocolError, match="no_such_option"):
        check_prepared(bad, _pack({}))


def _table(train_only: list[str]) -> pd.DataFrame:
    n = len(train_only)
    return pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "subject": [
                f"s{i // 4}" if t == "False" else f"pool{i}" for i, t in enumerate(train_only)
            ],
            "train_only": train_only,
        }
    )


def test_training_only_rows_join_every_training_part_and_are_never_tested():
    flags = ["False"] * 80 + ["True"] * 6  # 20 subjects, then 6 pool images
    samples = _table(flags)
    positions = np.arange(len(samples))
    folds = load_protocol("vt-unpaired").folds(samples, positions)
    pooled = set(range(80, 86))
    assert len(folds) == 5
    for fold in folds:
        assert pooled <= set(fold.train.tolist())
        assert not pooled & set(fold.test.tolist())
        assert not pooled & set(fold.validation.tolist())
    tested = np.concatenate([f.test for f in folds])
    assert sorted(tested.tolist()) == list(range(80))
