import io
import os

import h5py
import numpy as np
import pytest

from emobench.array_hash import array_digest
from emobench.errors import PackCorrupt, PackError
from emobench.pack import Pack, PackWriter, _all_attrs, content_digest, partial_path


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
    assert problems == ["face/frames sample s1: xxh3-128 digest mismatch"]


def test_interrupted_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        _write(tmp_path / "p.h5", fail_at=2)
    assert not (tmp_path / "p.h5").exists()
    assert not partial_path(tmp_path / "p.h5").exists()


def test_stale_partial_is_restarted(tmp_path):
    partial_path(tmp_path / "p.h5").write_bytes(b"half a pack")
    w = PackWriter(tmp_path / "p.h5", dataset="d", variant="v", source_digest="", steps={})
    assert w.restarted
    w.add({"id": "a", "subject": "1"}, {"x/data": np.zeros(3)})
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


def _dump(path):
    """Everything a reader can see in an HDF5 file: every object's name, attributes and
    values (None when the file cannot be read at all)."""
    seen = {}
    try:
        with h5py.File(path, "r") as f:
            seen["/"] = sorted((k, repr(_attr_value(v))) for k, v in f.attrs.items())

            def visit(name, obj):
                attrs = sorted((k, repr(_attr_value(v))) for k, v in obj.attrs.items())
                data = repr(obj[()].tolist()) if isinstance(obj, h5py.Dataset) else None
                seen[name] = (type(obj).__name__, attrs, data)

            f.visititems(visit)
    except Exception:  # noqa: BLE001 - any failure to read counts as "not the same file"
        return None
    return seen


def _attr_value(v):
    return v.tolist() if isinstance(v, np.ndarray) else v


def _tiny(path):
    # no zero byte in any stored value, so every byte that holds content is non-zero
    with PackWriter(path, dataset="d", variant="v", source_digest="s", steps={"k": 1}) as w:
        w.add({"id": "a", "subject": "1", "label": "x"}, {"g/x": np.arange(1, 5, dtype=np.uint8)})
        w.add({"id": "b", "subject": "2", "label": "y"}, {"g/x": np.arange(5, 9, dtype=np.uint8)})
        w.set_attrs("g/x", {"unit": "count"})
        w.finish()


def _content_offsets(data: bytes) -> list[int]:
    """Where the stored values and attributes sit in the file: every occurrence of their
    bytes (array data, sample strings, sha256 hex strings, attribute text)."""
    with h5py.File(io.BytesIO(data), "r") as f:
        needles = [f["g/x"][()].tobytes(), *(str(v).encode() for v in f.attrs.values())]
        needles += [v for v in f["hashes/g:x"][()]] + [b"count", b"label", b"subject"]
        needles += [f[f"samples/{c}"][()].tobytes() for c in f["samples"]]
    offsets = set()
    for needle in filter(None, needles):
        start = data.find(needle)
        while start >= 0:
            offsets.update(range(start, start + len(needle)))
            start = data.find(needle, start + 1)
    return sorted(offsets)


def test_verify_catches_every_byte_flip_that_changes_what_the_pack_holds(tmp_path):
    """Flip bytes of a small pack one at a time: every byte that holds a stored value or
    attribute, and every 41st byte of the rest of the file (HDF5's superblock, object headers,
    B-trees, heaps and free space). Either verify reports a problem (a pack that cannot be
    opened, or that crashes the HDF5 library, is reported too), or the flip changed nothing a
    reader can see: unused space and padding inside HDF5's structures."""
    from emobench.api import verify

    original = tmp_path / "p.h5"
    _tiny(original)
    clean = _dump(original)
    data = original.read_bytes()
    content = _content_offsets(data)
    assert len(content) > 200  # the search found the values it looks for
    offsets = sorted(set(content) | set(range(0, len(data), 41)))
    flipped = tmp_path / "f.h5"
    passed_unchanged = []
    for offset in offsets:
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        flipped.write_bytes(damaged)
        if verify(flipped).problems:
            continue
        assert _dump(flipped) == clean, f"byte {offset}: verify passed a changed pack"
        passed_unchanged.append(offset)
    assert not set(passed_unchanged) & set(content)  # no content byte is ever padding


