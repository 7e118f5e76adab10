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
def test_folds_are_subject_disjoint_and_validation_comes_from_training(name, protocol_pack):
    protocol = load_protocol(name)
    pack = Pack(protocol_pack(protocol))
    positions, targets = protocol.targets(pack.samples)
    assert len(positions) == len(targets) > 0
    folds = protocol.folds(pack.samples, positions)
    subjects = pack.samples["subject"].to_numpy()
    scheme = protocol.split["scheme"]
    expected = positions  # the samples that are tested
    if scheme == "official_folds":
        official = pack.samples["fold"].to_numpy()
        assert [f.index for f in folds] == [1, 2, 3, 4, 5]
        for f in folds:
            assert set(official[f.test]) == {f.index}  # the official fold is the test fold
            assert not set(official[f.validation]) & {f.index}
    elif scheme == "loso":
        assert len(folds) == len(set(subjects[positions]))
        assert all(len(set(subjects[f.test])) == 1 for f in folds)
    elif scheme == "official_split":
        part = pack.samples[protocol.split["column"]].to_numpy()
        assert [f.index for f in folds] == [1]
        assert set(part[folds[0].test]) == {"test"}
        if protocol.validation.get("source") == "release":  # EmoReact's own Validation split
            assert set(part[folds[0].train]) == {"train"}
            assert set(part[folds[0].validation]) == {protocol.validation["value"]}
        else:
            assert set(part[folds[0].train]) | set(part[folds[0].validation]) == {"train"}
        expected = positions[part[positions] == "test"]  # only the test partition is tested
    else:
        assert len(folds) == protocol.split["folds"]
    tested = np.concatenate([f.test for f in folds])
    assert sorted(tested) == sorted(expected)  # every labelled sample is tested exactly once
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


def test_paper_mapping_is_read_from_the_file_and_unverified_by_default(tmp_path):
    """Whether a protocol follows its paper is what its file says; a file that says nothing
    is unverified, never verified; and a mapping that is not verified says why."""
    for p in all_protocols():
        assert p.paper_mapping in ("verified", "unverified", "not applicable"), p.name
        if p.paper_mapping != "verified":
            assert p.paper_note.strip(), f"{p.name}: paper_mapping {p.paper_mapping!r}, no note"
    text = Path(load_protocol("p3").path).read_text(encoding="utf-8")
    assert 'paper_mapping = "unverified"' in text
    for folder, line in (("verified", 'paper_mapping = "verified"\n'), ("silent", "")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "p3.toml").write_text(
            text.replace('paper_mapping = "unverified"\n', line)
        )
    assert load_protocol(tmp_path / "verified" / "p3.toml").paper_mapping == "verified"
    assert load_protocol(tmp_path / "silent" / "p3.toml").paper_mapping == "unverified"


def _listed(raw: Path, dataset: str) -> dict[tuple[str, int], set[str]]:
    """Clip ids of each official list (label-0 rows of DFEW left out), read straight from the
    raw miniature, independently of the adapters."""
    import pandas as pd

    lists = {}
    for k in range(1, 6):
        for part in ("train", "test"):
            if dataset == "dfew":
                path = raw / f"data_affine/single_label/label/single_{part}set_{k}.csv"
                table = pd.read_csv(path)
                ids = {f"{v:05d}" for v in table.loc[table["label"] != 0, "video_name"]}
            else:
                path = raw / f"label/no_caption/set_{k}/{part}.txt"
                ids = {line.split()[0][:-4] for line in path.read_text().splitlines()}
            lists[part, k] = ids
    return lists


@pytest.mark.parametrize(("name", "dataset"), [("dfew", "dfew"), ("mafw", "mafw")])
def test_official_folds_are_the_release_lists(name, dataset, request):
    protocol = load_protocol(name)
    pack = Pack(request.getfixturevalue(f"{dataset}_pack"))
    lists = _listed(request.getfixturevalue(f"{dataset}_raw"), dataset)
    ids = pack.samples["id"].to_numpy()
    folds = protocol.folds(pack.samples, protocol.targets(pack.samples)[0])
    assert [f.index for f in folds] == [1, 2, 3, 4, 5]
    for f in folds:
        test, train = set(ids[f.test]), set(ids[f.train]) | set(ids[f.validation])
        assert test == lists["test", f.index] and train == lists["train", f.index]
        assert not test & train  # no clip crosses train/test within a fold
        assert len(f.validation) == pytest.approx(0.2 * len(train), abs=1)
    sizes = [len(f.test) for f in folds]
    assert sum(sizes) == len(pack.samples) and max(sizes) - min(sizes) <= 1


def test_ferv39k_official_split_is_the_release_lists(ferv39k_pack, ferv39k_raw):
    protocol = load_protocol("ferv39k")
    pack = Pack(ferv39k_pack)
    ids = pack.samples["id"].to_numpy()
    (fold,) = protocol.folds(pack.samples, protocol.targets(pack.samples)[0])
    listed = {
        part: {line.split()[0] for line in (ferv39k_raw / f"All_scenes/{part}_All.csv").open()}
        for part in ("train", "test")
    }
    assert set(ids[fold.test]) == listed["test"]
    assert set(ids[fold.train]) | set(ids[fold.validation]) == listed["train"]
    assert not set(ids[fold.test]) & listed["train"]


