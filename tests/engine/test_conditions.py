"""Test conditions and input sources through the engine: the robustness protocols test one
checkpoint once more per mask coverage level, on the same rows; a one-stream model reads the
stream a protocol names."""

from __future__ import annotations

from pathlib import Path

import pytest

from emobench.engine import evaluate
from emobench.errors import ProtocolError
from emobench.pack import Pack
from emobench.protocols import load_protocol


def test_each_condition_tests_the_same_checkpoint_on_the_same_rows(protocol_pack, tmp_path):
    protocol = load_protocol("dfew-mask-robustness")
    pack = Pack(protocol_pack(protocol))
    # a condition that reads the unmasked frames again must reproduce the main test exactly
    again = '\n[conditions.again]\ninput_sources = { face = "face" }\n'
    text = Path(protocol.path).read_text() + again
    copy = tmp_path / "dfew-mask-robustness.toml"
    copy.write_text(text)
    twin = load_protocol(copy)
    record, _ = evaluate(twin, "static-resnet18", pack, folds=[1], epochs=1)
    (fold,) = record["folds"]
    assert list(fold["conditions"]) == ["chin_only", "nose_exposed", "full", "again"]
    assert fold["conditions"]["again"] == fold["test"]
    assert set(record["conditions"]) == set(fold["conditions"])
    assert record["conditions"]["full"]["uar"]["mean"] == fold["conditions"]["full"]["uar"]
    masked = fold["conditions"]["full"]
    assert set(masked) == set(protocol.metrics)


def test_a_pack_without_the_masked_copies_is_refused_before_training(dfew_pack):
    protocol = load_protocol("dfew-mask-robustness")
    with pytest.raises(ProtocolError, match="needs a pack prepared with --mask surgical"):
        evaluate(protocol, "static-resnet18", Pack(dfew_pack), folds=[1], epochs=1)


def test_the_body_protocol_feeds_the_one_stream_model_the_body_stream(protocol_pack):
    protocol = load_protocol("emoreact-body")
    pack = Pack(protocol_pack(protocol))
    record, predictions = evaluate(protocol, "tsn", pack, epochs=1)
    assert record["model"]["inputs"]["train"] == ["face"]
    assert record["protocol"]["input_sources"] == {"face": "body"}
    assert len(predictions) == int((pack.samples["partition"] == "test").sum())
    assert 0.0 <= record["summary"]["roc_auc_micro"]["mean"] <= 1.0
