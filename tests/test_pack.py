import h5py
import numpy as np
import pytest

from emobench.errors import PackError
from emobench.pack import Pack, PackWriter, partial_path


def _write(path, n=4, fail_at=None):
    with PackWriter(
        path,
        dataset="demo",
        variant="v",
        source_digest="abc",
        steps={"k": 1},
        ragged=("eye/series",),
    ) as w:
        for i in range(n):
            if i == fail_at:
                raise RuntimeError("interrupted")
            w.add(
                {
                    "id": f"s{i}",
                    "subject": str(i // 2),
                    "fold": i % 2 + 1,
                    "er7": "Anger",
                    "v": i / 10,
                },
                {
                    "face/frames": np.full((2, 8, 8, 3), i, np.uint8),
                    "eye/series": np.arange((i + 1) * 3, dtype=np.float32).reshape(-1, 3),
                },
            )
        w.set_attrs("eye/series", {"rate_hz": 60.0})
        return w.finish([{"sample_id": "gone", "path": "x.mp4", "reason": "does not decode"}])


def test_roundtrip(tmp_path):
    digest = _write(tmp_path / "p.h5")
    pack = Pack(tmp_path / "p.h5")
    assert pack.digest == digest
    assert list(pack.samples["id"]) == ["s0", "s1", "s2", "s3"]
    assert pack.samples["v"].dtype == np.float64
    assert pack.get("eye/series", 2).shape == (3, 3)
    assert (pack.get("face/frames", 3) == 3).all()
    assert pack.array_attrs("eye/series")["rate_hz"] == 60.0
    assert pack.skipped[0]["reason"] == "does not decode"
    assert pack.verify() == []
    assert not partial_path(tmp_path / "p.h5").exists()


def test_same_content_same_digest(tmp_path):
    assert _write(tmp_path / "a.h5") == _write(tmp_path / "b.h5")


def test_verify_detects_corruption(tmp_path):
    _write(tmp_path / "p.h5")
    with h5py.File(tmp_path / "p.h5", "r+") as f:
        f["face/frames"][1, 0, 0, 0, 0] = 99
    problems = Pack(tmp_path / "p.h5").verify()
    assert problems == ["face/frames sample s1: sha256 mismatch"]


def test_interrupted_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        _write(tmp_path / "p.h5", fail_at=2)
    assert not (tmp_path / "p.h5").exists()
    assert not partial_path(tmp_path / "p.h5").exists()


def test_stale_partial_is_restarted(tmp_path):
    partial_path(tmp_path / "p.h5").write_bytes(b"half a pack")
    w = PackWriter(tmp_path / "p.h5", dataset="d", variant="v", source_digest="", steps={})
    assert w.restarted
    w.add({"id": "a", "subject": "1"}, {"x": np.zeros(3)})
    w.finish()
    assert Pack(tmp_path / "p.h5").verify() == []


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(PackError, match="no such pack"):
        Pack(tmp_path / "none.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(PackError, match="not a readable emobench pack"):
        Pack(tmp_path / "junk.h5")


def test_pack_pickles_without_handle(tmp_path):
    import pickle

    _write(tmp_path / "p.h5")
    pack = Pack(tmp_path / "p.h5")
    pack.get("face/frames", 0)  # opens the handle
    clone = pickle.loads(pickle.dumps(pack))
    assert clone._h5 is None and (clone.get("face/frames", 1) == 1).all()