def test_official_split_problems_are_named(ferv39k_pack, tmp_path):
    protocol = load_protocol("ferv39k")
    samples = Pack(ferv39k_pack).samples.copy()
    positions = protocol.targets(samples)[0]
    samples.loc[0, "partition"] = "validation"
    with pytest.raises(ProtocolError, match="holds \\['validation'\\], neither 'train' nor"):
        protocol.folds(samples, positions)
    with pytest.raises(ProtocolError, match="splits on column 'partition', which the pack lacks"):
        protocol.folds(samples.drop(columns="partition"), positions)
    text = Path(protocol.path).read_text()
    wrong = tmp_path / "ferv39k.toml"
    wrong.write_text(text.replace("stride = 0", "stride = -2"))
    with pytest.raises(ProtocolError, match="sampling.stride must be a non-negative integer"):
        load_protocol(wrong)


def test_dynamic_fer_protocols_declare_their_sampling():
    for name in ("dfew", "ferv39k", "mafw"):
        assert load_protocol(name).sampling == {"frames": 16, "stride": 0}
    assert load_protocol("mafw-32x2").sampling == {"frames": 32, "stride": 2}
    for name in ("dfew", "ferv39k", "mafw", "mafw-32x2"):
        p = load_protocol(name)
        assert p.inputs == ("face",) and p.metrics == ("war", "uar") and p.primary == "uar"
        assert "test-oracle" in p.paper_note and "ifdd" in p.reported
    mae = load_protocol("dfew").reported["mae-dfer"]
    assert mae["uar"] == pytest.approx(np.mean(mae["uar_folds"]), abs=1e-4)
    assert mae["war"] == pytest.approx(np.mean(mae["war_folds"]), abs=1e-4)


def test_a_labelled_row_without_its_auxiliary_label_is_refused():
    import pandas as pd

    from emobench.errors import ProtocolError

    protocol = load_protocol("masked-apex-5fold")
    samples = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "subject": ["1", "2", "3"],
            protocol.label: [protocol.classes[0]] * 3,
            protocol.aux_label: [protocol.aux_classes[0], "", protocol.aux_classes[1]],
        }
    )
    with pytest.raises(ProtocolError, match=r"1 sample\(s\) .* lack the auxiliary label"):
        protocol.aux_targets(samples)
    samples.loc[1, protocol.aux_label] = protocol.aux_classes[2]
    assert protocol.aux_targets(samples).tolist() == [0, 2, 1]


@pytest.mark.parametrize("name", PROTOCOLS)
def test_prepare_requirements_name_real_options_with_valid_values(name):
    """A protocol's ``[prepare]`` table names prepare options, with values those options
    accept (a typo would otherwise only show when a run checks its pack)."""
    from emobench.prepare.step import STEPS, option_fields, option_key

    protocol = load_protocol(name)
    for _, step in STEPS.items():
        fields = {option_key(f): f for f in option_fields(step.settings)}
        given = {fields[k].name: v for k, v in protocol.prepare.items() if k in fields}
        if given:
            step.settings(**given)  # raises, naming the option, on a value out of range
    known = {option_key(f) for _, s in STEPS.items() for f in option_fields(s.settings)}
    assert set(protocol.prepare) <= known


def _release_samples(n_per_part: int = 4):
    """A sample table split as EmoReact's release is: train, validation and test clips."""
    import pandas as pd

    parts = ["train"] * n_per_part + ["validation"] * n_per_part + ["test"] * n_per_part
    protocol = load_protocol("emoreact-face")
    table = {"id": [f"clip{i}" for i in range(len(parts))], "partition": parts}
    table["subject"] = [f"s{i}" for i in range(len(parts))]
    for k, column in enumerate(protocol.label):
        table[column] = [(i + k) % 2 for i in range(len(parts))]
    return pd.DataFrame(table)


def test_release_validation_is_the_releases_own_split_never_the_test_split():
    protocol = load_protocol("emoreact-face")
    samples = _release_samples()
    positions, _ = protocol.targets(samples)
    (fold,) = protocol.folds(samples, positions)
    part = samples["partition"].to_numpy()
    assert set(part[fold.train]) == {"train"}
    assert set(part[fold.validation]) == {"validation"}
    assert set(part[fold.test]) == {"test"}
    assert len(fold.train) == len(fold.validation) == len(fold.test) == 4


def test_release_validation_needs_the_official_split_and_a_value_of_its_own(tmp_path):
    text = Path(load_protocol("emoreact-face").path).read_text()
    wrong = tmp_path / "emoreact-face.toml"
    wrong.write_text(text.replace('value = "validation"', 'value = "test"'))
    with pytest.raises(ProtocolError, match="validation value must differ"):
        load_protocol(wrong)
    wrong.write_text(text.replace('scheme = "official_split"', 'scheme = "grouped_kfold"'))
    with pytest.raises(ProtocolError, match="validation from the release needs"):
        load_protocol(wrong)


def test_input_sources_and_conditions_are_read_and_checked(tmp_path):
    body = load_protocol("emoreact-body")
    assert body.input_sources == {"face": "body"} and body.sources() == {"face": "body"}
    robust = load_protocol("emoreact-mask-robustness")
    assert list(robust.conditions) == ["chin_only", "nose_exposed", "full"]
    assert robust.sources("full") == {"face": "face_full"} and robust.sources() == {}
    text = Path(body.path).read_text()
    wrong = tmp_path / "emoreact-body.toml"
    wrong.write_text(text.replace('face = "body"', 'face = "eye"'))
    with pytest.raises(ProtocolError, match="different kinds of input"):
        load_protocol(wrong)
    wrong.write_text(text.replace('face = "body"', 'face = "torso"'))
    with pytest.raises(ProtocolError, match="'torso' is not a registered input"):
        load_protocol(wrong)
    wrong.write_text(text.replace('{ face = "body" }', '{ body = "face" }'))
    with pytest.raises(ProtocolError, match="maps 'body', which is not among the inputs"):
        load_protocol(wrong)
