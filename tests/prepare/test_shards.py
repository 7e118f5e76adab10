"""Sharded prepare: ``--shard k/n`` takes every n-th sample of the adapter's order into its own
pack, which records its part, the release's sample ids and everything a merge checks."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from emobench.cli import app
from emobench.errors import EmobenchError
from emobench.pack import Pack, ids_digest
from emobench.prepare.pipeline import prepare_dataset
from emobench.prepare.shards import ShardSpec


@pytest.mark.parametrize("count", [1, 2, 3, 5])
@pytest.mark.parametrize("size", [0, 1, 4, 12])
def test_the_parts_cover_every_sample_exactly_once(count, size):
    items = list(range(size))
    parts = [ShardSpec(k, count).select(items) for k in range(1, count + 1)]
    assert sorted(i for part in parts for i in part) == items
    assert max(map(len, parts)) - min(map(len, parts)) <= 1  # balanced


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3", "give the part and the number of parts, e.g. --shard 3/8"),
        ("a/b", "give the part and the number of parts"),
        ("0/4", "the part must be between 1 and the number of parts"),
        ("5/4", r"\(1/4 … 4/4\)"),
        ("1/0", "the part must be between 1 and the number of parts"),
    ],
)
def test_a_bad_shard_is_a_named_error(text, message):
    with pytest.raises(EmobenchError, match=message):
        ShardSpec.parse(text)


def test_parse_and_the_shard_pack_name():
    spec = ShardSpec.parse(" 3 / 8 ")
    assert spec == ShardSpec(3, 8) and str(spec) == "3/8"
    assert str(spec.pack_path("packs/dfew.h5")) == "packs/dfew.shard-3of8.h5"


def test_a_shard_pack_holds_its_part_and_records_the_release(dfew_pack, dfew_raw, tmp_path):
    result = CliRunner().invoke(
        app,
        ["prepare", "dfew", "--src", str(dfew_raw), "--out", str(tmp_path / "dfew.h5")]
        + ["--shard", "2/3"],
    )
    assert result.exit_code == 0, result.output
    path = tmp_path / "dfew.shard-2of3.h5"
    assert f"wrote {path}: 23 samples" in result.output
    assert "emobench pack merge" in result.output and "dfew.shard-*.h5" in result.output
    whole, part = Pack(dfew_pack), Pack(path)
    assert list(part.samples["id"]) == list(whole.samples["id"][1::3])
    record = part.shard
    assert (record.index, record.count) == (2, 3)
    assert record.release_ids == tuple(whole.samples["id"])
    assert part.info()["shard"]["release_digest"] == ids_digest(whole.samples["id"])
    assert part.steps == whole.steps and part.attrs["variant"] == whole.attrs["variant"]
    assert part.attrs["source_digest"] == whole.attrs["source_digest"]
    assert part.verify() == []


def test_an_interrupted_shard_resumes(dfew_raw, tmp_path):
    def interrupt(done: int, total: int, what: str) -> None:
        if done == 16:
            raise KeyboardInterrupt

    out = tmp_path / "dfew.h5"
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset("dfew", dfew_raw, out, shard="1/3", progress=interrupt)
    said: list[str] = []
    report = prepare_dataset("dfew", dfew_raw, out, shard="1/3", notice=said.append)
    assert report.resumed == 16 and report.n_samples == 24
    assert said[0].startswith("resuming: 16 of 24 samples already prepared")
    first = prepare_dataset("dfew", dfew_raw, tmp_path / "again" / "dfew.h5", shard="1/3")
    assert report.digest == first.digest
