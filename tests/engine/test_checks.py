from pathlib import Path

import pytest

from emobench.engine.checks import check_fit
from emobench.errors import ProtocolError
from emobench.pack import Pack
from emobench.protocols import load_protocol


def test_pack_sampled_otherwise_than_the_protocol_is_refused(mafw_raw, mafw_pack, tmp_path):
    from emobench.prepare.pipeline import prepare_dataset

    strided = prepare_dataset(
        "mafw", mafw_raw, tmp_path / "m32.h5", options={"frames": 32, "stride": 2}
    ).pack
    assert check_fit(load_protocol("mafw-32x2"), "face-only", Pack(strided)).inputs == ("face",)
    assert check_fit(load_protocol("mafw"), "face-only", Pack(mafw_pack)).inputs == ("face",)
    with pytest.raises(ProtocolError, match="samples 32 frames at stride 2, .* holds 16 frames"):
        check_fit(load_protocol("mafw-32x2"), "face-only", Pack(mafw_pack))
    with pytest.raises(ProtocolError, match="--frames 16`"):
        check_fit(load_protocol("mafw"), "face-only", Pack(strided))
    same_count = prepare_dataset(
        "mafw", mafw_raw, tmp_path / "m16.h5", options={"frames": 16, "stride": 4}
    ).pack
    with pytest.raises(ProtocolError, match="16 frames at stride 4"):  # same T, other sampling
        check_fit(load_protocol("mafw"), "face-only", Pack(same_count))


def _p3_with(tmp_path: Path, extra: str):
    text = Path(load_protocol("p3").path).read_text(encoding="utf-8")
    line = 'inputs = ["face", "eye", "gaze", "fixmap"]'
    text = text.replace(line, line + "\n" + extra)
    path = tmp_path / "p3.toml"
    path.write_text(text, encoding="utf-8")
    return load_protocol(path)


def test_a_model_that_reads_more_at_test_than_the_protocol_offers_is_refused(emer_pack, tmp_path):
    """A protocol that tests on eye behaviour alone (face in training only) refuses EMERT,
    which reads the face at test time, and accepts eye-only."""
    protocol = _p3_with(tmp_path, 'test_inputs = ["eye", "gaze"]')
    assert protocol.training_inputs == ("face", "eye", "gaze", "fixmap")
    assert protocol.testing_inputs == ("eye", "gaze")
    with pytest.raises(ProtocolError, match=r"at test time \(missing \['face'\]\)"):
        check_fit(protocol, "emert", Pack(emer_pack))
    assert check_fit(protocol, "eye-only", Pack(emer_pack)).name == "eye-only"


def test_test_inputs_outside_the_inputs_are_invalid(tmp_path):
    with pytest.raises(ProtocolError, match=r"test_inputs \['apex'\] are not among"):
        _p3_with(tmp_path, 'test_inputs = ["apex"]')
