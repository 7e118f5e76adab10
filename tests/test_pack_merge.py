"""``emobench pack merge``: the shards of one ``prepare --shard k/n`` run join into the pack a
single-process prepare writes (same content digest, skips carried), and shards that do not
belong together are refused with an error naming the files."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from emobench.cli import app
from emobench.datasets.dfew import DfewAdapter
from emobench.errors import PackCorrupt, PackError
from emobench.pack import Pack, PackWriter, ShardRecord, partial_path
from emobench.pack_merge import merge_packs
from emobench.prepare.pipeline import prepare_dataset


@pytest.fixture(scope="module")
def release(dfew_raw, tmp_path_factory):
    """The small DFEW world with one clip folder gone (a skip found by the scan) and two
    clips undecodable (skips of shards 1 and 2), its single-process pack and its 3 shards."""
    base = tmp_path_factory.mktemp("merge")
    raw = base / "dfew"
    shutil.copytree(dfew_raw, raw)
    samples, _ = DfewAdapter(raw).scan()
    shutil.rmtree(raw / samples[6].media["face_frames_dir"])
    for victim in (samples[3], samples[4]):
        for frame in (raw / victim.media["face_frames_dir"]).iterdir():
            frame.write_bytes(b"not a jpeg")
    single = prepare_dataset("dfew", raw, base / "single" / "dfew.h5")
    assert len(single.skipped) == 3
    for k in (1, 2, 3):
        prepare_dataset("dfew", raw, base / "packs" / "dfew.h5", shard=f"{k}/3")
    shards = sorted((base / "packs").glob("dfew.shard-*.h5"))
    assert [p.name for p in shards] == [f"dfew.shard-{k}of3.h5" for k in (1, 2, 3)]
    return raw, single, shards


def test_the_merged_pack_is_the_single_process_pack(release, tmp_path):
    raw, single, shards = release
    out = tmp_path / "dfew.h5"
    result = CliRunner().invoke(app, ["pack", "merge", *map(str, shards), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "67 samples from 3 shards" in result.output
    merged, whole = Pack(out), Pack(single.pack)
    assert merged.digest == whole.digest == single.digest
    assert merged.skipped == whole.skipped and len(merged.skipped) == 3
    assert merged.samples.equals(whole.samples)
    assert merged.shard is None and merged.verify() == []
    assert not partial_path(out).exists()


def _shard_of(raw: Path, tmp: Path, spec: str, **options) -> Path:
    report = prepare_dataset("dfew", raw, tmp / "dfew.h5", shard=spec, options=options)
    return report.pack


def test_missing_twice_and_foreign_packs_are_named(release, tmp_path):
    raw, single, (s1, s2, s3) = release
    out = tmp_path / "m.h5"
    with pytest.raises(PackError, match=r"shard\(s\) 3/3 missing .*dfew.shard-2of3.h5 = 2/3"):
        merge_packs([s1, s2], out)
    twin = tmp_path / "twin.h5"
    shutil.copy(s1, twin)
    with pytest.raises(PackError, match=f"shard 1/3 is given more than once: {s1}, {twin}"):
        merge_packs([s1, twin, s2, s3], out)
    with pytest.raises(PackError, match=f"{single.pack}: not a shard pack"):
        merge_packs([single.pack, s1, s2, s3], out)
    with pytest.raises(PackError, match="--out is one of the shard packs"):
        merge_packs([s1, s2, s3], s3)
    assert not out.exists()


def test_shards_of_other_settings_raw_data_or_part_count_are_refused(release, dfew_raw, tmp_path):
    raw, _, (s1, s2, s3) = release
    out = tmp_path / "m.h5"
    other_frames = _shard_of(raw, tmp_path / "f8", "3/3", frames=8)
    with pytest.raises(PackError, match="their prepare steps and settings:") as err:
        merge_packs([s1, s2, other_frames], out)
    assert str(other_frames) in str(err.value) and str(s1) in str(err.value)
    clean = _shard_of(dfew_raw, tmp_path / "clean", "3/3")
    with pytest.raises(PackError, match=r"their raw data \(source digest\):"):
        merge_packs([s1, s2, clean], out)
    halves = _shard_of(raw, tmp_path / "halves", "2/2")
    with pytest.raises(PackError, match=r"their number of parts \(--shard k/N\):"):
        merge_packs([s1, halves], out)
    assert not out.exists()


def test_a_damaged_shard_is_named_and_nothing_is_written(release, tmp_path):
    _, _, (s1, s2, s3) = release
    damaged = tmp_path / s2.name
    shutil.copy(s2, damaged)
    with h5py.File(damaged, "r+") as f:
        f["face/frames"][4, 0, 0, 0, 0] ^= 0xFF
    out = tmp_path / "m.h5"
    with pytest.raises(PackCorrupt, match=f"{damaged}: face/frames of sample .* xxh3-128 digest"):
        merge_packs([s1, damaged, s3], out)
    assert not out.exists() and not partial_path(out).exists()


def _tiny_shard(path: Path, index: int, rows: list[str]) -> Path:
    """A shard of the release a, b, c, d split in two, holding ``rows``."""
    record = ShardRecord(index, 2, ("a", "b", "c", "d"))
    with PackWriter(path, dataset="d", variant="v", source_digest="s", steps={}, shard=record) as w:
        for sid in rows:
            w.add({"id": sid, "subject": sid}, {"x/data": np.frombuffer(sid.encode(), np.uint8)})
        w.finish()
    return path


def test_samples_outside_their_share_or_in_no_shard_are_named(tmp_path):
    first = _tiny_shard(tmp_path / "one.h5", 1, ["a", "c"])
    out = tmp_path / "m.h5"
    gap = _tiny_shard(tmp_path / "gap.h5", 2, ["b"])
    with pytest.raises(PackError, match=r"1 sample\(s\) of the release are in no shard \(d\)"):
        merge_packs([first, gap], out)
    stray = _tiny_shard(tmp_path / "stray.h5", 2, ["b", "c", "d"])
    with pytest.raises(PackError, match=f"sample c is in both {first} and {stray}"):
        merge_packs([first, stray], out)
    lone = _tiny_shard(tmp_path / "lone.h5", 1, ["a"])
    with pytest.raises(PackError, match=f"{stray}: holds sample c, which belongs to shard 1/2"):
        merge_packs([lone, stray], out)
    whole = _tiny_shard(tmp_path / "two.h5", 2, ["b", "d"])
    report = merge_packs([whole, first], out)
    assert list(Pack(out).samples["id"]) == ["a", "b", "c", "d"] and report.n_shards == 2