def test_changing_a_root_or_array_attribute_fails_verify(tmp_path):
    path = tmp_path / "p.h5"
    _tiny(path)
    for where, key, value in (
        ("/", "dataset", "other"),
        ("/", "variant", "v2"),
        ("/", "source_digest", "0" * 8),
        ("/", "steps", '{"k": 2}'),
        ("g/x", "unit", "mm"),
    ):
        copy = tmp_path / f"{key}.h5"
        copy.write_bytes(path.read_bytes())
        with h5py.File(copy, "r+") as f:
            (f if where == "/" else f[where]).attrs[key] = value
        problems = Pack(copy).verify()
        assert problems and "content digest" in problems[-1], key


def test_rows_may_lack_a_group_and_the_mask_is_covered(tmp_path):
    path = tmp_path / "p.h5"
    with PackWriter(path, dataset="d", variant="v", source_digest="", steps={}) as w:
        w.add({"id": "a", "subject": "1"}, {"v/img": np.ones(3), "t/img": np.zeros(2)})
        w.add({"id": "b", "subject": "2"}, {"v/img": np.full(3, 2.0)})
        w.add({"id": "c", "subject": "3"}, {"t/img": np.ones(2)})
        w.finish()
    pack = Pack(path)
    assert pack.present("v").tolist() == [True, True, False]
    assert pack.present("t").tolist() == [True, False, True]
    assert (pack.get("v/img", 1) == 2.0).all() and (pack.get("t/img", 2) == 1.0).all()
    with pytest.raises(PackError, match="sample c has no v data"):
        pack.get("v/img", 2)
    assert pack.info()["present"] == {"t": 2, "v": 2}
    assert pack.verify() == []
    pack.close()
    with h5py.File(path, "r+") as f:
        f["t/present"][1] = True
    assert "content digest" in Pack(path).verify()[-1]


def test_a_group_that_changes_its_arrays_is_refused(tmp_path):
    with (
        pytest.raises(PackError, match="earlier samples had"),
        PackWriter(tmp_path / "p.h5", dataset="d", variant="v", source_digest="", steps={}) as w,
    ):
        w.add({"id": "a", "subject": "1"}, {"v/img": np.ones(3), "v/aux": np.ones(1)})
        w.add({"id": "b", "subject": "2"}, {"v/img": np.ones(3)})


def test_a_second_writer_of_the_same_pack_is_refused(tmp_path):
    from emobench.pack import lock_path

    first = PackWriter(tmp_path / "p.h5", dataset="d", variant="v", source_digest="", steps={})
    with pytest.raises(PackError, match=r"another prepare \(pid \d+\) is writing"):
        PackWriter(tmp_path / "p.h5", dataset="d", variant="v", source_digest="", steps={})
    first.add({"id": "a", "subject": "1"}, {"g/x": np.zeros(2)})
    first.finish()
    assert not lock_path(tmp_path / "p.h5").exists()
    # a lock left by a process that no longer exists is taken over
    lock_path(tmp_path / "p.h5").write_text("999999999")
    w = PackWriter(tmp_path / "p.h5", dataset="d", variant="v", source_digest="", steps={})
    w.abort()


@pytest.mark.parametrize("kind", ["directory", "file-parent", "read-only"])
def test_an_unwritable_out_is_refused_before_any_work(tmp_path, kind):
    import os

    if kind == "directory":
        out = tmp_path / "packs"
        out.mkdir()
        match = "is a directory"
    elif kind == "file-parent":
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "x.h5"
        match = "is a file, not a folder"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o500)
        out = folder / "sub" / "x.h5"
        match = "not writable"
    with pytest.raises(PackError, match=match):
        PackWriter(out, dataset="d", variant="v", source_digest="", steps={})


