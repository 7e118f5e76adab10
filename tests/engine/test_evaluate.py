import json
from pathlib import Path

import numpy as np
import pytest

from emobench.engine import evaluate
from emobench.errors import ProtocolError
from emobench.metrics import compute_metrics
from emobench.models.registry import get_model_entry, model_names
from emobench.pack import Pack
from emobench.protocols import load_protocol, protocol_names
from emobench.results.store import load_runs, write_run


@pytest.mark.parametrize("name", protocol_names())
def test_every_protocol_runs_end_to_end(name, protocol_pack, tmp_path):
    """Each protocol over all its folds: the majority baseline (fast), or, for spotting, the
    strategy the pack was prepared with."""
    protocol = load_protocol(name)
    pack = Pack(protocol_pack(protocol))
    if protocol.task_spec.evaluator == "spotting":
        (strategy,) = set(pack.samples["apex_strategy"])
        record, predictions = evaluate(protocol, strategy, pack)
        assert record["folds"][0]["n_test"] == len(predictions) > 0
        assert record["model"]["name"] == strategy
        errors = np.abs(predictions["prediction"] - predictions["target"])
        assert record["summary"]["apex_within2"]["mean"] == pytest.approx((errors <= 2).mean())
        return
    record, predictions = evaluate(protocol, "majority", pack)
    assert len(record["folds"]) == len(
        protocol.folds(pack.samples, protocol.targets(pack.samples)[0])
    )
    assert set(record["summary"]) == set(protocol.metrics)
    assert len(predictions) == sum(f["n_test"] for f in record["folds"])
    assert record["selection"] == "validation"
    path = write_run(tmp_path, record, predictions)
    assert json.loads(path.read_text())["predictions"].endswith(".predictions.csv")
    assert load_runs(tmp_path, name)[0].model == "majority"


def fitting_protocol(model: str):
    """The first protocol that provides every input the model consumes and suits its task."""
    entry = get_model_entry(model)
    for name in protocol_names():
        protocol = load_protocol(name)
        if (
            set(entry.inputs) <= set(protocol.training_inputs)
            and set(entry.reads_at_test) <= set(protocol.testing_inputs)
            and protocol.task in entry.tasks
            and (protocol.aux_label or not entry.needs_aux)
        ):
            return protocol
    raise AssertionError(f"no protocol can evaluate {model!r}")


@pytest.mark.parametrize("model", model_names())
def test_every_model_trains_one_fold(model, protocol_pack):
    protocol = fitting_protocol(model)
    pack = protocol_pack(protocol)
    record, predictions = evaluate(protocol, model, Pack(pack), folds=[1], epochs=1)
    assert record["folds"][0]["n_test"] == len(predictions)
    assert record["model"]["inputs"]["train"] == list(get_model_entry(model).inputs)
    # the recorded metric is the one the predictions file gives
    if protocol.task == "multilabel":  # one target and one score column per label
        y = predictions[[f"target_{c}" for c in protocol.label]].to_numpy()
        scores = predictions[[f"p_{c}" for c in protocol.label]].to_numpy()
        expected = compute_metrics([protocol.primary], y, scores >= 0.5, scores)
        assert record["summary"][protocol.primary]["mean"] == pytest.approx(
            expected[protocol.primary], abs=1e-5
        )
        return
    y, p = predictions["target"].to_numpy(), predictions["prediction"].to_numpy()
    if protocol.classes:  # class names in the file
        y, p = (np.array([protocol.classes.index(v) for v in col]) for col in (y, p))
    expected = compute_metrics([protocol.primary], y, p)[protocol.primary]
    assert record["summary"][protocol.primary]["mean"] == pytest.approx(expected)


def test_same_seed_same_numbers_and_test_oracle_is_labelled(emer_pack):
    protocol = load_protocol("p3")
    pack = Pack(emer_pack)
    a, pa = evaluate(protocol, "eye-only", pack, folds=[2], epochs=3, seed=1)
    b, pb = evaluate(protocol, "eye-only", pack, folds=[2], epochs=3, seed=1)
    assert a["summary"] == b["summary"]
    assert (pa["prediction"] == pb["prediction"]).all()
    c, _ = evaluate(protocol, "eye-only", pack, folds=[2], epochs=3, seed=1, select_on_test=True)
    assert c["selection"] == "test-oracle"


def test_intensity_protocol_trains_the_auxiliary_head_and_scores_it(emer_pack):
    """p7 regresses intensity and gives FER-7 as auxiliary label: EMERT grows a second head,
    whose predictions are scored against the auxiliary label and written per sample."""
    protocol = load_protocol("p7")
    record, predictions = evaluate(protocol, "emert", Pack(emer_pack), folds=[1], epochs=1)
    assert record["model"]["aux_classes"] == len(protocol.aux_classes)
    target = predictions[f"{protocol.aux_label}_target"]
    predicted = predictions[f"{protocol.aux_label}_prediction"]
    assert record["folds"][0]["aux_test"]["war"] == pytest.approx((target == predicted).mean())


def test_mismatched_protocol_and_pack_is_refused(emer_pack, tmp_path):
    text = (
        Path(load_protocol("p3").path).read_text().replace('dataset = "emer"', 'dataset = "dfew"')
    )
    other = tmp_path / "p3.toml"
    other.write_text(text)
    with pytest.raises(ProtocolError, match="dataset"):
        evaluate(load_protocol(other), "majority", Pack(emer_pack))


def test_progress_counts_the_whole_run_not_each_fold(emer_pack):
    calls = []
    evaluate(
        load_protocol("p3"),
        "eye-only",
        Pack(emer_pack),
        folds=[1, 2],
        epochs=2,
        progress=lambda done, total, item: calls.append((done, total, item)),
    )
    assert [(d, t) for d, t, _ in calls] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert calls[2][2] == "fold 2, epoch 1 (2/2 folds)"


def test_probe_reads_the_features_and_leaves_the_run_unchanged(masked_pack):
    protocol = load_protocol("masked-apex-5fold")
    pack = Pack(masked_pack)
    plain, _ = evaluate(protocol, "dsid", pack, folds=[1], epochs=1)
    probed, _ = evaluate(protocol, "dsid", pack, folds=[1], epochs=1, probe=True)
    assert probed["summary"] == plain["summary"] and "probe" not in plain
    assert set(probed["folds"][0]["probe"]) == {"label_uar", "aux_uar"}
    assert probed["probe"]["chance"] == {"label_uar": 1 / 6, "aux_uar": 1 / 6}
    assert probed["probe"]["reads"] == {"label_uar": "true_emotion", "aux_uar": "expression"}
    with pytest.raises(ProtocolError, match="trains nothing: --probe does not apply"):
        evaluate(load_protocol("apex-spotting"), "annotated", pack, probe=True)


def test_probe_of_a_model_without_features_fails_before_training(emer_pack, monkeypatch):
    from emobench.models.base import EmobenchModel

    def no_training(*args, **kwargs):
        raise AssertionError("trained before checking for features")

    monkeypatch.setattr(EmobenchModel, "optimizers", no_training)
    with pytest.raises(ProtocolError, match="returns no 'features'"):
        evaluate(load_protocol("p3"), "eye-only", Pack(emer_pack), folds=[1], probe=True)
