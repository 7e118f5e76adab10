from pathlib import Path

import numpy as np
import pytest

from emobench.errors import ProtocolError
from emobench.pack import Pack
from emobench.protocols import all_protocols, load_protocol, protocol_names, split_digest

PROTOCOLS = protocol_names()


def test_all_seven_emer_protocols_resolve_by_name():
    assert {f"p{i}" for i in range(1, 8)} <= set(PROTOCOLS)
    for name in PROTOCOLS:
        assert load_protocol(name).name == name


TRAINED = [n for n in PROTOCOLS if load_protocol(n).task != "spotting"]


@pytest.mark.parametrize("name", TRAINED)
def test_folds_are_subject_disjoint_and_validation_comes_from_training(name, request):
    protocol = load_protocol(name)
    pack = Pack(request.getfixturevalue(f"{protocol.dataset}_pack"))
    positions, targets = protocol.targets(pack.samples)
    assert len(positions) == len(targets) > 0
    folds = protocol.folds(pack.samples, positions)
    subjects = pack.samples["subject"].to_numpy()
    scheme = protocol.split["scheme"]
    if scheme == "official_folds":
        official = pack.samples["fold"].to_numpy()
        assert [f.index for f in folds] == [1, 2, 3, 4, 5]
        for f in folds:
            assert set(official[f.test]) == {f.index}  # the official fold is the test fold
            assert not set(official[f.validation]) & {f.index}
    elif scheme == "loso":
        assert len(folds) == len(set(subjects[positions]))
        assert all(len(set(subjects[f.test])) == 1 for f in folds)
    else:
        assert len(folds) == protocol.split["folds"]
    tested = np.concatenate([f.test for f in folds])
    assert sorted(tested) == sorted(positions)  # every labelled sample is tested exactly once
    for f in folds:
        assert not set(subjects[f.train]) & set(subjects[f.test])
        assert not set(subjects[f.validation]) & set(subjects[f.test])
        assert not set(subjects[f.train]) & set(subjects[f.validation])
    manifest = protocol.split_manifest(pack.samples, folds)
    again = protocol.split_manifest(pack.samples, protocol.folds(pack.samples, positions))
    assert split_digest(manifest) == split_digest(again)


def test_three_class_labels_are_read_not_derived(emer_pack):
    samples = Pack(emer_pack).samples
    derived = {"Happiness": "Positive", "Surprise": "Positive", "Neutral": "Neutral"}
    mismatch = [
        r
        for r in samples.itertuples()
        if derived.get(r.fer7, "Negative") != r.fer3 or derived.get(r.er7, "Negative") != r.er3
    ]
    assert mismatch, "the miniature carries rows whose 3-class label is not the mapped 7-class"


def test_unknown_class_in_pack_is_an_error(emer_pack):
    protocol = load_protocol("p3")
    samples = Pack(emer_pack).samples.copy()
    samples.loc[0, "er7"] = "Joy"
    with pytest.raises(ProtocolError, match="Joy"):
        protocol.targets(samples)


def test_invalid_protocol_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nversion = 1\n')
    with pytest.raises(ProtocolError, match="missing key"):
        load_protocol(bad)
    text = Path(load_protocol("p3").path).read_text()
    wrong = tmp_path / "p3.toml"
    wrong.write_text(text.replace('primary = "uar"', 'primary = "mae"'))
    with pytest.raises(ProtocolError, match="primary metric"):
        load_protocol(wrong)
    wrong.write_text(text.replace('source = "train"', 'source = "test"'))
    with pytest.raises(ProtocolError, match="carved from the training part"):
        load_protocol(wrong)
    with pytest.raises(ProtocolError, match="no protocol named"):
        load_protocol("p99")


def test_every_protocol_declares_paper_mapping():
    for p in all_protocols():
        if p.task == "spotting":
            assert p.paper_mapping == "not applicable"
        else:
            assert p.paper_mapping == "unverified" and "could not be read" in p.paper_note