def test_a_broken_steps_attribute_is_a_named_error(tmp_path):
    from emobench.errors import PackCorrupt

    path = tmp_path / "p.h5"
    _tiny(path)
    with h5py.File(path, "r+") as f:
        f.attrs["steps"] = "{not json"
    with pytest.raises(PackCorrupt, match="'steps' attribute is not valid JSON"):
        Pack(path)


def test_a_structure_verify_did_not_foresee_is_a_problem_not_a_crash(tmp_path):
    """One hash too many (the hash list longer than the table): verify reports it (exit 1)
    instead of raising IndexError through the CLI as bad input."""
    from emobench.api import verify

    path = tmp_path / "p.h5"
    _tiny(path)
    with h5py.File(path, "r+") as f:
        hashes = [*f["hashes/g:x"][()], b"0" * 64]
        del f["hashes/g:x"]
        f.create_dataset(
            "hashes/g:x", data=np.array(hashes, dtype=object), dtype=h5py.string_dtype()
        )
        f["samples/id"].attrs["x"] = 1  # (any further change is caught by the digest too)
    problems = verify(path).problems
    assert problems, "verify passed a pack with an extra hash"


def test_a_pack_records_its_array_hash_and_keeps_no_reserved_space(tmp_path):
    _write(tmp_path / "p.h5")
    pack = Pack(tmp_path / "p.h5")
    assert pack.array_hash == "xxh3-128" == pack.info()["array_hash"]
    st = os.stat(tmp_path / "p.h5")
    assert st.st_blocks * 512 < st.st_size + (1 << 20)  # not the 64 MB reserved while writing


def test_a_pack_from_before_array_hash_holds_sha256_digests_and_still_verifies(tmp_path):
    """Packs written before 2026-12-02 have no ``array_hash`` attribute and sha256 digests."""
    path = tmp_path / "old.h5"
    frames = np.full((2, 4, 4, 3), 7, np.uint8)
    with PackWriter(
        path, dataset="demo", variant="v", source_digest="", steps={}, array_hash="sha256"
    ) as w:
        w.add({"id": "s0", "subject": "1"}, {"face/frames": frames})
        w.finish()
    before = Pack(path)
    table, hashes, present = (
        before.samples,
        before.stored_hashes(),
        {"face": before.present("face")},
    )
    before.close()
    assert hashes == {"face/frames": [array_digest(frames, "sha256")]}
    with h5py.File(path, "r+") as f:  # what an old pack holds: schema 2, no attribute
        del f.attrs["array_hash"]
        f.attrs["schema_version"] = 2
        f.attrs["content_digest"] = content_digest(table, hashes, present, _all_attrs(f))
    pack = Pack(path)
    assert pack.array_hash == "sha256"
    assert pack.verify() == []
    assert (pack.get_verified("face/frames", 0) == 7).all()
    pack.close()
    with h5py.File(path, "r+") as f:
        f["face/frames"][0, 0, 0, 0, 0] = 8
    assert Pack(path).verify() == ["face/frames sample s0: sha256 digest mismatch"]


def test_an_unknown_array_hash_is_refused_naming_the_pack(tmp_path):
    _write(tmp_path / "p.h5")
    with h5py.File(tmp_path / "p.h5", "r+") as f:
        f.attrs["array_hash"] = "crc32"
    with pytest.raises(PackError, match=r"p\.h5: array hash 'crc32' is not one emobench knows"):
        Pack(tmp_path / "p.h5")


def test_a_schema_3_pack_without_its_array_hash_is_corrupt_and_unknown_schemas_refused(tmp_path):
    _write(tmp_path / "p.h5")
    with h5py.File(tmp_path / "p.h5", "r+") as f:
        del f.attrs["array_hash"]
    with pytest.raises(PackCorrupt, match=r"p\.h5: the root attribute array_hash is missing"):
        Pack(tmp_path / "p.h5")
    with h5py.File(tmp_path / "p.h5", "r+") as f:
        f.attrs["schema_version"] = 4
    with pytest.raises(
        PackError, match=r"schema_version 4 is not one this emobench reads \(2, 3\)"
    ):
        Pack(tmp_path / "p.h5")
