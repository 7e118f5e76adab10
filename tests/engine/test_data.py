import numpy as np
import pytest

from emobench.engine.data import ArrayCache, FeatureScaler, PackDataset
from emobench.errors import PackCorrupt
from emobench.modalities import to_model_inputs
from emobench.pack import Pack, PackWriter


def test_scaler_uses_given_rows_only():
    train = np.ones((4, 3, 2), np.float32)
    train[:, :, 1] = np.arange(4)[:, None]
    scaler = FeatureScaler.fit(train)
    assert np.allclose(scaler.mean, [1.0, 1.5]) and scaler.std[0] == 1.0
    assert np.allclose(scaler.std[1], np.std(np.arange(4)))


def _partial_pack(path):
    """Four rows; rows 1 and 3 lack the ``eye`` group (unpaired data)."""
    with PackWriter(path, dataset="d", variant="v", source_digest="", steps={}) as w:
        for i in range(4):
            arrays = {"face/frames": np.full((2, 4, 4, 3), i * 10, np.uint8)}
            if i % 2 == 0:
                arrays["eye/windows"] = np.full((3, 2), float(i), np.float32)
            w.add({"id": f"s{i}", "subject": str(i)}, arrays)
        w.finish()
    return Pack(path)


def test_rows_without_a_modality_get_zeros_and_a_false_presence_flag(tmp_path):
    pack = _partial_pack(tmp_path / "p.h5")
    assert pack.present("eye").tolist() == [True, False, True, False]
    data = PackDataset(pack, np.arange(4), ("face", "eye"), np.zeros(4, np.int64))
    items = [data[i] for i in range(4)]
    assert [bool(x["eye_present"]) for x in items] == [True, False, True, False]
    assert float(items[2]["eye"][0, 0]) == 2.0 and float(items[1]["eye"].abs().sum()) == 0.0
    assert "face_present" not in items[0]  # every row holds face
    batch = to_model_inputs({"face": torch_stack(items, "face")})
    assert batch["face"].shape == (4, 2, 3, 4, 4)
    assert float(batch["face"][3].max()) == pytest.approx(30 / 255)


def torch_stack(items, key):
    import torch

    return torch.stack([x[key] for x in items])


def test_a_damaged_array_is_refused_when_read(tmp_path):
    import h5py

    pack_path = tmp_path / "p.h5"
    _partial_pack(pack_path)
    with h5py.File(pack_path, "r+") as f:
        f["face/frames"][2, 0, 0, 0, 0] = 99
    data = PackDataset(Pack(pack_path), np.arange(4), ("face",), np.zeros(4, np.int64))
    data[1]  # intact rows read as usual
    with pytest.raises(
        PackCorrupt, match="face/frames of sample s2 does not match its stored xxh3-128"
    ):
        data[2]


def test_an_input_source_feeds_one_input_the_array_of_another(tmp_path):
    """``input_sources`` (``{"face": "body"}``): the batch key is the model's input, the bytes
    are the source's, checked against the source's sha256."""
    with PackWriter(tmp_path / "p.h5", dataset="d", variant="v", source_digest="", steps={}) as w:
        for i in range(3):
            w.add(
                {"id": f"s{i}", "subject": str(i)},
                {
                    "face/frames": np.full((2, 4, 4, 3), i, np.uint8),
                    "body/frames": np.full((2, 4, 4, 3), 100 + i, np.uint8),
                },
            )
        w.finish()
    pack = Pack(tmp_path / "p.h5")
    targets = np.zeros(3, np.int64)
    plain = PackDataset(pack, np.arange(3), ("face",), targets)
    sourced = PackDataset(pack, np.arange(3), ("face",), targets, sources={"face": "body"})
    assert set(sourced[1]) == {"face", "target"}
    assert int(plain[1]["face"].max()) == 1 and int(sourced[1]["face"].max()) == 101


def test_the_datasets_of_a_fold_share_one_cache_and_its_budget(tmp_path):
    """Memory stays bounded however large the pack: arrays beyond the budget are read again."""
    pack = _partial_pack(tmp_path / "p.h5")
    one = pack.get("face/frames", 0).nbytes
    cache = ArrayCache(budget=2 * one)
    train = PackDataset(pack, np.arange(3), ("face",), np.zeros(3, np.int64), cache=cache)
    test = PackDataset(pack, np.arange(4), ("face",), np.zeros(4, np.int64), cache=cache)
    for i in range(3):
        train[i]
    assert sorted(cache.arrays) == [("face/frames", 0), ("face/frames", 1)]
    assert cache.used == 2 * one
    assert test._array("face/frames", 1) is cache.get("face/frames", 1)  # read once, shared
    assert (test[3]["face"] == 30).all() and len(cache.arrays) == 2  # over budget: not kept
    assert ("face/frames", 3) in cache.verified  # but checked once for the whole fold
    assert len(cache.verified) == 4
    assert PackDataset(pack, np.arange(1), ("face",), np.zeros(1)).cache is not cache
