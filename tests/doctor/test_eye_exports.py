import pytest

from emobench.doctor.eye_exports import read_export


@pytest.mark.defect("eye-rate")
def test_implausible_rate_is_found(damaged, name):
    checked = damaged(name)
    _, rel, _ = checked.planted["eye-rate"]
    hits = [f for f in checked.report.errors if f.check == "eye-exports" and f.file == rel]
    assert hits and "Hz" in hits[0].problem, [f.as_dict() for f in checked.report.errors]


def _export(emer_raw, tmp_path, rate_column=None, scale=1, header="Recording timestamp [ms]"):
    source = next((emer_raw / "Data/eye_movement data").glob("*.tsv"))
    lines = source.read_text(encoding="utf-8").splitlines()
    out = [lines[0].replace("Recording timestamp [ms]", header)]
    for line in lines[1:]:
        t, rest = line.split("\t", 1)
        out.append(f"{int(t) * scale}\t{rest}")
    if rate_column is not None:
        out = [out[0] + "\tSampling rate"] + [f"{line}\t{rate_column}" for line in out[1:]]
    path = tmp_path / "export.tsv"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return read_export(tmp_path, "export.tsv")


def test_declared_rate_and_units(emer_raw, tmp_path):
    plain = _export(emer_raw, tmp_path)
    assert plain.problem is None and 100 < plain.rate_hz < 140 and plain.declared_hz is None
    assert _export(emer_raw, tmp_path, rate_column=120).declared_hz == 120
    assert _export(emer_raw, tmp_path, rate_column=600).declared_hz == 600
    unstated = _export(emer_raw, tmp_path, scale=1000, header="Recording timestamp")
    assert unstated.unit_inferred and unstated.time_unit == "μs"
    stated_wrong = _export(emer_raw, tmp_path, scale=1000)
    assert "Hz" in stated_wrong.problem
