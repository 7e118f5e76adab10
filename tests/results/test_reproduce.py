"""``reproduce``: a recorded run re-run gives the same numbers and names the file it
reproduces; another pack is refused (or, when allowed, labelled); a protocol whose version
moved is refused with both versions; a re-run beyond the tolerance exits 1."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from emobench import api
from emobench.cli import app
from emobench.errors import EmobenchError, ProtocolError
from emobench.pack import Pack


@pytest.fixture(scope="module")
def recorded(emer_pack, tmp_path_factory):
    """A trained p3 run: eye-only, fold 1, one epoch, seed 3, with an interval."""
    root = tmp_path_factory.mktemp("reproduce")
    run = api.evaluate(
        "p3", "eye-only", emer_pack, seed=3, folds=[1], epochs=1, results=root, bootstrap=10
    )
    return run.path


def test_a_p3_row_reproduces_identically(recorded, emer_pack):
    rep = api.reproduce(recorded, pack=emer_pack)
    assert rep.identical and rep.ok and rep.same_pack
    assert {c.metric for c in rep.changes} == {"war", "uar", "wf1"}
    new = json.loads(rep.rerun.read_text())
    old = json.loads(recorded.read_text())
    assert new["reproduces"]["file"] == str(recorded) and new["reproduces"]["pack"] == "same"
    for key in ("seeds", "folds", "interval"):
        if key == "folds":
            assert [f["test"] for f in new[key]] == [f["test"] for f in old[key]]
        elif key == "interval":
            assert new[key]["metrics"] == old[key]["metrics"]
        else:
            assert new[key] == old[key] == [3]
    assert rep.tolerance == 0.03 and rep.tolerance_from == "[reference.eye-only]"


def test_another_pack_is_refused_unless_allowed(recorded, emer_pack, tmp_path):
    other = tmp_path / "other.h5"
    shutil.copy(emer_pack, other)
    record = json.loads(recorded.read_text())
    record["pack"]["digest"] = "0" * 64  # the run read a pack of other content
    changed = tmp_path / "p3" / "eye-only" / recorded.name
    changed.parent.mkdir(parents=True)
    changed.write_text(json.dumps(record))
    with pytest.raises(EmobenchError, match="holds other content"):
        api.reproduce(changed, pack=other)
    assert Pack(other).digest != record["pack"]["digest"]


def test_a_moved_protocol_version_is_refused(recorded, tmp_path):
    record = json.loads(recorded.read_text())
    record["protocol"]["version"] = 0
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps(record))
    with pytest.raises(ProtocolError, match=r"run under p3@0, but the protocol is now p3@1"):
        api.reproduce(moved)


def test_beyond_tolerance_exits_1_and_bad_files_are_named(recorded, emer_pack, tmp_path):
    record = json.loads(recorded.read_text())
    record["summary"]["uar"]["mean"] += 0.5
    shifted = tmp_path / "p3" / "eye-only" / recorded.name
    shifted.parent.mkdir(parents=True)
    shifted.write_text(json.dumps(record))
    shutil.copy(recorded.parent / record["predictions"], shifted.parent)
    out = CliRunner().invoke(app, ["reproduce", str(shifted), "--pack", str(emer_pack)])
    assert out.exit_code == 1, out.output
    assert "beyond tolerance" in out.output and "uar" in out.output
    junk = tmp_path / "junk.json"
    junk.write_text("{}")
    out = CliRunner().invoke(app, ["reproduce", str(junk)])
    assert out.exit_code != 0 and "not an emobench results file" in out.output


def test_a_merged_file_reruns_beside_itself_and_nothing_compared_is_no_pass(tmp_path):
    from emobench.results.reproduce import Reproduction, results_root

    record = {"model": {"name": "eye-only"}, "protocol": {"name": "p3"}}
    assert results_root(tmp_path / "p3" / "eye-only" / "r.json", record) == tmp_path
    assert results_root(tmp_path / "merged" / "r.json", record) == tmp_path / "merged"
    empty = Reproduction(tmp_path, tmp_path, "p3@1", "eye-only", True, 0.0, "", [])
    assert not empty.ok and not empty.identical
